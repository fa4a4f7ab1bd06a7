"""The audit trail: one append-only event per state change, saying who did what to which
object, when, with details."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from flask_login import current_user, login_user
from sqlalchemy import delete, func, select, update

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.audit.models import AuditEvent, AuditTrailIsAppendOnly
from portal.audit.services import record_event
from portal.db import utcnow
from portal.organisations import services as organisations
from portal.organisations.models import AssociationStatus, MemberRole
from tests.factories import TEST_PASSWORD, AssociationFactory, UserFactory, add_member


def events(session) -> list[AuditEvent]:
    """Return every audit event, oldest first, as stored."""
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def event_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def test_record_event_stores_who_what_which_object_when_and_details(session):
    """An event keeps the actor, the action, the object's type and id, the time and the
    details, turned into plain JSON values. (ASVS 7.1.3)"""
    actor = UserFactory(roles=("staff",))
    association = AssociationFactory()
    before = utcnow()

    record_event(
        session,
        actor,
        "association.verified",
        association,
        before=AssociationStatus.PENDING,
        reason="",
        on=date(2026, 3, 1),
        roles={"owner"},
        count=3,
    )
    session.commit()

    [event] = events(session)
    assert event.actor_id == actor.id
    assert event.action == "association.verified"
    assert (event.object_type, event.object_id) == ("association", association.id)
    assert before <= event.created_at <= utcnow() + timedelta(seconds=1)
    assert event.created_at.tzinfo is not None
    assert event.details == {
        "before": "pending",
        "reason": "",
        "on": "2026-03-01",
        "roles": ["owner"],
        "count": 3,
    }


def test_record_event_without_actor_or_object(session):
    """A system event (no one signed in, no object) is recorded too."""
    record_event(session, None, "system.reference_loaded", regions=12)
    session.commit()

    [event] = events(session)
    assert (event.actor_id, event.object_type, event.object_id) == (None, "", None)
    assert event.details == {"regions": 12}


def test_record_event_gives_a_new_object_its_id(session):
    """An object not yet flushed is flushed first, so the event points at its real id."""
    user = UserFactory.build()
    session.add(user)

    event = record_event(session, user, "account.registered", user)

    assert user.id is not None
    assert (event.actor_id, event.object_id) == (user.id, user.id)


def test_record_event_accepts_the_signed_in_user_proxy(app, session):
    """Views pass `current_user` (a proxy): the event names the user it stands for."""
    user = UserFactory()

    with app.test_request_context():
        login_user(user)
        record_event(session, current_user, "account.signed_out", current_user)
    session.commit()

    [event] = events(session)
    assert (event.actor_id, event.object_type, event.object_id) == (
        user.id,
        "user_account",
        user.id,
    )


# --- append-only (CHECKLIST R13) --------------------------------------------------------------


@pytest.fixture
def stored_event(session):
    actor = UserFactory()
    record_event(session, actor, "account.signed_in", actor)
    session.commit()
    return events(session)[0]


def snapshot(event: AuditEvent) -> dict:
    return {"action": event.action, "details": event.details, "actor_id": event.actor_id}


def assert_unchanged(session, original: dict) -> None:
    """After the refused change is rolled back, the one stored event is as it was written."""
    session.rollback()
    [event] = events(session)
    assert snapshot(event) == original


def test_audit_event_cannot_be_updated_through_the_orm(session, stored_event):
    """Changing a stored event is refused, and the row stays as written. (ASVS 7.3.3,
    CHECKLIST R13)"""
    original = snapshot(stored_event)
    stored_event.action = "account.nothing_happened"
    stored_event.details = {"forged": True}

    with pytest.raises(AuditTrailIsAppendOnly):
        session.flush()

    assert_unchanged(session, original)


def test_audit_event_cannot_be_deleted_through_the_orm(session, stored_event):
    """Removing a stored event is refused, and the row stays. (ASVS 7.3.3, CHECKLIST R13)"""
    original = snapshot(stored_event)
    session.delete(stored_event)

    with pytest.raises(AuditTrailIsAppendOnly):
        session.flush()

    assert_unchanged(session, original)


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(action="account.nothing_happened"),
        delete(AuditEvent),
    ],
    ids=["bulk-update", "bulk-delete"],
)
def test_audit_events_cannot_be_changed_by_a_bulk_orm_statement(session, stored_event, statement):
    """ORM UPDATE and DELETE statements on the trail are refused too. (CHECKLIST R13)"""
    original = snapshot(stored_event)

    with pytest.raises(AuditTrailIsAppendOnly):
        session.execute(statement)

    assert_unchanged(session, original)


# --- one event per state change (CHECKLIST R13) -----------------------------------------------


def new_events(session, since: int) -> Counter:
    """Count by action the events written after the event id `since`."""
    session.expire_all()
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.id > since))
    return Counter(actions)


def last_event_id(session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def association_data(**overrides) -> dict:
    data = {
        "name_ar": "جمعية الأمل",
        "name_fr": "Association Al Amal",
        "acronym": "AA",
        "legal_form": "association",
        "registration_number": "RB-2020-0001",
        "founded_on": date(2020, 1, 1),
        "region": "souss-massa",
        "city": "Agadir",
        "address": "",
        "email": "contact@alamal.example.ma",
        "phone": "",
        "website": "",
        "fields_of_work": ["womens-rights"],
        "target_groups": ["women"],
        "description_ar": "",
        "description_fr": "",
    }
    data.update(overrides)
    return data


def register(session):
    user = accounts.register_user(
        session,
        email="Nadia@Example.org",
        password=TEST_PASSWORD,
        full_name="Nadia Amrani",
        locale="fr",
    )
    return user, user, "user_account"


def create_association(session):
    creator = UserFactory()
    association = organisations.create_association(session, association_data(), creator=creator)
    return creator, association, "association"


def verify_association(session):
    staff = UserFactory(roles=("staff",))
    association = AssociationFactory(owner=UserFactory(), status=AssociationStatus.PENDING)
    organisations.decide_verification(session, association, "verified", "", actor=staff)
    return staff, association, "association"


def reject_association(session):
    staff = UserFactory(roles=("staff",))
    association = AssociationFactory(owner=UserFactory(), status=AssociationStatus.PENDING)
    organisations.decide_verification(
        session, association, "rejected", "Statuts manquants", actor=staff
    )
    return staff, association, "association"


def change_member_role(session):
    owner = UserFactory()
    association = AssociationFactory(owner=owner)
    membership = add_member(association, UserFactory(), "editor")
    organisations.change_member_role(session, membership, "viewer", actor=owner)
    return owner, association, "association"


def grant_role(session):
    admin = UserFactory(roles=("admin",))
    user = UserFactory()
    accounts.grant_role(session, user, Role.EVALUATOR, actor=admin)
    return admin, user, "user_account"


STATE_CHANGES = [
    (register, "account.registered"),
    (create_association, "association.created"),
    (verify_association, "association.verified"),
    (reject_association, "association.rejected"),
    (change_member_role, "association.member_role_changed"),
    (grant_role, "account.role_granted"),
]


@pytest.mark.parametrize(
    ("change", "action"), STATE_CHANGES, ids=[action for _, action in STATE_CHANGES]
)
def test_each_state_change_writes_exactly_one_audit_event(session, change, action):
    """A service that changes state records one event, naming the actor and the object.
    (ASVS 7.1.3, CHECKLIST R13)"""
    since = last_event_id(session)

    actor, obj, object_type = change(session)
    session.commit()

    assert new_events(session, since) == Counter({action: 1})
    event = session.scalars(select(AuditEvent).where(AuditEvent.id > since)).one()
    assert (event.actor_id, event.object_type, event.object_id) == (actor.id, object_type, obj.id)


def test_member_role_change_records_before_and_after(session):
    """The details of a role change say who changed and from what to what."""
    owner = UserFactory()
    member = UserFactory()
    association = AssociationFactory(owner=owner)
    membership = add_member(association, member, "editor")

    organisations.change_member_role(session, membership, "viewer", actor=owner)
    session.commit()

    [event] = events(session)
    assert event.details == {"member": member.id, "before": "editor", "after": "viewer"}


def test_a_change_that_changes_nothing_writes_no_event(session):
    """Giving a member the role they already have, or a role the user holds, is not audited."""
    owner = UserFactory(roles=("admin",))
    association = AssociationFactory(owner=owner)
    membership = add_member(association, UserFactory(), "editor")

    organisations.change_member_role(session, membership, MemberRole.EDITOR, actor=owner)
    accounts.grant_role(session, owner, Role.ADMIN, actor=owner)
    session.commit()

    assert event_count(session) == 0


def test_a_refused_change_writes_no_event(session):
    """The last owner cannot be demoted; a rejection needs a reason: neither is audited."""
    owner = UserFactory()
    staff = UserFactory(roles=("staff",))
    association = AssociationFactory(owner=owner, status=AssociationStatus.PENDING)

    with pytest.raises(organisations.AssociationError):
        organisations.change_member_role(session, association.memberships[0], "viewer", actor=owner)
    with pytest.raises(organisations.AssociationError):
        organisations.decide_verification(session, association, "rejected", "  ", actor=staff)
    session.commit()

    assert event_count(session) == 0
    session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert association.memberships[0].role == MemberRole.OWNER
