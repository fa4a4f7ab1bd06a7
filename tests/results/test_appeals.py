"""Appeals: filed by an owner or editor within the call's appeal period, once per decision;
answered by staff (dismissed, or granted with a new decision); the applicant is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import select

from portal.actions.models import FundedAction
from portal.extensions import db
from portal.results.models import Appeal, AppealStatus, Decision, Outcome
from portal.timeutil import format_offset, to_local
from portal.web.formatting import format_local_datetime
from tests import factories
from tests.conftest import shown
from tests.results.publishing_support import audit, count, outbox, publish_now, results_world


@pytest.fixture
def world(app):
    world = results_world("approved")
    publish_now(world)
    return world


def owner(application):
    return application.association.memberships[0].user


def file(login_as, application, motivation="Nos scores ont été mal additionnés.", user=None):
    client, _ = login_as(user=user or owner(application))
    return client.post(
        url_for("results.appeal", application_id=application.id), data={"motivation": motivation}
    )


def test_the_applicant_sees_the_decision_and_feedback_once_published(world, login_as):
    client, _ = login_as(user=world.french_editor)

    page = client.get(url_for("applications.overview", application_id=world.rejected.id))

    body = page.get_data(as_text=True)
    assert 'id="decision"' in body
    assert "Le projet est incomplet" in body or "المشروع غير مكتمل" in body
    assert "Les indicateurs gagneraient à être chiffrés." in body
    assert "Évaluatrice Secrète" not in body and "Note interne" not in body
    assert url_for("results.appeal", application_id=world.rejected.id) in body


def test_the_decision_is_not_shown_before_publication(app, login_as):
    world = results_world("approved")
    client, _ = login_as(user=owner(world.funded))

    page = client.get(url_for("applications.overview", application_id=world.funded.id))

    assert page.status_code == 200
    assert 'id="decision"' not in page.get_data(as_text=True)


def test_an_editor_files_an_appeal_within_the_period(world, login_as):
    response = file(login_as, world.rejected, user=world.french_editor)

    assert response.status_code == 303
    [appeal] = db.session.scalars(select(Appeal)).all()
    assert appeal.application_id == world.rejected.id
    assert appeal.filed_by_id == world.french_editor.id
    assert appeal.status == AppealStatus.PENDING
    assert [event.object_id for event in audit("appeal.filed")] == [appeal.id]


def test_an_appeal_needs_a_motivation(world, login_as):
    response = file(login_as, world.rejected, motivation="   ")

    assert response.status_code == 422
    assert shown("Explain why you appeal.") in response.get_data(as_text=True)
    assert count(Appeal) == 0


def test_one_appeal_per_decision(world, login_as):
    file(login_as, world.rejected)

    response = file(login_as, world.rejected, user=world.french_editor)

    assert response.status_code == 422
    assert shown("An appeal against this decision is already filed.", "fr") in (
        response.get_data(as_text=True)
    )
    assert count(Appeal) == 1


def test_an_appeal_after_the_period_is_refused_with_the_closing_date(world, login_as, app):
    world.committee.published_at -= timedelta(days=world.call.appeal_days, minutes=1)
    db.session.commit()
    closes = world.committee.published_at + timedelta(days=world.call.appeal_days)

    response = file(login_as, world.rejected)

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    with app.test_request_context():
        date = f"{format_local_datetime(closes)} ({format_offset(to_local(closes))})"
    assert shown("The appeal period closed on %(date)s.", date=date) in body
    assert count(Appeal) == 0 and audit("appeal.filed") == []


def test_an_appeal_before_publication_is_not_found(app, login_as):
    world = results_world("approved")

    assert file(login_as, world.rejected).status_code == 404
    assert count(Appeal) == 0


def test_an_appeal_on_another_associations_application_is_not_found(world, login_as):
    stranger = factories.AssociationFactory(owner=factories.UserFactory())

    response = file(login_as, world.rejected, user=stranger.memberships[0].user)

    assert response.status_code == 404
    assert "Projet refusé" not in response.get_data(as_text=True)
    assert count(Appeal) == 0


def test_a_viewer_may_not_appeal(world, login_as):
    assert file(login_as, world.funded, user=world.viewer).status_code == 404
    assert count(Appeal) == 0


def test_staff_list_the_calls_appeals(world, login_as):
    file(login_as, world.rejected)
    client, _ = login_as("staff")

    response = client.get(url_for("results.appeals", call_id=world.call.id))

    assert response.status_code == 200
    assert world.rejected.title_ar in response.get_data(as_text=True)


def the_appeal(world, login_as):
    file(login_as, world.rejected)
    return db.session.scalars(select(Appeal)).one()


def test_staff_dismiss_an_appeal_with_an_answer_and_the_applicant_is_told(world, login_as):
    appeal = the_appeal(world, login_as)
    client, user = login_as("staff")
    before = len(outbox())

    response = client.post(
        url_for("results.answer_appeal", appeal_id=appeal.id),
        data={"verdict": "dismiss", "answer": "Les scores sont exacts."},
    )

    assert response.status_code == 303
    db.session.expire_all()
    assert appeal.status == AppealStatus.DISMISSED and appeal.answered_by_id == user.id
    mails = outbox()[before:]
    assert {m.template for m in mails} == {"results_appeal_answer"}
    assert {m.recipient for m in mails} == {owner(world.rejected).email, world.french_editor.email}
    assert all("Les scores sont exacts." in m.body_text for m in mails)
    assert len(audit("appeal.dismissed")) == 1


def test_dismissing_needs_an_answer(world, login_as):
    appeal = the_appeal(world, login_as)
    client, _ = login_as("staff")
    before = len(outbox())

    response = client.post(
        url_for("results.answer_appeal", appeal_id=appeal.id),
        data={"verdict": "dismiss", "answer": ""},
    )

    assert response.status_code == 422
    assert shown("Write the answer the applicant will receive.") in response.get_data(as_text=True)
    db.session.expire_all()
    assert appeal.status == AppealStatus.PENDING and len(outbox()) == before


def test_granting_an_appeal_records_a_new_decision(world, login_as):
    appeal = the_appeal(world, login_as)
    client, _ = login_as("staff")

    response = client.post(
        url_for("results.answer_appeal", appeal_id=appeal.id),
        data={
            "verdict": "grant",
            "answer": "Une erreur de calcul est corrigée.",
            "outcome": "funded",
            "amount_awarded": "80000",
            "motivation_fr": "Financé après recours",
        },
    )

    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.expire_all()
    assert appeal.status == AppealStatus.GRANTED
    current = db.session.scalar(
        select(Decision).where(
            Decision.application_id == world.rejected.id, Decision.superseded_at.is_(None)
        )
    )
    assert current.id == appeal.new_decision_id and current.outcome == Outcome.FUNDED
    assert current.amount_awarded == 80_000 and current.notified_at is not None
    assert appeal.decision.superseded_at is not None
    assert db.session.scalar(
        select(FundedAction).where(FundedAction.application_id == world.rejected.id)
    )
    assert len(audit("appeal.granted")) == 1
    assert any("Une erreur de calcul" in m.body_text for m in outbox())


def test_an_appeal_is_answered_once(world, login_as):
    appeal = the_appeal(world, login_as)
    client, _ = login_as("staff")
    url = url_for("results.answer_appeal", appeal_id=appeal.id)
    client.post(url, data={"verdict": "dismiss", "answer": "Non."})
    before = len(outbox())

    response = client.post(url, data={"verdict": "dismiss", "answer": "Encore non."})

    assert response.status_code == 422
    assert len(outbox()) == before and len(audit("appeal.dismissed")) == 1


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_only_staff_answer_appeals(world, login_as, roles):
    appeal = the_appeal(world, login_as)
    client, _ = login_as(*roles)

    listed = client.get(url_for("results.appeals", call_id=world.call.id))
    answered = client.post(
        url_for("results.answer_appeal", appeal_id=appeal.id),
        data={"verdict": "dismiss", "answer": "Non."},
    )

    assert listed.status_code == answered.status_code == 403
    db.session.expire_all()
    assert appeal.status == AppealStatus.PENDING


def test_staff_open_an_appeal_with_its_answer_form(world, login_as):
    appeal = the_appeal(world, login_as)
    client, _ = login_as("staff")

    response = client.get(url_for("results.answer_appeal", appeal_id=appeal.id))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nos scores ont été mal additionnés." in body and 'name="verdict"' in body
