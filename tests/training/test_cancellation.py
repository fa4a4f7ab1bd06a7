"""Cancelling a place: the seat goes to the first on the waitlist in the same transaction, who
is mailed a registration code; a waitlisted place just leaves the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.notifications.models import OutboxMessage
from portal.training import services
from portal.training.models import Enrolment, EnrolmentStatus, TrainingSession
from portal.training.services import EnrolmentError
from tests import factories
from tests.training.conftest import participant, verified_association


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


def fill(session, training, places: int) -> list[tuple[Enrolment, object]]:
    """Enrol `places` participants, two per new association: [(enrolment, owner)]."""
    made = []
    while len(made) < places:
        association, owner = verified_association()
        for _ in range(min(2, places - len(made))):
            enrolment = services.enrol(
                session, training.id, association, participant(), actor=owner
            )
            session.commit()
            made.append((enrolment, owner))
    return made


def test_cancelling_a_confirmed_place_promotes_the_first_waitlisted_in_the_same_transaction(
    session,
):
    training = factories.training_session(capacity=2)
    (first, first_owner), _second, (waiting, _), (later, _) = fill(session, training, 4)
    assert [waiting.status, later.status] == [EnrolmentStatus.WAITLISTED] * 2

    promoted = services.cancel(session, first, actor=first_owner, by_staff=False)
    # Before the commit: one transaction holds the cancellation, the promotion and the mail.
    assert promoted.id == waiting.id
    session.rollback()
    session.expire_all()
    assert session.get(Enrolment, first.id).status == EnrolmentStatus.CONFIRMED
    assert session.get(Enrolment, waiting.id).status == EnrolmentStatus.WAITLISTED
    assert count(session, OutboxMessage, OutboxMessage.template == "training_promoted") == 0

    promoted = services.cancel(session, first, actor=first_owner, by_staff=False)
    session.commit()
    session.expire_all()

    assert session.get(Enrolment, first.id).status == EnrolmentStatus.CANCELLED
    assert session.get(Enrolment, first.id).cancelled_by_id == first_owner.id
    promoted = session.get(Enrolment, waiting.id)
    assert promoted.status == EnrolmentStatus.CONFIRMED
    assert promoted.registration_code and promoted.confirmed_at
    assert services.waitlist_position(session, session.get(Enrolment, later.id)) == 1
    assert session.get(TrainingSession, training.id).seats_taken == 2
    mail = session.scalar(
        select(OutboxMessage).where(OutboxMessage.template == "training_promoted")
    )
    assert mail.recipient == promoted.email
    assert promoted.registration_code in mail.body_text
    actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["training.cancelled", "training.promoted"]


def test_cancelling_a_confirmed_place_with_nobody_waiting_frees_the_seat(session, training):
    ((enrolment, owner),) = fill(session, training, 1)

    assert services.cancel(session, enrolment, actor=owner, by_staff=False) is None
    session.commit()

    assert session.get(TrainingSession, training.id).seats_taken == 0
    assert count(session, OutboxMessage, OutboxMessage.template == "training_promoted") == 0


def test_cancelling_a_waitlisted_place_just_leaves_the_list(session):
    training = factories.training_session(capacity=1)
    _confirmed, _other, (waiting, owner), (later, _) = fill(session, training, 4)

    assert services.cancel(session, waiting, actor=owner, by_staff=False) is None
    session.commit()
    session.expire_all()

    assert session.get(Enrolment, waiting.id).status == EnrolmentStatus.CANCELLED
    assert services.waitlist_position(session, session.get(Enrolment, later.id)) == 2
    assert session.get(TrainingSession, training.id).seats_taken == 1
    assert count(session, AuditEvent, AuditEvent.action == "training.cancelled") == 1
    assert count(session, AuditEvent, AuditEvent.action == "training.promoted") == 0


def test_cancelling_twice_is_refused(session, training):
    ((enrolment, owner),) = fill(session, training, 1)
    services.cancel(session, enrolment, actor=owner, by_staff=False)
    session.commit()

    with pytest.raises(EnrolmentError):
        services.cancel(session, enrolment, actor=owner, by_staff=True)
    session.rollback()

    assert session.get(TrainingSession, training.id).seats_taken == 0
    assert count(session, AuditEvent, AuditEvent.action == "training.cancelled") == 1


def test_after_the_window_only_staff_may_cancel_and_the_waitlist_still_moves(session, staff):
    training = factories.training_session(capacity=1)
    (confirmed, owner), (waiting, _) = fill(session, training, 2)
    training.enrolment_closes_at = utcnow() - timedelta(seconds=1)
    session.commit()

    with pytest.raises(EnrolmentError):
        services.cancel(session, confirmed, actor=owner, by_staff=False)
    session.rollback()
    assert session.get(Enrolment, confirmed.id).status == EnrolmentStatus.CONFIRMED

    promoted = services.cancel(session, confirmed, actor=staff, by_staff=True)
    session.commit()

    assert promoted.id == waiting.id
    assert session.get(TrainingSession, training.id).seats_taken == 1
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "training.cancelled"))
    assert event.actor_id == staff.id and event.details["by_staff"] is True
