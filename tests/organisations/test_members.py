"""Members of an association: invitations by e-mail, roles, removal, the last owner."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.models import Invitation, InvitationStatus, MemberRole, Membership
from tests.factories import AssociationFactory, UserFactory, add_member
from tests.organisations.helpers import audit_actions, count, shown, text_of

HTMX = {"HX-Request": "true"}
LAST_OWNER = "An association keeps at least one owner. Name another owner first."
NOT_VALID = "This invitation is not valid or was already used."


@pytest.fixture
def owned(login_as):
    """An owner signed in on a client, and their association."""
    client, owner = login_as("applicant", full_name="Khadija Owner")
    association = AssociationFactory(owner=owner, name_fr="Association Tanmia")
    return client, owner, association


def invite(client, association, email: str, role: str = "editor", **kwargs):
    return client.post(
        f"/associations/{association.id}/members/invite",
        data={"email": email, "role": role},
        **kwargs,
    )


def invitation_link(recipient: str) -> str:
    """Return the link of the invitation e-mail queued for this address."""
    message = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.recipient == recipient, OutboxMessage.template == "invitation"
        )
    )
    return re.search(r"https://shiraka\.test/invitations/\S+", message.body_text).group(0)


def path_of(link: str) -> str:
    return link.removeprefix("https://shiraka.test")


def role_of(association, user) -> MemberRole | None:
    db.session.expire_all()
    return db.session.scalar(
        select(Membership.role).where(
            Membership.association_id == association.id, Membership.user_id == user.id
        )
    )


# --- invitations ----------------------------------------------------------------------------


def test_owner_invites_by_email_and_the_invitee_joins_with_that_role(owned, login_as):
    """ASVS 4.0.3 V2.5 / V3.5: the link is signed, built on the configured host, used once."""
    client, owner, association = owned
    invitee_client, invitee = login_as("applicant", email="amina@example.org", locale="fr")

    response = invite(client, association, "Amina@Example.org", "editor")

    assert response.status_code == 303
    assert response.location == f"/associations/{association.id}/members"
    message = db.session.scalar(select(OutboxMessage))
    assert message.recipient == "amina@example.org"
    assert message.locale == "fr"
    link = invitation_link("amina@example.org")
    assert link.startswith("https://shiraka.test/invitations/")
    assert link in message.body_html
    assert "association.member_invited" in audit_actions()

    page = invitee_client.get(path_of(link))
    assert page.status_code == 200
    assert "Association Tanmia" in text_of(page)
    assert role_of(association, invitee) is None

    accepted = invitee_client.post(path_of(link))

    assert accepted.status_code == 303
    assert accepted.location == f"/associations/{association.id}"
    assert role_of(association, invitee) == MemberRole.EDITOR
    invitation = db.session.scalar(select(Invitation))
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.accepted_by_id == invitee.id
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "association.invitation_accepted")
    )
    assert (event.actor_id, event.object_id, event.details["role"]) == (
        invitee.id,
        association.id,
        "editor",
    )
    welcome = invitee_client.get(accepted.location)
    assert shown("You joined %(name)s.", "fr", name="Association Tanmia") in text_of(welcome)


def test_invitation_link_works_only_once(owned, login_as):
    client, _owner, association = owned
    invitee_client, invitee = login_as("applicant", email="amina@example.org")
    invite(client, association, "amina@example.org", "viewer")
    path = path_of(invitation_link("amina@example.org"))
    assert invitee_client.post(path).status_code == 303

    second_look = invitee_client.get(path)
    second_use = invitee_client.post(path)

    for response in (second_look, second_use):
        assert response.status_code == 400
        assert shown(NOT_VALID) in text_of(response)
    assert count(Membership, Membership.user_id == invitee.id) == 1
    assert audit_actions().count("association.invitation_accepted") == 1


@pytest.mark.parametrize(
    "alter",
    [
        # The signature's first character: its last one carries unused bits that may not count.
        lambda token: (
            token.rsplit(".", 1)[0]
            + "."
            + ("A" if token.rsplit(".", 1)[1][0] != "A" else "B")
            + token.rsplit(".", 1)[1][1:]
        ),
        lambda token: token.replace(".", ".x", 1),
        lambda token: "not-a-token",
    ],
    ids=["signature-changed", "inserted", "made-up"],
)
def test_altered_invitation_link_is_refused(owned, login_as, alter):
    client, _owner, association = owned
    invitee_client, invitee = login_as("applicant", email="amina@example.org")
    invite(client, association, "amina@example.org")
    token = path_of(invitation_link("amina@example.org")).removeprefix("/invitations/")

    looked = invitee_client.get(f"/invitations/{alter(token)}")
    used = invitee_client.post(f"/invitations/{alter(token)}")

    for response in (looked, used):
        assert response.status_code == 400
        assert shown(NOT_VALID) in text_of(response)
    assert role_of(association, invitee) is None
    assert db.session.scalar(select(Invitation.status)) == InvitationStatus.PENDING


def test_expired_invitation_link_is_refused(owned, login_as, app):
    client, _owner, association = owned
    invitee_client, invitee = login_as("applicant", email="amina@example.org")
    invite(client, association, "amina@example.org")
    path = path_of(invitation_link("amina@example.org"))
    app.config["INVITATION_MAX_AGE"] = -1  # every link is now older than the limit

    response = invitee_client.post(path)

    assert response.status_code == 400
    assert shown("This invitation has expired. Ask for a new one.") in text_of(response)
    assert role_of(association, invitee) is None


def test_invitation_cannot_be_accepted_by_another_address(owned, login_as):
    """ASVS 4.0.3 V4.1.3: a forwarded link does not let someone else in."""
    client, _owner, association = owned
    invite(client, association, "amina@example.org")
    path = path_of(invitation_link("amina@example.org"))
    other_client, other = login_as("applicant", email="someone-else@example.org")

    response = other_client.post(path)

    assert response.status_code == 403
    expected = shown(
        "This invitation was sent to another e-mail address. Sign in with that address."
    )
    assert expected in text_of(response)
    assert role_of(association, other) is None
    assert db.session.scalar(select(Invitation.status)) == InvitationStatus.PENDING
    assert "association.invitation_accepted" not in audit_actions()


def test_revoked_invitation_link_is_refused(owned, login_as):
    client, _owner, association = owned
    invitee_client, invitee = login_as("applicant", email="amina@example.org")
    invite(client, association, "amina@example.org")
    path = path_of(invitation_link("amina@example.org"))
    invitation = db.session.scalar(select(Invitation))

    revoked = client.post(f"/associations/{association.id}/invitations/{invitation.id}/revoke")
    response = invitee_client.post(path)

    assert revoked.status_code == 303
    assert response.status_code == 400
    assert shown(NOT_VALID) in text_of(response)
    assert role_of(association, invitee) is None
    db.session.expire_all()
    assert invitation.status == InvitationStatus.REVOKED
    assert "association.invitation_revoked" in audit_actions()


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-address", "Enter a valid e-mail address."),
        ("member@example.org", "This person is already a member."),
    ],
    ids=["malformed", "already-member"],
)
def test_bad_invitation_is_refused_with_nothing_sent(owned, email, message):
    client, _owner, association = owned
    add_member(association, UserFactory(email="member@example.org"), "viewer")

    response = invite(client, association, email)

    assert response.status_code == 422
    assert shown(message) in text_of(response)
    assert count(Invitation) == 0
    assert count(OutboxMessage) == 0
    assert "association.member_invited" not in audit_actions()


# --- roles and removal ----------------------------------------------------------------------


def test_owner_changes_a_members_role(owned):
    client, owner, association = owned
    member = UserFactory()
    membership = add_member(association, member, "viewer")

    response = client.post(
        f"/associations/{association.id}/members/{membership.id}/role", data={"role": "editor"}
    )

    assert response.status_code == 303
    assert role_of(association, member) == MemberRole.EDITOR
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "association.member_role_changed")
    )
    assert (event.actor_id, event.details) == (
        owner.id,
        {"member": member.id, "before": "viewer", "after": "editor"},
    )


def test_owner_removes_a_member(owned):
    client, _owner, association = owned
    member = UserFactory()
    membership = add_member(association, member, "editor")

    response = client.post(f"/associations/{association.id}/members/{membership.id}/remove")

    assert response.status_code == 303
    assert role_of(association, member) is None
    assert "association.member_removed" in audit_actions()


def test_an_owner_can_step_down_when_another_owner_remains(owned):
    client, owner, association = owned
    add_member(association, UserFactory(), "owner")
    membership = association.memberships[0]

    response = client.post(
        f"/associations/{association.id}/members/{membership.id}/role", data={"role": "editor"}
    )

    assert response.status_code == 303
    assert role_of(association, owner) == MemberRole.EDITOR


@pytest.mark.parametrize(
    ("action", "data"),
    [("role", {"role": "editor"}), ("role", {"role": "viewer"}), ("remove", {})],
    ids=["demote-to-editor", "demote-to-viewer", "remove"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_last_owner_cannot_be_removed_or_demoted(owned, action, data, htmx):
    client, owner, association = owned
    add_member(association, UserFactory(), "editor")
    membership = association.memberships[0]
    url = f"/associations/{association.id}/members/{membership.id}/{action}"

    response = client.post(url, data=data, headers=HTMX if htmx else {})

    if htmx:
        assert response.status_code == 200
        page = response
    else:
        assert response.status_code == 303
        page = client.get(response.location)
    assert shown(LAST_OWNER) in text_of(page)
    assert role_of(association, owner) == MemberRole.OWNER
    assert count(Membership) == 2
    assert audit_actions() == []


# --- who may manage -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "viewer"])
@pytest.mark.parametrize("action", ["invite", "role", "remove", "revoke"])
def test_editor_and_viewer_cannot_manage_members(login_as, role, action):
    """ASVS 4.0.3 V4.1.3: only owners manage members; others get 404, nothing changes."""
    owner = UserFactory()
    association = AssociationFactory(owner=owner)
    client, user = login_as("applicant")
    add_member(association, user, role)
    owner_membership = association.memberships[0]
    invitation = Invitation(
        association=association,
        email="x@example.org",
        role=MemberRole.VIEWER,
        invited_by_id=owner.id,
    )
    db.session.add(invitation)
    db.session.commit()
    base = f"/associations/{association.id}"
    url, data = {
        "invite": (f"{base}/members/invite", {"email": "friend@example.org", "role": "owner"}),
        "role": (f"{base}/members/{owner_membership.id}/role", {"role": "viewer"}),
        "remove": (f"{base}/members/{owner_membership.id}/remove", {}),
        "revoke": (f"{base}/invitations/{invitation.id}/revoke", {}),
    }[action]

    response = client.post(url, data=data)

    assert response.status_code == 404
    assert role_of(association, owner) == MemberRole.OWNER
    assert role_of(association, user) == MemberRole(role)
    assert count(Invitation, Invitation.status == InvitationStatus.PENDING) == 1
    assert count(OutboxMessage) == 0
    assert audit_actions() == []


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_members_page_offers_no_management_to_editor_and_viewer(login_as, role):
    association = AssociationFactory(owner=UserFactory())
    client, user = login_as("applicant")
    add_member(association, user, role)

    response = client.get(f"/associations/{association.id}/members")

    assert response.status_code == 200
    assert user.full_name in response.text
    assert "/members/invite" not in response.text
    assert "/remove" not in response.text


# --- htmx and plain forms -------------------------------------------------------------------


@pytest.mark.parametrize("action", ["invite", "role", "remove", "revoke"])
def test_htmx_post_returns_the_members_fragment_and_a_plain_post_redirects(owned, action):
    """The same endpoint answers htmx with #members and a plain form with 303 (PRG)."""
    client, owner, association = owned
    members = [add_member(association, UserFactory(), "viewer") for _ in range(2)]
    invitations = [
        Invitation(association=association, email=f"x{n}@example.org", role=MemberRole.VIEWER)
        for n in range(2)
    ]
    for invitation in invitations:
        invitation.invited_by_id = owner.id
    db.session.add_all(invitations)
    db.session.commit()
    base = f"/associations/{association.id}"
    requests = {
        "invite": [
            (f"{base}/members/invite", {"email": f"new{n}@example.org", "role": "viewer"})
            for n in range(2)
        ],
        "role": [(f"{base}/members/{m.id}/role", {"role": "editor"}) for m in members],
        "remove": [(f"{base}/members/{m.id}/remove", {}) for m in members],
        "revoke": [(f"{base}/invitations/{i.id}/revoke", {}) for i in invitations],
    }[action]
    (htmx_url, htmx_data), (plain_url, plain_data) = requests

    fragment = client.post(htmx_url, data=htmx_data, headers=HTMX)
    plain = client.post(plain_url, data=plain_data)

    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="members"')
    assert "<html" not in fragment.text
    assert "HX-Request" in fragment.headers.get("Vary", "")
    assert plain.status_code == 303
    assert plain.location == f"{base}/members"
    assert len(audit_actions()) == 2
