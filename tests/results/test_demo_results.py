"""The demo's 2025 call with published results: created once by seed-demo, seven funded actions
within the lots' envelopes, reserves and rejections, a four-eyes committee published in 2025,
tranches and reports under way, partners and gender markers spread, and one funded action for
the demo applicant's association; the dashboards show its figures."""

from __future__ import annotations

from collections import Counter
from datetime import date

from flask import url_for
from sqlalchemy import func, select

from portal.actions.dashboards import DashboardFilters, dashboard, load_reference
from portal.actions.models import FundedAction, ProgressReport, ReportStatus, Tranche
from portal.applications.models import Application, ApplicationStatus
from portal.calls.models import Call
from portal.db import utcnow
from portal.extensions import db
from portal.organisations.models import Association
from portal.results.demo import APPLICANT_ASSOCIATION, CODE
from portal.results.models import Committee, CommitteeStatus, Decision, DecisionFunder, Outcome
from portal.review.models import Review, Screening, ScreeningDecision
from portal.timeutil import to_local
from tests.conftest import sign_in


def seed(app) -> str:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def demo_call() -> Call:
    return db.session.scalars(select(Call).where(Call.code == CODE)).one()


def counts() -> dict:
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Call, Application, Decision, FundedAction, Tranche, ProgressReport, Review)
    }


def test_seed_demo_publishes_the_2025_results_once(app):
    first = seed(app)
    after_first = counts()
    second = seed(app)

    assert "Demo results 2025 published: 7 funded actions." in first
    assert "Demo results 2025 published" not in second
    assert counts() == after_first
    assert db.session.scalar(select(func.count()).where(Call.code == CODE)) == 1


def test_the_2025_call_has_twelve_screened_reviewed_applications_and_their_decisions(app):
    seed(app)
    call = demo_call()
    applications = list(
        db.session.scalars(select(Application).where(Application.call_id == call.id))
    )
    screenings = list(db.session.scalars(select(Screening).where(Screening.call_id == call.id)))
    decisions = list(db.session.scalars(select(Decision).where(Decision.call_id == call.id)))

    assert to_local(call.closes_at).year == 2025 and call.closes_at < utcnow()
    assert len(call.lots) == 2
    assert len(applications) == 12
    assert {a.status for a in applications} == {ApplicationStatus.SUBMITTED}
    assert all(len(a.submissions) == 1 for a in applications)
    assert len({a.association_id for a in applications}) == 12
    assert {s.decision for s in screenings} == {ScreeningDecision.ELIGIBLE}
    assert len(screenings) == 12
    outcomes = Counter(d.outcome for d in decisions)
    assert outcomes == {Outcome.FUNDED: 7, Outcome.RESERVE: 2, Outcome.REJECTED: 3}
    assert sorted(d.reserve_rank for d in decisions if d.outcome == Outcome.RESERVE) == [1, 2]


def test_the_committee_was_approved_by_a_second_staff_member_and_published_in_2025(app):
    seed(app)
    committee = db.session.scalars(
        select(Committee).where(Committee.call_id == demo_call().id)
    ).one()

    assert committee.status == CommitteeStatus.PUBLISHED
    assert committee.approved_by_id != committee.submitted_by_id
    assert committee.submitted_at < committee.approved_at < committee.published_at
    assert to_local(committee.published_at).year == 2025


def test_the_awards_stay_within_the_lots_and_call_envelopes_and_the_limits(app):
    seed(app)
    call = demo_call()
    funded = [
        d
        for d in db.session.scalars(select(Decision).where(Decision.call_id == call.id))
        if d.outcome == Outcome.FUNDED
    ]
    by_lot = Counter()
    for made in funded:
        by_lot[made.lot_id] += made.amount_awarded
        assert call.min_amount <= made.amount_awarded <= call.max_amount

    for lot in call.lots:
        assert by_lot[lot.id] <= lot.budget
    assert sum(by_lot.values()) <= call.budget_total


def test_each_award_became_a_funded_action_with_tranches_and_reports(app):
    seed(app)
    actions = list(
        db.session.scalars(select(FundedAction).where(FundedAction.call_id == demo_call().id))
    )
    today = date.today()

    assert len(actions) == 7
    for action in actions:
        assert action.amount_awarded == action.decision.amount_awarded
        assert sum(t.amount for t in action.tranches) == action.amount_awarded
        assert sum(t.paid_amount or 0 for t in action.tranches) <= action.amount_awarded
        assert any(t.paid_amount for t in action.tranches)
        assert action.axes
    reports = [report for action in actions for report in action.reports]
    accepted = [r for r in reports if r.status == ReportStatus.ACCEPTED]
    assert len(accepted) >= 5 and all(r.beneficiaries_reached for r in accepted)
    due = [r for r in reports if r.status == ReportStatus.DUE and not r.final]
    assert any(r.due_on < today for r in due)  # one overdue
    assert any(today <= r.due_on <= date.fromordinal(today.toordinal() + 14) for r in due)
    assert {a.gender_marker for a in actions} == {0, 1, 2}


def test_some_awards_are_co_funded_by_unfpa_and_un_women(app):
    seed(app)
    funders = list(
        db.session.scalars(
            select(DecisionFunder).join(Decision).where(Decision.call_id == demo_call().id)
        )
    )

    assert {funder.partner.code for funder in funders} == {"UNFPA", "UN-WOMEN"}


def test_the_demo_applicant_association_has_one_funded_action(app):
    seed(app)
    association = db.session.scalars(
        select(Association).where(Association.registration_number == APPLICANT_ASSOCIATION)
    ).one()

    actions = list(
        db.session.scalars(
            select(FundedAction).where(FundedAction.association_id == association.id)
        )
    )

    assert len(actions) == 1


def test_the_dashboards_show_the_demo_year_with_consistent_totals(app):
    seed(app)
    filters = DashboardFilters(year=2025)
    figures = dashboard(db.session, filters, load_reference(db.session, filters))
    call = demo_call()

    assert figures.total.actions == 7
    assert figures.total.awarded <= call.budget_total
    assert 0 < figures.total.paid <= figures.total.awarded
    assert figures.total.reached_total > 0
    assert 0 < figures.total.progress <= 100
    assert sum(item.amount for item in figures.by_funder) == figures.total.awarded
    assert sum(item.amount for item in figures.by_gender_marker) == figures.total.awarded


def test_demo_staff_open_the_dashboards_of_2025(app):
    from portal.accounts.models import User

    seed(app)
    staff = db.session.scalars(select(User).where(User.email == "staff@demo.shiraka.ma")).one()
    client = sign_in(app.test_client(), staff)

    response = client.get(url_for("actions.dashboards", year=2025))

    assert response.status_code == 200
    assert CODE in response.get_data(as_text=True)
