"""Reading enrolments for the pages: an association's places grouped by session, a session's
roster for staff, one enrolment with its session. Each list is read in a fixed number of queries,
whatever the number of rows (waitlist positions come from one window function)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.organisations.models import Association, MemberRole
from portal.organisations.services import associations_of
from portal.training.models import (
    Certificate,
    Enrolment,
    EnrolmentStatus,
    Module,
    SeatReservation,
    TrainingSession,
)
from portal.training.services import held_seats

MAY_ENROL = (MemberRole.OWNER, MemberRole.EDITOR)


@dataclass(frozen=True)
class Place:
    """An enrolment, its position on the session's waitlist when it waits (1 is next), and its
    certificate once issued."""

    enrolment: Enrolment
    position: int | None = None
    certificate: Certificate | None = None


@dataclass
class SessionPlaces:
    """One session and the places an association holds in it."""

    training_session: TrainingSession
    places: list[Place] = field(default_factory=list)


@dataclass(frozen=True)
class Roster:
    """A session's enrolments for staff: counts, lists in order, and the reservations."""

    confirmed: list[Enrolment]
    waitlisted: list[Enrolment]
    cancelled: list[Enrolment]
    reservations: list[SeatReservation]
    held: int

    @property
    def confirmed_by_association(self) -> Counter:
        """Count the confirmed places of each association (what a reservation has covered)."""
        return Counter(enrolment.association_id for enrolment in self.confirmed)


def associations_user_may_enrol_for(session: Session, user) -> list[Association]:
    """Return the associations in which the user is owner or editor."""
    return [
        association for association, role in associations_of(session, user) if role in MAY_ENROL
    ]


def load_enrolment(session: Session, enrolment_id: int) -> Enrolment | None:
    """Return an enrolment with its association, session, module and region, or None."""
    return session.scalar(
        select(Enrolment)
        .options(
            joinedload(Enrolment.association),
            joinedload(Enrolment.session).joinedload(TrainingSession.module),
            joinedload(Enrolment.session).joinedload(TrainingSession.region),
        )
        .where(Enrolment.id == enrolment_id)
    )


def _session_options():
    return (
        joinedload(Enrolment.session)
        .joinedload(TrainingSession.module)
        .joinedload(Module.programme),
        joinedload(Enrolment.session).joinedload(TrainingSession.region),
    )


def association_places(session: Session, association: Association, today: date):
    """Return the association's places grouped by session: sessions to come first (soonest
    first), then past ones (latest first); in each, places in the order they were made."""
    sessions_of_association = select(Enrolment.session_id).where(
        Enrolment.association_id == association.id
    )
    positions = (
        select(
            Enrolment.id.label("enrolment_id"),
            func.row_number()
            .over(partition_by=Enrolment.session_id, order_by=Enrolment.id)
            .label("position"),
        )
        .where(
            Enrolment.status == EnrolmentStatus.WAITLISTED,
            Enrolment.session_id.in_(sessions_of_association),
        )
        .subquery()
    )
    rows = session.execute(
        select(Enrolment, positions.c.position, Certificate)
        .outerjoin(positions, positions.c.enrolment_id == Enrolment.id)
        .outerjoin(Certificate, Certificate.enrolment_id == Enrolment.id)
        .options(*_session_options())
        .where(Enrolment.association_id == association.id)
        .order_by(Enrolment.id)
    )
    groups: dict[int, SessionPlaces] = {}
    for enrolment, position, certificate in rows:
        group = groups.setdefault(enrolment.session_id, SessionPlaces(enrolment.session))
        group.places.append(Place(enrolment, position, certificate))

    def order(group: SessionPlaces):
        starts_on = group.training_session.starts_on
        past = group.training_session.ends_on < today
        return (past, -starts_on.toordinal() if past else starts_on.toordinal())

    return sorted(groups.values(), key=order)


def session_roster(session: Session, training_session: TrainingSession, now: datetime) -> Roster:
    """Return the session's confirmed places, waitlist in order, cancelled places and
    reservations, with the seats reservations still hold."""
    enrolments = list(
        session.scalars(
            select(Enrolment)
            .options(joinedload(Enrolment.association))
            .where(Enrolment.session_id == training_session.id)
            .order_by(Enrolment.id)
        )
    )
    by_status: dict[EnrolmentStatus, list[Enrolment]] = {status: [] for status in EnrolmentStatus}
    for enrolment in enrolments:
        by_status[enrolment.status].append(enrolment)
    reservations = list(
        session.scalars(
            select(SeatReservation)
            .options(joinedload(SeatReservation.association))
            .where(SeatReservation.session_id == training_session.id)
            .order_by(SeatReservation.until, SeatReservation.id)
        )
    )
    return Roster(
        confirmed=by_status[EnrolmentStatus.CONFIRMED],
        waitlisted=by_status[EnrolmentStatus.WAITLISTED],
        cancelled=by_status[EnrolmentStatus.CANCELLED],
        reservations=reservations,
        held=held_seats(session, training_session, now),
    )
