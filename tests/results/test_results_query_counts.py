"""The public results page, the open-data export and the staff axis dashboard run the same fixed
number of SQL queries with 10 and with 2,000 funded actions (issue 6, "Speed").

The 2,000 awards are written in bulk (one INSERT … VALUES per table) rather than through the
factories, which would take minutes: every association with its owner's membership, its
application (two regions, one or two axes, a budget line), its current funded decision in the
call's published committee (a third co-funded by a partner), and its funded action with its
links to axes, action-plan projects, SDGs and UN mechanisms, a tranche paid and an accepted
report.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from flask import url_for
from sqlalchemy import insert, select

from portal.actions.kept_figures import actions_changed
from portal.actions.models import (
    ActionStatus,
    FundedAction,
    ProgressReport,
    ReportStatus,
    Tranche,
    action_axis,
    action_plan_project,
    action_sdg,
    action_un_mechanism,
)
from portal.applications.models import (
    Application,
    ApplicationStatus,
    BudgetLine,
    application_axis,
)
from portal.calls.models import Lot
from portal.db import utcnow
from portal.extensions import db
from portal.kept import Kept
from portal.organisations.models import (
    Association,
    AssociationStatus,
    MemberRole,
    Membership,
)
from portal.results.kept_results import results_changed
from portal.results.models import Decision, DecisionFunder, Outcome
from portal.results.public_views import AWARDS_PAGE_SIZE
from portal.strategy.models import (
    FundingPartner,
    PlanProject,
    Region,
    Sdg,
    StrategicAxis,
    UnMechanism,
)
from tests import factories

FEW, MANY = 10, 2_000
REGIONS = ("rabat-sale-kenitra", "oriental", "souss-massa")


def _ids(model, rows: list[dict]) -> list[int]:
    """Insert `rows` in one statement; return their ids in the order given."""
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(statement, rows))


def _link(table, rows: list[dict]) -> None:
    if rows:
        db.session.execute(insert(table), rows)


class Awards:
    """A closed call with two lots and its published committee, to which funded awards (and
    their funded actions) are added in bulk."""

    def __init__(self):
        self.call = factories.closed_call()
        self.call.lots.append(
            Lot(
                position=2,
                title_ar="النساء والمساواة",
                title_fr="Femmes et égalité",
                budget=300_000_000,
            )
        )
        db.session.commit()
        self.lots = [lot.id for lot in self.call.lots]
        self.committee = factories.committee(
            self.call, status="published", published_at=utcnow(), held_on=date(2026, 5, 4)
        )
        self.staff = factories.UserFactory(roles=("staff",)).id
        self.owner = factories.UserFactory().id
        self.axes = list(db.session.scalars(select(StrategicAxis.id).order_by("number")))
        self.projects = list(db.session.scalars(select(PlanProject.id).order_by("number")))
        self.sdgs = list(db.session.scalars(select(Sdg.id).order_by("number")))
        self.mechanisms = list(db.session.scalars(select(UnMechanism.id)))
        self.partner = db.session.scalar(
            select(FundingPartner.id).where(FundingPartner.code == "UNFPA")
        )
        self.region = db.session.scalar(select(Region.id).where(Region.code == REGIONS[0]))
        self.count = 0

    def add(self, how_many: int) -> None:
        numbers = range(self.count, self.count + how_many)
        self.count += how_many
        now = utcnow()
        key = f"{self.call.id}-"
        associations = _ids(
            Association,
            [
                {
                    "name_ar": f"جمعية ممولة {n}",
                    "name_fr": f"Association financée {n}",
                    "legal_form": "association",
                    "registration_number": f"BULK-{key}{n:06d}",
                    "founded_on": date(2015, 1, 1),
                    "region_id": self.region,
                    "city": "Rabat",
                    "email": f"bulk-{key}{n}@example.org",
                    "status": AssociationStatus.VERIFIED,
                }
                for n in numbers
            ],
        )
        _link(
            Membership,
            [
                {"association_id": a, "user_id": self.owner, "role": MemberRole.OWNER}
                for a in associations
            ],
        )
        lots = [self.lots[n % len(self.lots)] for n in numbers]
        regions = [[REGIONS[n % 3], REGIONS[(n + 1) % 3]] for n in numbers]
        amounts = [50_000 + n for n in numbers]
        applications = _ids(
            Application,
            [
                {
                    "call_id": self.call.id,
                    "association_id": association,
                    "lot_id": lot,
                    "status": ApplicationStatus.SUBMITTED,
                    "title_ar": f"مشروع ممول {n}",
                    "title_fr": f"Projet financé {n}",
                    "regions": places,
                    "beneficiaries": {"women_18_35": 30, "men_18_35": 20},
                    "gender_marker": n % 3,
                    "created_by_id": self.owner,
                    "submitted_at": now,
                }
                for n, association, lot, places in zip(
                    numbers, associations, lots, regions, strict=True
                )
            ],
        )
        axes = {
            application: self.axes[n % len(self.axes) : n % len(self.axes) + 2]
            for n, application in zip(numbers, applications, strict=True)
        }
        _link(
            application_axis,
            [{"application_id": a, "axis_id": axis} for a, ids in axes.items() for axis in ids],
        )
        _link(
            BudgetLine,
            [
                {
                    "application_id": a,
                    "category": "activities",
                    "description": "Ateliers",
                    "quantity": 1,
                    "unit_cost": amount,
                }
                for a, amount in zip(applications, amounts, strict=True)
            ],
        )
        decisions = _ids(
            Decision,
            [
                {
                    "application_id": a,
                    "call_id": self.call.id,
                    "lot_id": lot,
                    "committee_id": self.committee.id,
                    "outcome": Outcome.FUNDED,
                    "amount_awarded": amount,
                    "gender_marker": n % 3,
                    "created_by_id": self.staff,
                    "created_at": now,
                    "notified_at": now,
                }
                for n, a, lot, amount in zip(numbers, applications, lots, amounts, strict=True)
            ],
        )
        _link(
            DecisionFunder,
            [
                {"decision_id": d, "partner_id": self.partner, "share_percent": 30}
                for n, d in zip(numbers, decisions, strict=True)
                if n % 3 == 0
            ],
        )
        actions = _ids(
            FundedAction,
            [
                {
                    "application_id": a,
                    "decision_id": d,
                    "call_id": self.call.id,
                    "lot_id": lot,
                    "association_id": association,
                    "agreement_reference": f"AGR-{key}{n:06d}",
                    "starts_on": date(2026, 6, 1),
                    "ends_on": date(2027, 5, 31),
                    "amount_awarded": amount,
                    "status": ActionStatus.IN_PROGRESS,
                    "progress_percent": n % 101,
                    "beneficiaries_planned": {"women_18_35": 30, "men_18_35": 20},
                    "regions": places,
                    "gender_marker": n % 3,
                }
                for n, a, d, lot, association, amount, places in zip(
                    numbers,
                    applications,
                    decisions,
                    lots,
                    associations,
                    amounts,
                    regions,
                    strict=True,
                )
            ],
        )
        _link(
            action_axis,
            [
                {"action_id": action, "axis_id": axis}
                for action, ids in zip(actions, axes.values(), strict=True)
                for axis in ids
            ],
        )
        _link(
            action_plan_project,
            [
                {"action_id": action, "plan_project_id": self.projects[n % len(self.projects)]}
                for n, action in zip(numbers, actions, strict=True)
            ],
        )
        _link(
            action_sdg,
            [
                {"action_id": action, "sdg_id": self.sdgs[n % len(self.sdgs)]}
                for n, action in zip(numbers, actions, strict=True)
            ],
        )
        _link(
            action_un_mechanism,
            [
                {"action_id": action, "un_mechanism_id": self.mechanisms[n % len(self.mechanisms)]}
                for n, action in zip(numbers, actions, strict=True)
            ],
        )
        _link(
            Tranche,
            [
                {
                    "action_id": action,
                    "position": 1,
                    "planned_on": date(2026, 6, 15),
                    "amount": amount // 2,
                    "paid_on": date(2026, 6, 15),
                    "paid_amount": amount // 2,
                }
                for action, amount in zip(actions, amounts, strict=True)
            ],
        )
        _link(
            ProgressReport,
            [
                {
                    "action_id": action,
                    "due_on": date(2026, 12, 1),
                    "status": ReportStatus.ACCEPTED,
                    "beneficiaries_reached": {"women_18_35": 12, "men_18_35": 8},
                    "progress_percent": n % 101,
                }
                for n, action in zip(numbers, actions, strict=True)
            ],
        )
        # Bulk inserts bypass the flush that records a change to the kept figures.
        actions_changed(db.session)
        results_changed(db.session)
        db.session.commit()
        db.session.expire_all()  # the requests read everything afresh from the database


@pytest.fixture
def awards(app):
    return Awards()


def _queries(count_queries, client, url: str, check=None) -> int:
    """Count the queries of a request (after a warm-up), its body read to the end; figures
    kept by the warm-up are dropped, so that it counts computing them."""
    client.get(url).get_data()  # the first request of a client loads its session and locale
    Kept.forget_all()
    with count_queries() as counter:
        response = client.get(url)
        body = response.get_data(as_text=True)
    assert response.status_code == 200
    if check:
        check(body)
    return counter.count


def test_the_public_results_page_runs_the_same_queries_for_10_and_2000_awards(
    awards, client, count_queries
):
    url = url_for("results.public_call", code=awards.call.code)
    awards.add(FEW)
    with_few = _queries(count_queries, client, url)
    awards.add(MANY - FEW)

    def shows_one_page_of_awards(page: str) -> None:
        assert page.count('id="award-') == AWARDS_PAGE_SIZE
        assert f"<dd>{MANY}</dd>" in page  # the count is of every award, not of the page

    with_many = _queries(count_queries, client, url, shows_one_page_of_awards)
    last_page = _queries(
        count_queries,
        client,
        url_for("results.public_call", code=awards.call.code, page=MANY // AWARDS_PAGE_SIZE),
    )

    assert with_few == with_many == last_page, (with_few, with_many, last_page)
    assert with_many <= 10, with_many


def test_the_open_data_runs_the_same_queries_for_10_and_2000_awards(awards, client, count_queries):
    csv_url = url_for("results.open_data_call", code=awards.call.code, fmt="csv")
    json_url = url_for("results.open_data_call", code=awards.call.code, fmt="json")
    awards.add(FEW)
    few = [_queries(count_queries, client, url) for url in (csv_url, json_url)]
    awards.add(MANY - FEW)

    def csv_has_every_award(body: str) -> None:
        assert len(body.strip().splitlines()) == MANY + 1  # the header row and one per award

    def json_has_every_award(body: str) -> None:
        assert len(json.loads(body)["grants"]) == MANY

    many = [
        _queries(count_queries, client, csv_url, csv_has_every_award),
        _queries(count_queries, client, json_url, json_has_every_award),
    ]

    assert few == many, (few, many)
    assert max(many) <= 8, many


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
def test_the_axis_dashboard_runs_the_same_queries_for_10_and_2000_actions(
    awards, login_as, count_queries, filtered
):
    from portal.actions.dashboards import DashboardFilters, dashboard, load_reference

    client, _staff = login_as("staff")
    arguments = {"call": awards.call.id, "year": utcnow().year} if filtered else {}
    url = url_for("actions.dashboards", **arguments)
    awards.add(FEW)
    with_few = _queries(count_queries, client, url)
    awards.add(MANY - FEW)
    with_many = _queries(count_queries, client, url)

    assert with_few == with_many, (with_few, with_many)
    assert with_many <= 11, with_many  # 10, and the token of the kept figures
    filters = DashboardFilters()
    figures = dashboard(db.session, filters, load_reference(db.session, filters))
    assert figures.total.actions == MANY
    assert figures.total.paid == sum((50_000 + n) // 2 for n in range(MANY))
