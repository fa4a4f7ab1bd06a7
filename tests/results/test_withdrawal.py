"""Corrections after approval (a new, audited decision superseding the old) and the withdrawal
or disqualification of a published award, with its place offered to the first reserve."""

# ruff: noqa: F811 — the fixtures imported from decision_support are used as arguments
from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from portal.actions.models import ActionStatus, FundedAction
from portal.actions.services import open_action
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.results import decisions
from portal.results.models import CommitteeStatus, Decision, Outcome
from tests import factories
from tests.conftest import shown
from tests.results.decision_support import (  # noqa: F401 — fixtures
    call,
    events,
    reviewed,
    staff,
    written,
)


def sitting_in(call, status: str):
    return factories.committee(call, status=status)


def test_a_correction_supersedes_the_approved_decision_and_is_audited(call, staff):
    _client, user = staff
    application = reviewed(call, 8)
    old = factories.decision(application, "funded", sitting=sitting_in(call, "approved"))

    new = decisions.correct_decision(
        db.session,
        old,
        outcome="funded",
        amount_awarded=80_000,
        motivation_fr="Montant revu",
        reason="Erreur de calcul",
        actor=user,
    )
    db.session.commit()

    assert old.superseded_at is not None and old.amount_awarded == 100_000
    assert new.supersedes_id == old.id and new.correction_reason == "Erreur de calcul"
    assert new.committee_id == old.committee_id
    assert decisions.current_decision(db.session, application.id).id == new.id
    (event,) = events("results.decision_corrected")
    assert event.details["before"]["amount_awarded"] == 100_000


def test_a_correction_of_a_draft_decision_is_refused(call, staff):
    _client, user = staff
    application = reviewed(call, 8)
    old = factories.decision(application, "funded")

    with pytest.raises(decisions.DecisionError):
        decisions.correct_decision(
            db.session, old, outcome="rejected", motivation_fr="x", reason="y", actor=user
        )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"outcome": "funded", "amount_awarded": 150_000}, "amount_awarded"),
        ({"outcome": "funded", "amount_awarded": 10_000}, "amount_awarded"),
        ({"outcome": "rejected", "reason": ""}, "reason"),
        ({"outcome": "rejected", "motivation_fr": ""}, "motivation_ar"),
        ({"outcome": "nothing"}, "outcome"),
    ],
)
def test_bad_corrections_are_refused_and_nothing_is_written(call, staff, values, field):
    _client, user = staff
    application = reviewed(call, 8)
    old = factories.decision(application, "funded", sitting=sitting_in(call, "approved"))
    before = written()
    arguments = {"motivation_fr": "Motif", "reason": "Raison", **values}

    with pytest.raises(decisions.DecisionError) as refused:
        decisions.correct_decision(db.session, old, actor=user, **arguments)
    db.session.rollback()

    assert refused.value.field == field
    assert written() == before
    assert decisions.current_decision(db.session, application.id).id == old.id


def test_a_correction_over_the_envelope_is_refused_with_the_amount_left(call, staff):
    _client, user = staff
    call.lots[0].budget = 150_000
    db.session.commit()
    sitting = sitting_in(call, "approved")
    funded, reserve = reviewed(call, 9), reviewed(call, 8)
    factories.decision(funded, "funded", sitting=sitting)
    old = factories.decision(reserve, "reserve", sitting=sitting)

    with pytest.raises(decisions.DecisionError) as refused:
        decisions.correct_decision(
            db.session,
            old,
            outcome="funded",
            amount_awarded=100_000,
            motivation_fr="Appel accordé",
            reason="Appel",
            actor=user,
        )

    assert "50" in str(refused.value.message)
    db.session.rollback()
    assert decisions.current_decision(db.session, reserve.id).id == old.id


