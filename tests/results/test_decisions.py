"""Recording decisions: the staff page with the proposal, a decision per application (with and
without JavaScript), its bad inputs, changes while the committee is a draft, the lock once it
is submitted, applying the proposal, and the page's fixed number of queries."""

# ruff: noqa: F811 — the fixtures imported from decision_support are used as arguments
from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import insert, select

from bench.ranking import populate
from portal.applications.models import Application
from portal.extensions import db
from portal.results import decisions
from portal.results.models import Committee, CommitteeStatus, Decision, Outcome
from portal.strategy.models import FundingPartner
from tests import factories
from tests.conftest import shown
from tests.results.decision_support import (  # noqa: F401 — fixtures
    call,
    decision_fields,
    events,
    money,
    reviewed,
    staff,
    written,
)


def post_decision(client, call, application, *, htmx=False, **values):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        url_for("results.record_decision", call_id=call.id, application_id=application.id),
        data=decision_fields(application, **values),
        headers=headers,
    )


# --- the page -------------------------------------------------------------------------------


def test_staff_see_the_ranking_per_lot_with_the_proposal_and_the_envelopes(call, staff):
    client, _ = staff
    best = reviewed(call, 9)
    second = reviewed(call, 7)

    response = client.get(url_for("results.decisions_page", call_id=call.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.index(f'id="decision-{best.id}"') < page.index(f'id="decision-{second.id}"')
    assert shown("Left in the lot") in page
    assert money(500_000) in page  # the lot's envelope, nothing awarded yet
    assert money(200_000) in page  # both proposed
    assert url_for("results.apply_proposal", call_id=call.id) in page


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_only_staff_open_the_decisions_page(call, login_as, roles):
    client, _ = login_as(*roles)

    response = client.get(url_for("results.decisions_page", call_id=call.id))

    assert response.status_code == 403


def test_an_unknown_call_is_not_found(staff):
    client, _ = staff

    assert client.get(url_for("results.decisions_page", call_id=999_999)).status_code == 404


# --- recording ------------------------------------------------------------------------------


def test_a_funded_decision_is_recorded_with_its_proposal_and_audited(call, staff):
    client, user = staff
    application = reviewed(call, 8)

    response = post_decision(client, call, application, amount_awarded="100000")

    assert response.status_code == 303
    decision = decisions.current_decision(db.session, application.id)
    assert decision.outcome == Outcome.FUNDED
    assert decision.amount_awarded == 100_000
    assert decision.proposed_outcome == Outcome.FUNDED
    assert decision.gender_marker == 1
    assert decision.created_by_id == user.id
    assert db.session.scalar(select(Committee.status)) == CommitteeStatus.DRAFT
    (event,) = events("results.decided")
    assert event.details["after"]["amount_awarded"] == 100_000


def test_htmx_gets_the_card_and_the_new_totals(call, staff):
    client, _ = staff
    application = reviewed(call, 8)

    response = post_decision(client, call, application, htmx=True, amount_awarded="100000")

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<li class="card" id="decision-{application.id}">')
    assert "<html" not in body
    assert f'id="lot-totals-{call.lots[0].id}" hx-swap-oob="true"' in body
    assert 'id="call-totals" hx-swap-oob="true"' in body
    assert money(400_000) in body  # left in the lot
    assert shown("The decision is recorded.") in body


def test_co_funding_partners_are_kept_with_their_share(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    partner = db.session.scalar(select(FundingPartner).order_by(FundingPartner.code))

    post_decision(
        client, call, application, amount_awarded="100000", **{f"share_{partner.id}": "40"}
    )

    (funder,) = decisions.current_decision(db.session, application.id).funders
    assert (funder.partner_id, funder.share_percent) == (partner.id, 40)


def test_a_reserve_and_a_rejection_carry_no_amount(call, staff):
    client, _ = staff
    first, second = reviewed(call, 8), reviewed(call, 7)

    post_decision(
        client, call, first, outcome="reserve", reserve_rank="1", deviation_reason="Priorités"
    )
    post_decision(
        client, call, second, outcome="rejected", amount_awarded="1000", deviation_reason="Doublon"
    )

    reserve = decisions.current_decision(db.session, first.id)
    rejected = decisions.current_decision(db.session, second.id)
    assert (reserve.outcome, reserve.reserve_rank, reserve.amount_awarded) == (
        Outcome.RESERVE,
        1,
        None,
    )
    assert (rejected.outcome, rejected.amount_awarded) == (Outcome.REJECTED, None)


# --- bad inputs -----------------------------------------------------------------------------


def test_an_award_above_the_amount_asked_is_refused_and_nothing_is_written(call, staff):
    client, _ = staff
    application = reviewed(call, 8, asked=100_000)
    before = written()

    response = post_decision(
        client, call, application, amount_awarded="120000", deviation_reason="x"
    )

    assert response.status_code == 422
    message = "The award cannot be more than the amount asked (%(requested)s)."
    assert shown(message, requested=money(100_000)) in response.get_data(as_text=True)
    assert written()[0] == before[0] and written()[2] == before[2]


@pytest.mark.parametrize("amount", ["40000", "0"])
def test_an_award_outside_the_calls_limits_is_refused(call, staff, amount):
    client, _ = staff
    application = reviewed(call, 8, asked=100_000)

    response = post_decision(
        client, call, application, htmx=True, amount_awarded=amount, deviation_reason="x"
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert (
        shown(
            "The award must be between %(min)s and %(max)s, the call's limits.",
            min=money(50_000),
            max=money(300_000),
        )
        in body
        or shown("Enter the amount awarded, a whole number of dirhams.") in body
        or shown("Enter a number from %(min)s to %(max)s.", min=1, max=10**12) in body
    )
    assert db.session.scalar(select(Decision.id)) is None


def test_an_award_above_the_calls_maximum_is_refused(call, staff):
    client, _ = staff
    application = reviewed(call, 8, asked=400_000)

    response = post_decision(client, call, application, amount_awarded="350000")

    assert response.status_code == 422
    assert shown(
        "The award must be between %(min)s and %(max)s, the call's limits.",
        min=money(50_000),
        max=money(300_000),
    ) in response.get_data(as_text=True)
    assert db.session.scalar(select(Decision.id)) is None


def test_funding_an_application_below_threshold_is_refused(call, staff):
    client, _ = staff
    call.overall_minimum = 50
    db.session.commit()
    application = reviewed(call, 3)  # 30 on 100

    response = post_decision(
        client, call, application, amount_awarded="100000", deviation_reason="x"
    )

    assert response.status_code == 422
    assert shown(
        "This application cannot be funded: it is not reviewed or it is below a threshold of "
        "the call."
    ) in response.get_data(as_text=True)
    assert db.session.scalar(select(Decision.id)) is None


def test_departing_from_the_proposal_needs_a_reason(call, staff):
    client, _ = staff
    application = reviewed(call, 8)  # proposed for funding

    refused = post_decision(client, call, application, outcome="rejected")
    accepted = post_decision(
        client, call, application, outcome="rejected", deviation_reason="Activités hors champ"
    )

    assert refused.status_code == 422
    assert shown("This decision departs from the proposal: give the reason.") in (
        refused.get_data(as_text=True)
    )
    assert accepted.status_code == 303
    decision = decisions.current_decision(db.session, application.id)
    assert decision.proposed_outcome == Outcome.FUNDED
    assert decision.deviation_reason == "Activités hors champ"


def test_a_lower_award_than_proposed_is_a_departure_too(call, staff):
    client, _ = staff
    application = reviewed(call, 8, asked=100_000)

    response = post_decision(client, call, application, amount_awarded="80000")

    assert response.status_code == 422
    assert db.session.scalar(select(Decision.id)) is None


def test_a_decision_without_any_motivation_is_refused(call, staff):
    client, _ = staff
    application = reviewed(call, 8)

    response = post_decision(
        client, call, application, amount_awarded="100000", motivation_ar="", motivation_fr=""
    )

    assert response.status_code == 422
    assert shown("Write the motivation in Arabic, in French or in both.") in (
        response.get_data(as_text=True)
    )
    assert db.session.scalar(select(Decision.id)) is None


def test_a_funded_decision_needs_the_gender_marker_confirmed(call, staff):
    client, _ = staff
    application = reviewed(call, 8)

    response = post_decision(client, call, application, amount_awarded="100000", gender_marker="")

    assert response.status_code == 422
    assert shown("Confirm the gender marker of the funded application.") in (
        response.get_data(as_text=True)
    )


def test_an_unknown_outcome_or_an_application_of_another_call_is_refused(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    other = factories.submitted_application(factories.closed_call())

    unknown = post_decision(client, call, application, outcome="maybe")
    elsewhere = post_decision(client, call, other, amount_awarded="100000")

    assert unknown.status_code == 422
    assert elsewhere.status_code == 404
    assert db.session.scalar(select(Decision.id)) is None


def test_a_reserve_position_already_given_in_the_lot_is_refused(call, staff):
    client, _ = staff
    first, second = reviewed(call, 8), reviewed(call, 7)
    post_decision(client, call, first, outcome="reserve", reserve_rank="1", deviation_reason="x")

    response = post_decision(
        client, call, second, outcome="reserve", reserve_rank="1", deviation_reason="x"
    )

    assert response.status_code == 422
    assert shown("Reserve position %(n)d is already given in this lot.", n=1) in (
        response.get_data(as_text=True)
    )


# --- changing, and the lock -----------------------------------------------------------------


def test_while_the_committee_is_a_draft_a_decision_is_changed_in_place_and_audited(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    post_decision(client, call, application, amount_awarded="100000")
    first = decisions.current_decision(db.session, application.id)

    post_decision(client, call, application, outcome="rejected", deviation_reason="Doublon")

    db.session.expire_all()
    assert db.session.scalars(select(Decision)).all() == [first]
    assert first.outcome == Outcome.REJECTED
    (change,) = events("results.decision_changed")
    assert change.details["before"]["outcome"] == "funded"
    assert change.details["after"]["outcome"] == "rejected"


@pytest.mark.parametrize("status", ["submitted", "approved", "published"])
def test_once_submitted_a_decision_cannot_be_edited(call, staff, status):
    client, _ = staff
    application = reviewed(call, 8)
    made = factories.decision(application, "funded")
    made.committee.status = CommitteeStatus(status)
    db.session.commit()
    before = written()

    response = post_decision(client, call, application, outcome="rejected", deviation_reason="x")

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert (
        shown(
            "The committee's decisions were submitted for approval: they can no longer be "
            "changed. Once approved, a decision is changed by a correction."
        )
        in body
    )
    db.session.expire_all()
    assert db.session.get(Decision, made.id).outcome == Outcome.FUNDED
    assert written() == before


def test_the_page_offers_no_form_once_submitted(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    factories.decision(application, "funded").committee.status = CommitteeStatus.SUBMITTED
    db.session.commit()

    page = client.get(url_for("results.decisions_page", call_id=call.id)).get_data(as_text=True)

    assert (
        url_for("results.record_decision", call_id=call.id, application_id=application.id)
        not in page
    )


# --- the proposal applied -------------------------------------------------------------------


def test_applying_the_proposal_decides_every_reviewed_application_left(call, staff):
    client, _ = staff
    call.lots[0].budget = 200_000
    call.overall_minimum = 50
    db.session.commit()
    first, second, third, low = (reviewed(call, s) for s in (9, 8, 7, 3))
    post_decision(client, call, first, amount_awarded="100000")

    response = client.post(url_for("results.apply_proposal", call_id=call.id))

    assert response.status_code == 303
    current = decisions.current_decisions(db.session, call.id)
    assert current[second.id].outcome == Outcome.FUNDED
    assert current[third.id].outcome == Outcome.RESERVE
    assert current[third.id].reserve_rank == 1
    assert current[low.id].outcome == Outcome.REJECTED
    applied = [current[second.id], current[third.id], current[low.id]]
    assert all(d.motivation_ar and d.motivation_fr for d in applied)
    (event,) = events("results.proposal_applied")
    assert event.details["recorded"] == 3


def test_a_proposed_award_that_no_longer_fits_is_left_undecided(call, staff):
    client, _ = staff
    call.lots[0].budget = 200_000
    db.session.commit()
    first, second = reviewed(call, 9), reviewed(call, 8)
    third = reviewed(call, 7, asked=200_000)
    # Staff fund the third instead of the second: the second's proposed award no longer fits.
    post_decision(client, call, third, amount_awarded="100000", deviation_reason="Priorité")

    client.post(url_for("results.apply_proposal", call_id=call.id))

    current = decisions.current_decisions(db.session, call.id)
    assert current[first.id].outcome == Outcome.FUNDED
    assert second.id not in current


# --- speed ----------------------------------------------------------------------------------


def _queries(count_queries, client, url: str) -> int:
    client.get(url)
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


def _decide_all(call, user) -> None:
    sitting = db.session.scalar(select(Committee).where(Committee.call_id == call.id))
    if sitting is None:
        sitting = factories.committee(call)
    decided = select(Decision.application_id)
    ids = db.session.scalars(
        select(Application.id).where(Application.call_id == call.id, Application.id.not_in(decided))
    ).all()
    db.session.execute(
        insert(Decision),
        [
            {
                "application_id": app_id,
                "call_id": call.id,
                "lot_id": call.lots[0].id,
                "committee_id": sitting.id,
                "outcome": Outcome.RESERVE,
                "reserve_rank": position,
                "motivation_ar": "تعليل",
                "created_by_id": user.id,
            }
            for position, app_id in enumerate(ids, start=1 + len(ids) * 1000)
        ],
    )
    db.session.commit()


def test_the_decisions_page_runs_the_same_queries_for_10_and_60_applications(
    call, staff, count_queries
):
    client, user = staff
    url = url_for("results.decisions_page", call_id=call.id)
    populate(db.session, call, 10, evaluators=6)
    db.session.commit()
    _decide_all(call, user)
    with_ten = _queries(count_queries, client, url)
    populate(db.session, call, 50, evaluators=6)
    db.session.commit()
    _decide_all(call, user)
    with_sixty = _queries(count_queries, client, url)

    assert with_ten == with_sixty, (with_ten, with_sixty)
    assert with_sixty <= 14, with_sixty
