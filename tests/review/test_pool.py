"""The evaluator pool: invitations by e-mail with a signed single-use link, accepting them (the
evaluator role), removing an evaluator, and the pool page's load table."""

from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.models import PoolMember, PoolStatus, Review, ReviewStatus
from tests import factories
from tests.conftest import shown


def invitation_mails(recipient: str) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.recipient == recipient, OutboxMessage.template == "evaluator_invitation"
    )
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def link_path(mail: OutboxMessage) -> str:
    return re.search(r"https?://[^/\s]+(/reviews/invitations/[\w.\-]+)", mail.body_text).group(1)


def invite(client, call, email="expert@example.org", languages=("ar", "fr"), expertise=()):
    return client.post(
        url_for("review.invite_evaluator", call_id=call.id),
        data={"email": email, "languages": list(languages), "expertise": list(expertise)},
    )


def members(call) -> list[PoolMember]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PoolMember).where(PoolMember.call_id == call.id).order_by(PoolMember.id)
        )
    )


def test_an_invitation_is_mailed_in_the_invitees_language_with_a_signed_link(call, staff):
    client, _user = staff
    factories.UserFactory(email="expert@example.org", locale="fr")

    response = invite(client, call, expertise=["axis-2"])

    assert response.status_code == 303
    (member,) = members(call)
    assert (member.status, member.languages, member.expertise) == (
        PoolStatus.INVITED,
        ["ar", "fr"],
        ["axis-2"],
    )
    (mail,) = invitation_mails("expert@example.org")
    assert mail.locale == "fr"
    assert link_path(mail).startswith("/reviews/invitations/")


def test_an_invitee_without_an_account_is_written_to_in_the_inviters_language(call, login_as):
    client, _user = login_as("staff", locale="fr")

    invite(client, call, email="New.Expert@Example.org")

    (mail,) = invitation_mails("new.expert@example.org")
    assert mail.locale == "fr"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address", "languages": ["ar"]}, "email"),
        ({"email": "a@example.org", "languages": []}, "languages"),
        ({"email": "a@example.org", "languages": ["en"]}, "languages"),
        ({"email": "a@example.org", "languages": ["ar"], "expertise": ["axis-99"]}, "expertise"),
    ],
)
def test_a_bad_invitation_is_refused_and_nothing_is_written(call, staff, data, field):
    client, _user = staff

    response = client.post(url_for("review.invite_evaluator", call_id=call.id), data=data)

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert members(call) == []
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_accepting_gives_the_evaluator_role_and_an_active_place(call, staff, login_as):
    client, _user = staff
    invitee_client, invitee = login_as("applicant", email="expert@example.org")
    invite(client, call)
    path = link_path(invitation_mails("expert@example.org")[0])

    page = invitee_client.get(path)
    accepted = invitee_client.post(path)

    assert page.status_code == 200
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith(f"/reviews/calls/{call.id}/conflicts")
    (member,) = members(call)
    assert (member.status, member.user_id) == (PoolStatus.ACTIVE, invitee.id)
    assert member.conflicts_declared_at is None
    assert Role.EVALUATOR in db.session.get(type(invitee), invitee.id).roles
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.evaluator_joined")
    )
    again = invitee_client.post(path)
    assert again.status_code == 400  # used once


def test_someone_else_cannot_accept_the_invitation(call, staff, login_as):
    client, _user = staff
    other_client, _other = login_as("applicant", email="someone@example.org")
    invite(client, call)
    path = link_path(invitation_mails("expert@example.org")[0])

    response = other_client.post(path)

    assert response.status_code == 403
    (member,) = members(call)
    assert member.status == PoolStatus.INVITED and member.user_id is None


def test_an_altered_link_is_refused(call, staff, login_as):
    client, _user = staff
    invitee_client, _invitee = login_as("applicant", email="expert@example.org")
    invite(client, call)
    path = link_path(invitation_mails("expert@example.org")[0])

    response = invitee_client.post(path[:-3] + "abc")

    assert response.status_code == 400
    assert members(call)[0].status == PoolStatus.INVITED


def test_inviting_again_sends_a_new_link_and_retires_the_old_one(call, staff, login_as):
    client, _user = staff
    invitee_client, _invitee = login_as("applicant", email="expert@example.org")
    invite(client, call)
    invite(client, call, languages=["fr"])
    old, new = (link_path(mail) for mail in invitation_mails("expert@example.org"))

    assert invitee_client.post(old).status_code == 400
    assert invitee_client.post(new).status_code == 303
    (member,) = members(call)
    assert member.languages == ["fr"]


def test_someone_already_active_in_the_pool_is_not_invited_again(call, staff):
    client, _user = staff
    evaluator = factories.evaluator(call)

    response = invite(client, call, email=evaluator.email)

    assert response.status_code == 422
    assert shown("This person is already in the call's pool.") in response.get_data(as_text=True)


def test_removing_an_evaluator_removes_unsubmitted_reviews_and_keeps_submitted_ones(call, staff):
    client, _user = staff
    evaluator = factories.evaluator(call)
    pending = factories.assign(factories.submitted_application(call), evaluator)
    draft = factories.scored_review(
        factories.submitted_application(call), evaluator, [1, 2], submitted=False
    )
    done = factories.scored_review(factories.submitted_application(call), evaluator, [3, 4])
    member = members(call)[0]

    response = client.post(url_for("review.remove_evaluator", call_id=call.id, member_id=member.id))

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(PoolMember, member.id).status == PoolStatus.REMOVED
    statuses = {review.id: review.status for review in db.session.scalars(select(Review))}
    assert statuses == {
        pending.id: ReviewStatus.REMOVED,
        draft.id: ReviewStatus.REMOVED,
        done.id: ReviewStatus.SUBMITTED,
    }
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.evaluator_removed")
    )
    assert event.details["reviews_removed"] == 2


def test_a_member_of_another_call_is_not_found(call, staff):
    client, _user = staff
    other = factories.closed_call()
    factories.evaluator(other)
    member = members(other)[0]

    response = client.post(url_for("review.remove_evaluator", call_id=call.id, member_id=member.id))

    assert response.status_code == 404
    assert members(other)[0].status == PoolStatus.ACTIVE


def test_the_pool_page_shows_each_evaluators_load_and_progress(call, staff):
    client, _user = staff
    evaluator = factories.evaluator(call, full_name="Experte Salma", expertise=["axis-1"])
    factories.scored_review(factories.submitted_application(call), evaluator, [3, 4])
    factories.assign(factories.submitted_application(call), evaluator)

    page = client.get(url_for("review.pool", call_id=call.id)).get_data(as_text=True)

    row = re.search(r"<tr id=\"member-\d+\">.*?</tr>", page, re.S).group(0)
    assert "Experte Salma" in row
    assert "<td>2</td>" in row and "<td>1</td>" in row
    assert 'value="50"' in row


def test_the_pool_page_runs_the_same_queries_for_2_and_30_evaluators(call, staff, count_queries):
    client, _user = staff
    url = url_for("review.pool", call_id=call.id)

    def queries() -> int:
        client.get(url)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    application = factories.submitted_application(call)
    for _ in range(2):
        factories.assign(application, factories.evaluator(call))
    small = queries()
    for _ in range(28):
        factories.assign(factories.submitted_application(call), factories.evaluator(call))
    large = queries()

    assert small == large, (small, large)
    assert large <= 10, large
