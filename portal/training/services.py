"""Enrolment rules: clean a participant, enrol (a seat or the waitlist) without over-booking,
cancel and promote the first on the waitlist, hold seats for an association, cancel a whole
session; the signed link to a participant's pass.

Every write to a session's seats starts with `lock_session`, the transaction's first statement:
on PostgreSQL it takes the session row's lock, so enrolments and cancellations of one session
run one after another; on SQLite it takes the database write lock at once (as BEGIN IMMEDIATE
would), so parallel requests wait on the busy timeout instead of failing with "database is
locked". Every check runs after it, on a fresh read. The seat itself is taken by a conditional
UPDATE, and the check constraint `seats_taken <= capacity` is the last guard. The caller commits.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from portal.accounts import tokens
from portal.audit.services import record_event
from portal.db import database_now
from portal.notifications.services import queue_message
from portal.organisations.models import Association
from portal.qr import qr_png_data_uri
from portal.rules import RuleRefused
from portal.training.models import (
    Enrolment,
    EnrolmentStatus,
    SeatReservation,
    SessionStatus,
    TrainingSession,
)
from portal.web.links import external_url

LOCALES = ("ar", "fr")
SEXES = ("female", "male")
LIVE = (EnrolmentStatus.CONFIRMED, EnrolmentStatus.WAITLISTED)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at the door
CODE_LENGTH = 8
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
PHONE_PATTERN = re.compile(r"^[0-9 +()\-]+$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The purpose signing the links to participants' passes, and nothing else.
ADMISSION_LINK = "training-admission"


class EnrolmentError(RuleRefused):
    """An enrolment, cancellation or reservation that the rules refuse."""


# --- the participant ------------------------------------------------------------------------


def _text(data: dict, name: str, max_length: int, *, multiline: bool = False) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str):
        raise EnrolmentError(_l("This value is not valid."), field=name)
    value = value.strip()
    if CONTROL_CHARACTERS.search(value) or (not multiline and re.search(r"[\r\n\t]", value)):
        raise EnrolmentError(_l("Control characters are not allowed."), field=name)
    if len(value) > max_length:
        raise EnrolmentError(
            _l("At most %(n)d characters.", n=max_length),
            field=name,
        )
    return value


def clean_participant(data: dict) -> dict:
    """Return the participant's details, checked and normalised; refuse the first bad field."""
    full_name = " ".join(_text(data, "full_name", 120).split())
    if not full_name:
        raise EnrolmentError(_l("Enter the participant's full name."), field="full_name")
    sex = _text(data, "sex", 10)
    if sex not in SEXES:
        raise EnrolmentError(_l("Choose female or male."), field="sex")
    role = _text(data, "role", 120)
    email = _text(data, "email", 254).lower()
    if not email:
        raise EnrolmentError(_l("Enter the participant's e-mail address."), field="email")
    if not EMAIL_PATTERN.match(email):
        raise EnrolmentError(
            _l("Enter a valid e-mail address, like name@example.org."), field="email"
        )
    phone = " ".join(_text(data, "phone", 30).split())
    if phone:
        digits = sum(character.isdigit() for character in phone)
        if not PHONE_PATTERN.match(phone) or not 8 <= digits <= 20:
            raise EnrolmentError(
                _l("Enter a phone number of 8 to 20 digits; spaces and + - ( ) are allowed."),
                field="phone",
            )
    accessibility_needs = _text(data, "accessibility_needs", 1000, multiline=True)
    locale = _text(data, "locale", 2) or "ar"
    if locale not in LOCALES:
        raise EnrolmentError(_l("Choose Arabic or French."), field="locale")
    return {
        "full_name": full_name,
        "sex": sex,
        "role": role,
        "email": email,
        "phone": phone,
        "accessibility_needs": accessibility_needs,
        "locale": locale,
    }


# --- locking and counting -------------------------------------------------------------------


def lock_session(session: Session, training_session_id: int) -> TrainingSession:
    """Serialise the writes to one session's seats; return its row, read after the lock."""
    result = session.execute(
        text("UPDATE training_session SET seats_taken = seats_taken WHERE id = :id"),
        {"id": training_session_id},
    )
    if result.rowcount != 1:
        raise EnrolmentError(_l("This session does not exist."))
    return session.scalars(
        select(TrainingSession)
        .where(TrainingSession.id == training_session_id)
        .execution_options(populate_existing=True)
    ).one()


def _count(session: Session, *conditions) -> int:
    return session.scalar(select(func.count(Enrolment.id)).where(*conditions))