def test_editing_an_approved_decision_through_the_page_is_refused(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    made = factories.decision(application, "funded", sitting=sitting_in(call, "approved"))

    response = client.post(
        url_for("results.record_decision", call_id=call.id, application_id=application.id),
        data={
            f"a{application.id}-outcome": "rejected",
            f"a{application.id}-motivation_fr": "Non",
            f"a{application.id}-deviation_reason": "Non",
        },
    )

    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.scalars(select(Decision)).all() == [db.session.get(Decision, made.id)]
    assert made.outcome == Outcome.FUNDED


# --- withdrawal after publication -----------------------------------------------------------


@pytest.fixture
def published(call):
    """A published call: one funded award with its action, two reserves, in one lot."""
    sitting = sitting_in(call, "published")
    funded = reviewed(call, 9)
    first, second = reviewed(call, 8, asked=90_000), reviewed(call, 7)
    award = factories.decision(funded, "funded", sitting=sitting)
    open_action(db.session, award)
    factories.decision(first, "reserve", sitting=sitting, reserve_rank=1)
    factories.decision(second, "reserve", sitting=sitting, reserve_rank=2)
    db.session.commit()
    return award, first, second


def withdraw(client, award, **data):
    values = {"kind": "withdrawn", "reason": "L'association a renoncé"}
    values.update(data)
    return client.post(url_for("results.withdraw_award", decision_id=award.id), data=values)


def test_a_withdrawn_award_funds_the_first_reserve_and_tells_its_association(
    call, staff, published
):
    client, _ = staff
    award, first, second = published
    owner = first.association.memberships[0].user
    owner.locale = "fr"
    editor = factories.UserFactory(locale="ar")
    viewer = factories.UserFactory()
    factories.add_member(first.association, editor, "editor")
    factories.add_member(first.association, viewer, "viewer")

    response = withdraw(client, award)

    assert response.status_code == 303
    rejected = decisions.current_decision(db.session, award.application_id)
    assert rejected.outcome == Outcome.REJECTED and rejected.supersedes_id == award.id
    action = db.session.scalar(
        select(FundedAction).where(FundedAction.application_id == award.application_id)
    )
    assert action.status == ActionStatus.WITHDRAWN
    promoted = decisions.current_decision(db.session, first.id)
    assert (promoted.outcome, promoted.amount_awarded) == (Outcome.FUNDED, 90_000)
    assert decisions.current_decision(db.session, second.id).outcome == Outcome.RESERVE
    mails = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert {(m.recipient, m.locale, m.template) for m in mails} == {
        (owner.email, "fr", "results_reserve_promoted"),
        (editor.email, "ar", "results_reserve_promoted"),
    }
    assert events("results.award_withdrawn")[0].details["kind"] == "withdrawn"
    assert events("results.reserve_promoted")
    new_action = db.session.scalar(
        select(FundedAction).where(FundedAction.application_id == first.id)
    )
    assert new_action is not None and new_action.amount_awarded == 90_000


def test_the_first_reserve_is_not_funded_when_the_envelope_does_not_allow(call, staff, published):
    client, _ = staff
    award, first, _second = published
    award.amount_awarded = 60_000  # the freed place is smaller than what the reserve asks
    call.lots[0].budget = 60_000
    db.session.commit()

    response = withdraw(client, award, kind="disqualified")

    assert response.status_code == 303
    assert decisions.current_decision(db.session, first.id).outcome == Outcome.RESERVE
    assert db.session.scalar(select(OutboxMessage.id)) is None
    assert events("results.reserve_not_promoted")


def test_a_withdrawal_needs_a_reason(call, staff, published):
    client, _ = staff
    award, _first, _second = published
    before = written()

    response = withdraw(client, award, reason="")

    assert response.status_code == 422
    assert shown("Give the reason.") in response.get_data(as_text=True)
    assert written() == before


def test_an_award_not_yet_published_cannot_be_withdrawn(call, staff):
    client, _ = staff
    application = reviewed(call, 8)
    award = factories.decision(application, "funded", sitting=sitting_in(call, "approved"))

    response = withdraw(client, award)

    assert response.status_code == 422
    assert shown("Only a published award can be withdrawn.") in response.get_data(as_text=True)
    assert decisions.current_decision(db.session, application.id).id == award.id


def test_applicants_cannot_withdraw_awards(call, login_as, published):
    award, _first, _second = published
    client, _ = login_as("applicant")

    assert withdraw(client, award).status_code == 403
    assert award.committee.status == CommitteeStatus.PUBLISHED
