"""Publishing a call's results: the preview of every letter, one all-or-nothing publication,
letters in each recipient's language, funded actions opened, nothing sent twice."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from portal.actions.models import FundedAction
from portal.extensions import db
from portal.results.models import CommitteeStatus, Decision
from tests.conftest import shown
from tests.results.publishing_support import audit, count, outbox, results_world

REFUSED = "The results cannot be published before a second staff member approves them."


@pytest.fixture
def world(app):
    return results_world("approved")


@pytest.fixture
def staff(login_as):
    return login_as("staff")


def publish(client, world):
    return client.post(url_for("results.publish", call_id=world.call.id))


def test_staff_preview_every_letter_in_both_languages_before_publishing(world, staff):
    client, _ = staff

    response = client.get(url_for("results.publish_preview", call_id=world.call.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for application in (world.funded, world.reserve, world.rejected):
        assert f'id="letter-{application.id}"' in page
    assert "Le projet est incomplet" in page and "المشروع غير مكتمل" in page
    assert "Les indicateurs gagneraient à être chiffrés." in page
    assert world.french_editor.email in page
    assert world.viewer.email not in page  # viewers are not written to
    assert "Évaluatrice Secrète" not in page and "Note interne" not in page
    assert outbox() == []  # previewing stores nothing


def test_the_preview_renders_what_the_outbox_will_store(world, staff):
    client, _ = staff
    preview = client.get(url_for("results.publish_preview", call_id=world.call.id))

    publish(client, world)

    page = preview.get_data(as_text=True)
    french = next(m for m in outbox() if m.recipient == world.french_editor.email)
    assert french.locale == "fr" and french.template == "results_rejected"
    assert str(shown(french.subject, "fr")) in page


def test_publishing_sends_one_letter_per_owner_and_editor_in_their_language(world, staff):
    client, user = staff

    response = publish(client, world)

    assert response.status_code == 303
    messages = outbox()
    recipients = {m.recipient: m for m in messages}
    assert world.viewer.email not in recipients
    assert len(messages) == 4  # three owners, one French editor
    owner_of = {a.id: a.association.memberships[0].user.email for a in world_apps(world)}
    funded = recipients[owner_of[world.funded.id]]
    assert funded.template == "results_funded" and funded.locale == "ar"
    assert "100" in funded.body_text  # the amount (100,000 MAD by default)
    reserve = recipients[owner_of[world.reserve.id]]
    assert reserve.template == "results_reserve" and "2" in reserve.body_text
    french = recipients[world.french_editor.email]
    assert french.locale == "fr"
    assert "Le projet est incomplet" in french.body_text
    assert "Pertinence" in french.body_text and "3.0 / 10" in french.body_text
    assert "Les indicateurs gagneraient à être chiffrés." in french.body_text
    for message in messages:  # evaluators stay anonymous; their private notes stay private
        for secret in ("Évaluatrice Secrète", "Autre Évaluateur", "Note interne", "Autre note"):
            assert secret not in message.body_text and secret not in message.body_html
        assert world.evaluator.email not in message.body_html


def world_apps(world):
    return (world.funded, world.reserve, world.rejected)


def test_publishing_marks_the_committee_notifies_decisions_and_opens_funded_actions(world, staff):
    client, user = staff

    publish(client, world)

    db.session.expire_all()
    assert world.committee.status == CommitteeStatus.PUBLISHED
    assert world.committee.published_by_id == user.id
    assert world.committee.published_at is not None
    decisions = db.session.scalars(select(Decision)).all()
    assert all(decision.notified_at is not None for decision in decisions)
    actions = db.session.scalars(select(FundedAction)).all()
    assert [action.application_id for action in actions] == [world.funded.id]
    [event] = audit("results.published")
    assert event.actor_id == user.id and event.details["letters"] == 4


@pytest.mark.parametrize("status", ["draft", "submitted"])
def test_publishing_without_approval_is_refused_and_changes_nothing(app, staff, status):
    world = results_world(status)
    client, _ = staff

    response = publish(client, world)

    assert response.status_code == 422
    assert shown(REFUSED) in response.get_data(as_text=True)
    db.session.expire_all()
    assert world.committee.status == CommitteeStatus(status)
    assert outbox() == [] and count(FundedAction) == 0
    assert audit("results.published") == []


def test_publishing_a_call_without_committee_is_refused(app, staff):
    from tests import factories

    call = factories.closed_call()
    client, _ = staff

    response = client.post(url_for("results.publish", call_id=call.id))

    assert response.status_code == 422
    assert shown(REFUSED) in response.get_data(as_text=True)


def test_publishing_twice_sends_one_set_of_letters(world, staff):
    client, _ = staff
    publish(client, world)
    first = len(outbox())

    response = client.post(url_for("results.publish", call_id=world.call.id), follow_redirects=True)

    assert len(outbox()) == first == 4
    assert len(audit("results.published")) == 1
    assert count(FundedAction) == 1
    assert shown("These results were already published; no letter was sent again.") in (
        response.get_data(as_text=True)
    )


def test_a_failure_midway_leaves_nothing_published(world, staff, monkeypatch):
    from portal.actions import services as actions

    def broken(session, decision):
        raise RuntimeError("the action could not be opened")

    monkeypatch.setattr(actions, "open_action", broken)
    client, _ = staff

    with pytest.raises(RuntimeError):
        publish(client, world)

    db.session.rollback()
    db.session.expire_all()
    assert world.committee.status == CommitteeStatus.APPROVED
    assert outbox() == [] and audit("results.published") == []


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_only_staff_preview_and_publish(world, login_as, roles):
    client, _ = login_as(*roles)

    preview = client.get(url_for("results.publish_preview", call_id=world.call.id))
    posted = publish(client, world)

    assert preview.status_code == posted.status_code == 403
    assert outbox() == []


def test_admins_may_publish(world, login_as):
    client, _ = login_as("admin")

    assert publish(client, world).status_code == 303
    assert len(outbox()) == 4


def test_a_visitor_is_sent_to_sign_in(world, client):
    response = client.get(url_for("results.publish_preview", call_id=world.call.id))

    assert response.status_code == 302 and "sign-in" in response.headers["Location"]


def test_the_preview_of_an_unapproved_call_lists_no_letter(app, staff):
    world = results_world("draft")
    client, _ = staff

    response = client.get(url_for("results.publish_preview", call_id=world.call.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert shown(REFUSED) in page and 'id="letter-' not in page


def test_after_publishing_the_page_says_when_and_links_the_public_results(world, staff):
    client, _ = staff
    publish(client, world)

    response = client.get(url_for("results.publish_preview", call_id=world.call.id))

    page = response.get_data(as_text=True)
    assert url_for("results.public_call", code=world.call.code) in page
    assert shown("Publish the results and send the letters") not in page
