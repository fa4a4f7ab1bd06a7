"""Envelopes: the funding proposal per lot and call, the running totals, and awards refused with
the amount left when they would take a lot or the call over its envelope."""

# ruff: noqa: F811 — the fixtures imported from decision_support are used as arguments
from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from portal.extensions import db
from portal.results import decisions
from portal.results.models import Outcome
from portal.review.ranking import rank_call
from tests import factories
from tests.conftest import shown
from tests.results.decision_support import (  # noqa: F401 — fixtures
    call,
    decision_fields,
    money,
    reviewed,
    staff,
    written,
)


def proposal_of(call):
    ranking = rank_call(db.session, call)
    return decisions.propose(call, ranking, decisions.requested_amounts(db.session, call.id))


def test_the_proposal_funds_in_rank_order_until_the_lot_is_used_up_then_reserves(call):
    call.lots[0].budget = 250_000
    call.overall_minimum = 50
    db.session.commit()
    apps = [reviewed(call, score) for score in (9, 8, 7, 6, 3)]

    proposal = proposal_of(call)

    assert [proposal[a.id].outcome for a in apps] == [
        Outcome.FUNDED,
        Outcome.FUNDED,
        Outcome.RESERVE,
        Outcome.RESERVE,
        Outcome.REJECTED,
    ]
    assert proposal[apps[0].id].amount == 100_000
    assert [proposal[a.id].reserve_rank for a in apps[2:4]] == [1, 2]


def test_a_smaller_application_lower_down_does_not_jump_the_reserve_line(call):
    call.lots[0].budget = 250_000
    db.session.commit()
    first, second = reviewed(call, 9, asked=200_000), reviewed(call, 8, asked=100_000)
    third = reviewed(call, 7, asked=50_000)

    proposal = proposal_of(call)

    assert proposal[first.id].outcome == Outcome.FUNDED
    assert proposal[second.id].outcome == Outcome.RESERVE
    assert proposal[third.id].outcome == Outcome.RESERVE


def test_the_calls_envelope_caps_the_lots(call):
    call.budget_total = 150_000
    db.session.commit()
    first, second = reviewed(call, 9), reviewed(call, 8)

    proposal = proposal_of(call)

    assert proposal[first.id].outcome == Outcome.FUNDED
    assert proposal[second.id].outcome == Outcome.RESERVE


def test_the_proposal_awards_at_most_the_calls_maximum(call):
    application = reviewed(call, 9, asked=400_000)

    assert proposal_of(call)[application.id].amount == 300_000


def test_an_unreviewed_application_gets_no_proposal(call):
    from portal.review.models import Screening, ScreeningDecision

    application = factories.submitted_application(call)
    db.session.add(
        Screening(
            application_id=application.id, call_id=call.id, decision=ScreeningDecision.ELIGIBLE
        )
    )
    db.session.commit()

    assert application.id not in proposal_of(call)


def test_funded_totals_count_only_current_funded_decisions(call):
    first, second, third = reviewed(call, 9), reviewed(call, 8), reviewed(call, 7)
    factories.decision(first, "funded", amount_awarded=90_000)
    factories.decision(second, "reserve")
    old = factories.decision(third, "funded", amount_awarded=70_000)
    old.superseded_at = old.created_at
    db.session.commit()

    totals = decisions.funded_totals(db.session, call)

    assert totals.call == 90_000
    assert totals.lot(call.lots[0].id) == 90_000


def test_an_award_over_the_lots_envelope_is_refused_with_the_amount_left(call, staff):
    client, _ = staff
    call.lots[0].budget = 250_000
    db.session.commit()
    first, second, third = reviewed(call, 9), reviewed(call, 8), reviewed(call, 7)
    for application in (first, second):
        factories.decision(application, "funded", amount_awarded=100_000)
    before = written()

    response = client.post(
        url_for("results.record_decision", call_id=call.id, application_id=third.id),
        data=decision_fields(third, amount_awarded="100000", deviation_reason="Priorité"),
    )

    assert response.status_code == 422
    message = "This award would exceed the lot's envelope: %(left)s left in the lot."
    assert shown(message, left=money(50_000)) in response.get_data(as_text=True)
    assert written() == before
    assert decisions.current_decision(db.session, third.id) is None


def test_an_award_over_the_calls_envelope_is_refused_with_the_amount_left(call, staff):
    client, _ = staff
    call.budget_total = 160_000
    db.session.commit()
    first, second = reviewed(call, 9), reviewed(call, 8)
    factories.decision(first, "funded", amount_awarded=100_000)
    before = written()

    response = client.post(
        url_for("results.record_decision", call_id=call.id, application_id=second.id),
        data=decision_fields(second, amount_awarded="100000", deviation_reason="Priorité"),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    message = "This award would exceed the call's envelope: %(left)s left in the call."
    assert shown(message, left=money(60_000)) in response.get_data(as_text=True)
    assert written() == before


def test_an_award_within_what_is_left_is_accepted(call, staff):
    client, _ = staff
    call.lots[0].budget = 250_000
    db.session.commit()
    first, second, third = reviewed(call, 9), reviewed(call, 8), reviewed(call, 7)
    for application in (first, second):
        factories.decision(application, "funded", amount_awarded=100_000)

    response = client.post(
        url_for("results.record_decision", call_id=call.id, application_id=third.id),
        data=decision_fields(third, amount_awarded="50000", deviation_reason="Reste du lot"),
    )

    assert response.status_code == 303
    assert decisions.funded_totals(db.session, call).lot(call.lots[0].id) == 250_000


def test_changing_a_funded_award_does_not_count_it_twice(call, staff):
    client, _ = staff
    call.lots[0].budget = 100_000
    db.session.commit()
    application = reviewed(call, 9)
    client.post(
        url_for("results.record_decision", call_id=call.id, application_id=application.id),
        data=decision_fields(application, amount_awarded="100000"),
    )

    response = client.post(
        url_for("results.record_decision", call_id=call.id, application_id=application.id),
        data=decision_fields(application, amount_awarded="100000", motivation_fr="Révisé"),
    )

    assert response.status_code == 303
    assert db.session.scalar(select(decisions.Decision.motivation_fr)) == "Révisé"
