"""Enrolling participants: a seat or the waitlist, and every rule and bad input of issue 7 that
concerns enrolment. After a refusal the caller rolls back and nothing is left half-written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.notifications.models import OutboxMessage
from portal.organisations.models import AssociationStatus
from portal.training import services
from portal.training.models import (
    Enrolment,
    EnrolmentStatus,
    SeatReservation,
    SessionStatus,
    TrainingSession,
)
from portal.training.services import CODE_ALPHABET, EnrolmentError
from tests import factories
from tests.training.conftest import participant, verified_association


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


def enrol(session, training, association, actor, **fields):
    enrolment = services.enrol(
        session, training.id, association, participant(**fields), actor=actor
    )
    session.commit()
    return enrolment


def english(message) -> str:
    """The message id (English), whatever the default language of the portal."""
    with force_locale("en"):
        return str(message)


def refused(session, training, association, actor, data=None, **fields) -> EnrolmentError:
    """Try an enrolment that must be refused; roll back as the caller does; check that nothing
    was written."""
    before = (
        count(session, Enrolment),
        count(session, AuditEvent),
        count(session, OutboxMessage),
        session.get(TrainingSession, training.id).seats_taken,
    )
    with pytest.raises(EnrolmentError) as caught:
        services.enrol(
            session, training.id, association, data or participant(**fields), actor=actor
        )
    session.rollback()
    after = (
        count(session, Enrolment),
        count(session, AuditEvent),
        count(session, OutboxMessage),
        session.get(TrainingSession, training.id).seats_taken,
    )
    assert after == before
    return caught.value


# --- a seat, then the waitlist --------------------------------------------------------------


def test_a_participant_gets_a_seat_a_code_an_audit_event_and_a_mail_in_their_language(
    session, training, association, owner
):
    enrolment = enrol(session, training, association, owner, locale="fr", email="Amina@Example.ORG")

    session.expire_all()
    assert enrolment.status == EnrolmentStatus.CONFIRMED
    assert enrolment.email == "amina@example.org"
    assert len(enrolment.registration_code) == 8
    assert set(enrolment.registration_code) <= set(CODE_ALPHABET)
    assert enrolment.confirmed_at is not None
    assert session.get(TrainingSession, training.id).seats_taken == 1
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "training.enrolled"))
    assert event.object_id == enrolment.id and event.details["status"] == "confirmed"
    mail = session.scalar(select(OutboxMessage))
    assert (mail.recipient, mail.locale, mail.template) == (
        "amina@example.org",
        "fr",
        "training_confirmed",
    )
    assert enrolment.registration_code in mail.body_text
    assert enrolment.registration_code in mail.body_html
    assert "Maison des associations" in mail.body_text
    assert training.starts_on.isoformat() in mail.body_text


def test_a_full_session_puts_the_participant_on_the_waitlist_with_their_position(session):
    training = factories.training_session(capacity=2)
    enrolled = []
    for _ in range(3):
        association, owner = verified_association()
        enrolled += [enrol(session, training, association, owner) for _ in range(2)]

    session.expire_all()
    statuses = [enrolment.status for enrolment in enrolled]
    assert statuses == [EnrolmentStatus.CONFIRMED] * 2 + [EnrolmentStatus.WAITLISTED] * 4
    assert [services.waitlist_position(session, e) for e in enrolled] == [None, None, 1, 2, 3, 4]
    assert all(e.registration_code is None for e in enrolled[2:])
    assert session.get(TrainingSession, training.id).seats_taken == 2
    waitlisted = session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == enrolled[4].email)
        .order_by(OutboxMessage.id)
    )
    assert waitlisted.template == "training_waitlisted"
    assert "3" in waitlisted.subject


def test_beyond_the_association_cap_is_refused_waitlisted_places_included(session):
    training = factories.training_session(capacity=1, per_association_cap=2)
    association, owner = verified_association()
    enrol(session, training, association, owner)  # confirmed
    enrol(session, training, association, owner)  # waitlisted: it counts too

    error = refused(session, training, association, owner)

    assert "at most 2" in english(error.message)


def test_a_cancelled_place_no_longer_counts_towards_the_cap(session, training, association, owner):
    first = enrol(session, training, association, owner)
    enrol(session, training, association, owner)
    services.cancel(session, first, actor=owner, by_staff=False)
    session.commit()

    assert enrol(session, training, association, owner).status == EnrolmentStatus.CONFIRMED


@pytest.mark.parametrize(
    ("opens", "closes"),
    [(timedelta(hours=1), timedelta(days=3)), (-timedelta(days=3), -timedelta(seconds=1))],
    ids=["not-yet-open", "closed"],
)
def test_outside_the_enrolment_window_is_refused(session, association, owner, opens, closes):
    training = factories.training_session(
        enrolment_opens_at=utcnow() + opens, enrolment_closes_at=utcnow() + closes
    )

    refused(session, training, association, owner)


@pytest.mark.parametrize("status", [SessionStatus.DRAFT, SessionStatus.CANCELLED])
def test_a_draft_or_cancelled_session_is_refused(session, association, owner, status):
    training = factories.training_session(status=status)

    refused(session, training, association, owner)


def test_the_same_person_twice_is_refused_whatever_the_case_or_association(
    session, training, association, owner
):
    enrol(session, training, association, owner, email="same@example.org")
    other, other_owner = verified_association()

    error = refused(session, training, other, other_owner, email="  SAME@example.org ")

    assert error.field == "email"


def test_the_same_person_may_enrol_again_after_cancelling(session, training, association, owner):
    first = enrol(session, training, association, owner, email="back@example.org")
    services.cancel(session, first, actor=owner, by_staff=False)
    session.commit()

    again = enrol(session, training, association, owner, email="back@example.org")

    assert again.status == EnrolmentStatus.CONFIRMED


@pytest.mark.parametrize("status", [AssociationStatus.PENDING, AssociationStatus.REJECTED])
def test_an_unverified_association_is_refused(session, training, status):
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner, status=status)

    error = refused(session, training, association, owner)

    assert "verified" in english(error.message)


def test_an_unverified_association_may_enrol_when_the_session_allows_it(session):
    training = factories.training_session(verified_only=False)
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner, status=AssociationStatus.PENDING)

    assert enrol(session, training, association, owner).status == EnrolmentStatus.CONFIRMED


def test_regions_and_fields_of_work_not_eligible_are_refused(session, association, owner):
    other_region = factories.training_session(eligible_regions=["souss-massa"])
    refused(session, other_region, association, owner)

    association.fields_of_work = ["childrens-rights"]
    session.commit()
    other_field = factories.training_session(eligible_fields=["womens-rights"])
    refused(session, other_field, association, owner)

    both = factories.training_session(
        eligible_regions=["souss-massa", "rabat-sale-kenitra"], eligible_fields=["childrens-rights"]
    )
    assert enrol(session, both, association, owner).status == EnrolmentStatus.CONFIRMED


# --- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", ""),
        ("email", "amina"),
        ("email", "amina@"),
        ("email", "amina@example"),
        ("email", "amina @example.org"),
        ("email", "a@b@example.org"),
        ("phone", "12345"),  # too few digits
        ("phone", "1" * 21),  # too many
        ("phone", "06 12 34 ab 78"),
        ("phone", "06123456#78"),
        ("full_name", ""),
        ("full_name", "   "),
        ("full_name", "x" * 121),
        ("full_name", "Amina\x00"),
        ("full_name", "Amina\nBennani"),
        ("role", "r" * 121),
        ("role", "\x1b[31m"),
        ("accessibility_needs", "a" * 1001),
        ("accessibility_needs", "rampe\x07"),
        ("sex", ""),
        ("sex", "other"),
        ("locale", "en"),
    ],
)
def test_malformed_input_is_refused_with_a_message_on_its_field(
    session, training, association, owner, field, value
):
    error = refused(session, training, association, owner, **{field: value})

    assert error.field == field
    assert str(error.message)


@pytest.mark.parametrize(
    "phone", ["", "0612345678", "+212 6 12 34 56 78", "(+212) 612-345-678", "12345678"]
)
def test_valid_phones_are_accepted(phone):
    assert services.clean_participant(participant(phone=phone))["phone"] == phone


def test_clean_participant_normalises_and_defaults_the_language():
    data = participant(full_name="  Amina   Bennani ", email=" Amina@Example.org ")
    del data["locale"]

    cleaned = services.clean_participant(data)

    assert cleaned["full_name"] == "Amina Bennani"
    assert cleaned["email"] == "amina@example.org"
    assert cleaned["locale"] == "ar"


def test_accessibility_needs_may_span_several_lines():
    cleaned = services.clean_participant(participant(accessibility_needs="rampe\naccès"))

    assert cleaned["accessibility_needs"] == "rampe\naccès"


# --- reservations ---------------------------------------------------------------------------


def test_seats_held_for_another_association_are_not_free(session, staff):
    training = factories.training_session(capacity=3)
    funded, funded_owner = verified_association()
    other, other_owner = verified_association()
    services.reserve_seats(
        session, training, funded, 2, utcnow() + timedelta(days=3), "financée", actor=staff
    )
    session.commit()

    first = enrol(session, training, other, other_owner)
    second = enrol(session, training, other, other_owner)

    assert first.status == EnrolmentStatus.CONFIRMED
    assert second.status == EnrolmentStatus.WAITLISTED  # the 2 others are held
    own = [enrol(session, training, funded, funded_owner) for _ in range(2)]
    assert [e.status for e in own] == [EnrolmentStatus.CONFIRMED] * 2
    assert session.get(TrainingSession, training.id).seats_taken == 3


def test_an_expired_reservation_returns_its_seats_to_the_pool(session, staff):
    training = factories.training_session(capacity=2)
    funded, _ = verified_association()
    other, other_owner = verified_association()
    session.add(
        SeatReservation(
            session_id=training.id,
            association_id=funded.id,
            seats=2,
            until=utcnow() - timedelta(seconds=1),
            created_by_id=staff.id,
        )
    )
    session.commit()

    assert enrol(session, training, other, other_owner).status == EnrolmentStatus.CONFIRMED


def test_reserving_more_than_the_free_seats_minus_other_reservations_is_refused(session, staff):
    training = factories.training_session(capacity=4)
    first, first_owner = verified_association()
    second, _ = verified_association()
    until = utcnow() + timedelta(days=3)
    enrol(session, training, first, first_owner)  # 3 left
    services.reserve_seats(session, training, first, 2, until, "", actor=staff)  # holds 1 more
    session.commit()

    with pytest.raises(EnrolmentError) as caught:
        services.reserve_seats(session, training, second, 3, until, "", actor=staff)
    session.rollback()

    assert caught.value.field == "seats"
    assert count(session, SeatReservation) == 1
    services.reserve_seats(session, training, second, 2, until, "invitée", actor=staff)
    session.commit()
    assert count(session, SeatReservation) == 2
    assert count(session, AuditEvent, AuditEvent.action == "training.seats_reserved") == 2


@pytest.mark.parametrize(
    ("seats", "until"), [(0, timedelta(days=1)), (1, -timedelta(seconds=1))], ids=["none", "past"]
)
def test_a_reservation_needs_seats_and_a_future_date(session, staff, association, seats, until):
    training = factories.training_session()

    with pytest.raises(EnrolmentError):
        services.reserve_seats(
            session, training, association, seats, utcnow() + until, "", actor=staff
        )