def held_seats(
    session: Session, training_session: TrainingSession, now: datetime, *, except_for=None
) -> int:
    """Seats that unexpired reservations still hold (those of `except_for` left out).

    A reservation guarantees its association up to `seats` confirmed places: it holds the part
    its association has not taken yet, until `until`; then the seats return to the pool. One
    query, whatever the number of reservations.
    """
    taken = (
        select(Enrolment.association_id, func.count(Enrolment.id).label("confirmed"))
        .where(
            Enrolment.session_id == training_session.id,
            Enrolment.status == EnrolmentStatus.CONFIRMED,
        )
        .group_by(Enrolment.association_id)
        .subquery()
    )
    query = (
        select(SeatReservation.seats, func.coalesce(taken.c.confirmed, 0))
        .outerjoin(taken, taken.c.association_id == SeatReservation.association_id)
        .where(SeatReservation.session_id == training_session.id, SeatReservation.until > now)
    )
    if except_for is not None:
        query = query.where(SeatReservation.association_id != except_for.id)
    return sum(max(0, seats - confirmed) for seats, confirmed in session.execute(query))


def _take_seat(session: Session, training_session: TrainingSession) -> bool:
    result = session.execute(
        update(TrainingSession)
        .where(
            TrainingSession.id == training_session.id,
            TrainingSession.seats_taken < TrainingSession.capacity,
        )
        .values(seats_taken=TrainingSession.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(training_session, ["seats_taken"])
    return result.rowcount == 1


def _free_seat(session: Session, training_session: TrainingSession) -> None:
    session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == training_session.id, TrainingSession.seats_taken > 0)
        .values(seats_taken=TrainingSession.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(training_session, ["seats_taken"])


def new_registration_code(session: Session) -> str:
    """Return an unused code of 8 unambiguous characters (the unique column is the guard)."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(Enrolment.id).where(Enrolment.registration_code == code)) is None:
            return code


def waitlist_position(session: Session, enrolment: Enrolment) -> int | None:
    """Return the enrolment's place on its session's waitlist (1 is next), or None."""
    if enrolment.status != EnrolmentStatus.WAITLISTED:
        return None
    return 1 + _count(
        session,
        Enrolment.session_id == enrolment.session_id,
        Enrolment.status == EnrolmentStatus.WAITLISTED,
        Enrolment.id < enrolment.id,
    )


# --- enrolling ------------------------------------------------------------------------------


def _check_session_open(training_session: TrainingSession, now: datetime) -> None:
    if training_session.status != SessionStatus.PUBLISHED:
        raise EnrolmentError(_l("This session is not open for enrolment."))
    if now < training_session.enrolment_opens_at:
        raise EnrolmentError(_l("Enrolment for this session has not opened yet."))
    if now >= training_session.enrolment_closes_at:
        raise EnrolmentError(_l("Enrolment for this session is closed."))


def _check_association(training_session: TrainingSession, association: Association) -> None:
    if training_session.verified_only and not association.is_verified:
        raise EnrolmentError(_l("The association must be verified by staff first."))
    regions = training_session.eligible_regions or []
    if regions and association.region.code not in regions:
        raise EnrolmentError(_l("This session is open to associations of other regions."))
    fields = training_session.eligible_fields or []
    if fields and not set(association.fields_of_work or []) & set(fields):
        raise EnrolmentError(_l("This session is open to associations of other fields of work."))


def enrol(
    session: Session,
    training_session_id: int,
    association: Association,
    data: dict,
    *,
    actor,
    now: datetime | None = None,
) -> Enrolment:
    """Enrol a participant of the association: a seat if one is free, else the waitlist."""
    participant = clean_participant(data)  # no SQL: the lock stays the first statement
    training_session = lock_session(session, training_session_id)
    association = session.scalars(
        select(Association)
        .where(Association.id == association.id)
        .execution_options(populate_existing=True)
    ).one()
    now = now or database_now(session)
    _check_session_open(training_session, now)
    _check_association(training_session, association)
    if _count(
        session,
        Enrolment.session_id == training_session.id,
        Enrolment.email == participant["email"],
        Enrolment.status.in_(LIVE),
    ):
        raise EnrolmentError(_l("This person is already enrolled in this session."), field="email")
    live = _count(
        session,
        Enrolment.session_id == training_session.id,
        Enrolment.association_id == association.id,
        Enrolment.status.in_(LIVE),
    )
    if live >= training_session.per_association_cap:
        raise EnrolmentError(
            _l(
                "An association may enrol at most %(n)d participants in this session.",
                n=training_session.per_association_cap,
            )
        )

    free = (
        training_session.capacity
        - training_session.seats_taken
        - held_seats(session, training_session, now, except_for=association)
    )
    confirmed = free > 0 and _take_seat(session, training_session)
    enrolment = Enrolment(
        session_id=training_session.id,
        association_id=association.id,
        status=EnrolmentStatus.CONFIRMED if confirmed else EnrolmentStatus.WAITLISTED,
        created_by_id=actor.id,
        **participant,
    )
    if confirmed:
        enrolment.registration_code = new_registration_code(session)
        enrolment.confirmed_at = now
    session.add(enrolment)
    session.flush()
    position = waitlist_position(session, enrolment)
    record_event(
        session,
        actor,
        "training.enrolled",
        enrolment,
        session_id=training_session.id,
        association_id=association.id,
        status=enrolment.status.value,
        waitlist_position=position,
    )
    if confirmed:
        _mail_place(session, enrolment, training_session, "training_confirmed")
    else:
        _mail(session, enrolment, training_session, "training_waitlisted", position=position)
    return enrolment


def _mail(session, enrolment, training_session, template: str, **context) -> None:
    queue_message(
        session,
        enrolment.email,
        enrolment.locale,
        template,
        enrolment=enrolment,
        training_session=training_session,
        module=training_session.module,
        **context,
    )


def _mail_place(session, enrolment, training_session, template: str) -> None:
    """Mail a confirmed place: its code, the link to the pass, the QR code staff scan."""
    _mail(
        session,
        enrolment,
        training_session,
        template,
        pass_url=external_url("training.participant_pass", token=pass_token(enrolment.id)),
        check_in_url=check_in_url(enrolment.registration_code),
        qr_png_data_uri=qr_png_data_uri,
    )


# --- the participant's pass -----------------------------------------------------------------


def pass_token(enrolment_id: int) -> str:
    """Sign the enrolment's id for the link to the participant's pass (it does not expire)."""
    return tokens.make_lasting_token(ADMISSION_LINK, enrolment_id)


def enrolment_id_from_pass_token(token: str) -> int | None:
    """Return the enrolment id a pass link carries, or None when it was altered or forged."""
    return tokens.read_lasting_token(ADMISSION_LINK, token)


def check_in_url(registration_code: str) -> str:
    """Return the staff check-in page for a code: what the participant's QR code encodes."""
    return external_url("training.check_in", code=registration_code)


# --- cancelling -----------------------------------------------------------------------------


def cancel(
    session: Session,
    enrolment: Enrolment,
    *,
    actor,
    by_staff: bool,
    now: datetime | None = None,
) -> Enrolment | None:
    """Cancel an enrolment; a freed seat goes to the first on the waitlist, in this same
    transaction. Return the promoted enrolment, if any."""
    training_session = lock_session(session, enrolment.session_id)
    session.refresh(enrolment)
    now = now or database_now(session)
    if enrolment.status == EnrolmentStatus.CANCELLED:
        raise EnrolmentError(_l("This enrolment is already cancelled."))
    if not by_staff and now >= training_session.enrolment_closes_at:
        raise EnrolmentError(
            _l("Enrolment is closed: ask the programme staff to cancel this place.")
        )
    was_confirmed = enrolment.status == EnrolmentStatus.CONFIRMED
    enrolment.status = EnrolmentStatus.CANCELLED
    enrolment.cancelled_at = now
    enrolment.cancelled_by_id = actor.id
    session.flush()
    record_event(
        session,
        actor,
        "training.cancelled",
        enrolment,
        session_id=training_session.id,
        was=("confirmed" if was_confirmed else "waitlisted"),
        by_staff=by_staff,
    )
    _mail(session, enrolment, training_session, "training_cancelled", by_staff=by_staff)
    if not was_confirmed:
        return None
    _free_seat(session, training_session)
    return _promote_first(session, training_session, actor=actor, now=now)


def _promote_first(session: Session, training_session: TrainingSession, *, actor, now):
    first = session.scalars(
        select(Enrolment)
        .where(
            Enrolment.session_id == training_session.id,
            Enrolment.status == EnrolmentStatus.WAITLISTED,
        )
        .order_by(Enrolment.id)
        .limit(1)
    ).first()
    if first is None or not _take_seat(session, training_session):
        return None
    first.status = EnrolmentStatus.CONFIRMED
    first.confirmed_at = now
    first.registration_code = new_registration_code(session)
    session.flush()
    record_event(session, actor, "training.promoted", first, session_id=training_session.id)
    _mail_place(session, first, training_session, "training_promoted")
    return first


# --- reservations ---------------------------------------------------------------------------


def reserve_seats(
    session: Session,
    training_session: TrainingSession,
    association: Association,
    seats: int,
    until: datetime,
    reason: str,
    *,
    actor,
) -> SeatReservation:
    """Hold seats of a session for one association until a date (staff); one reservation per
    association and session, replaced when made again."""
    training_session = lock_session(session, training_session.id)
    now = database_now(session)
    if not isinstance(seats, int) or seats < 1:
        raise EnrolmentError(_l("Reserve at least one seat."), field="seats")
    if until is None or until <= now:
        raise EnrolmentError(_l("The reservation must end in the future."), field="until")
    if training_session.status == SessionStatus.CANCELLED:
        raise EnrolmentError(_l("This session is cancelled."))
    reason = (reason or "").strip()
    if CONTROL_CHARACTERS.search(reason):
        raise EnrolmentError(_l("Control characters are not allowed."), field="reason")
    taken = _count(
        session,
        Enrolment.session_id == training_session.id,
        Enrolment.association_id == association.id,
        Enrolment.status == EnrolmentStatus.CONFIRMED,
    )
    available = (
        training_session.capacity
        - training_session.seats_taken
        - held_seats(session, training_session, now, except_for=association)
    )
    if seats - taken > available:
        raise EnrolmentError(
            _l("Only %(n)d seats can still be reserved in this session.", n=available + taken),
            field="seats",
        )
    reservation = session.scalar(
        select(SeatReservation).where(
            SeatReservation.session_id == training_session.id,
            SeatReservation.association_id == association.id,
        )
    )
    if reservation is None:
        reservation = SeatReservation(
            session_id=training_session.id,
            association_id=association.id,
            created_by_id=actor.id,
            seats=seats,
            until=until,
            reason=reason,
        )
        session.add(reservation)
    else:
        reservation.seats, reservation.until, reservation.reason = seats, until, reason
    session.flush()
    record_event(
        session,
        actor,
        "training.seats_reserved",
        reservation,
        session_id=training_session.id,
        association_id=association.id,
        seats=seats,
        until=until.isoformat(),
    )
    return reservation


def find_association(session: Session, registration_number: str) -> Association:
    """Return the association with this registration number (spaces and case ignored)."""
    number = " ".join((registration_number or "").split()).upper()
    association = (
        session.scalar(
            select(Association).where(func.upper(Association.registration_number) == number)
        )
        if number
        else None
    )
    if association is None:
        raise EnrolmentError(
            _l("No association is registered under the number %(number)s.", number=number or "—"),
            field="registration_number",
        )
    return association


def release_reservation(session: Session, reservation: SeatReservation, *, actor) -> None:
    """Delete a reservation: the seats it still held go back to the general pool."""
    lock_session(session, reservation.session_id)
    still_there = select(SeatReservation.id).where(SeatReservation.id == reservation.id)
    if session.scalar(still_there) is None:
        raise EnrolmentError(_l("This reservation was already released."))
    session.refresh(reservation)
    record_event(
        session,
        actor,
        "training.reservation_released",
        reservation,
        session_id=reservation.session_id,
        association_id=reservation.association_id,
        seats=reservation.seats,
        until=reservation.until.isoformat(),
    )
    session.delete(reservation)
    session.flush()


# --- cancelling a whole session -------------------------------------------------------------


def _reason(value) -> str:
    reason = (value or "").strip() if isinstance(value, str) else ""
    if not reason:
        raise EnrolmentError(
            _l("Give the reason: every participant receives it by e-mail."), field="reason"
        )
    if CONTROL_CHARACTERS.search(reason):
        raise EnrolmentError(_l("Control characters are not allowed."), field="reason")
    if len(reason) > 2000:
        raise EnrolmentError(_l("At most %(n)d characters.", n=2000), field="reason")
    return reason


def cancel_session(
    session: Session,
    training_session: TrainingSession,
    reason: str,
    *,
    actor,
    now: datetime | None = None,
) -> list[Enrolment]:
    """Cancel a session: every live place is cancelled and its holder told why, in their
    language; the seats return to zero. All in this one transaction; return the places."""
    reason = _reason(reason)  # no SQL: the lock stays the first statement
    training_session = lock_session(session, training_session.id)
    now = now or database_now(session)
    if training_session.status == SessionStatus.CANCELLED:
        raise EnrolmentError(_l("This session is already cancelled."))
    places = list(
        session.scalars(
            select(Enrolment)
            .where(Enrolment.session_id == training_session.id, Enrolment.status.in_(LIVE))
            .order_by(Enrolment.id)
        )
    )
    was = {place.id: place.status.value for place in places}
    for place in places:
        place.status = EnrolmentStatus.CANCELLED
        place.cancelled_at = now
        place.cancelled_by_id = actor.id
    session.flush()
    session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == training_session.id)
        .values(seats_taken=0, status=SessionStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    session.refresh(training_session, ["seats_taken", "status"])
    record_event(
        session,
        actor,
        "training.session_cancelled",
        training_session,
        reason=reason,
        confirmed=sum(status == "confirmed" for status in was.values()),
        waitlisted=sum(status == "waitlisted" for status in was.values()),
    )
    for place in places:
        record_event(
            session,
            actor,
            "training.cancelled",
            place,
            session_id=training_session.id,
            was=was[place.id],
            by_staff=True,
            session_cancelled=True,
        )
        _mail(session, place, training_session, "training_session_cancelled", reason=reason)
    return places
