"""A funded decision opens one funded action, prefilled from the application."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.actions.models import FundedAction
from portal.actions.services import open_action
from portal.extensions import db
from portal.strategy.models import Sdg
from tests import factories


def test_a_funded_decision_opens_an_action_with_the_application_s_links(app):
    application = factories.submitted_application(
        factories.closed_call(), regions=["oriental"], beneficiaries={"women_18_35": 40}
    )
    application.sdgs = [db.session.scalar(select(Sdg).where(Sdg.number == 5))]
    decision = factories.decision(application, amount_awarded=90_000, gender_marker=2)

    action = open_action(db.session, decision)

    assert (action.amount_awarded, action.association_id, action.lot_id) == (
        90_000,
        application.association_id,
        application.lot_id,
    )
    assert [sdg.number for sdg in action.sdgs] == [5]
    assert [axis.code for axis in action.axes] == [axis.code for axis in application.axes]
    assert action.regions == ["oriental"]
    assert action.beneficiaries_planned == {"women_18_35": 40}
    assert action.gender_marker == 2


def test_opening_again_keeps_one_action_and_follows_the_newer_decision(app):
    application = factories.submitted_application(factories.closed_call())
    first = factories.decision(application, amount_awarded=80_000)
    open_action(db.session, first)
    first.superseded_at = first.created_at
    db.session.flush()
    correction = factories.decision(application, amount_awarded=70_000, supersedes_id=first.id)

    action = open_action(db.session, correction)

    assert db.session.scalar(select(func.count()).select_from(FundedAction)) == 1
    assert (action.decision_id, action.amount_awarded) == (correction.id, 70_000)


@pytest.mark.parametrize("outcome", ["reserve", "rejected"])
def test_only_a_funded_decision_opens_an_action(app, outcome):
    decision = factories.decision(factories.submitted_application(factories.closed_call()), outcome)

    with pytest.raises(ValueError):
        open_action(db.session, decision)
