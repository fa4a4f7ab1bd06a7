"""Attendance: check-in at the door by registration code, the roster marked per day, and each
participant's attendance rate (days present over the session's days).

A day is a date on Morocco's clock. Staff mark a day once it has come (never a day to come), and
only for confirmed places of the session. Attendance rows are upserted: one row per enrolment and
day, guarded by the unique constraint; a lost race re-reads the row instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.audit.services import record_event
from portal.db import utcnow
from portal.rules import RuleRefused
from portal.timeutil import to_local
from portal.training.models import (
    Attendance,
    Certificate,
    Enrolment,
    EnrolmentStatus,
    Module,
    SessionStatus,
    TrainingSession,
)

CODE_SEPARATORS = re.compile(r"[\s\-‐-―_.]+")


class AttendanceError(RuleRefused):
    """A check-in or attendance mark that the rules refuse."""


# --- days and rates -------------------------------------------------------------------------


def local_today(now: datetime | None = None) -> date:
    """Return today's date on Morocco's clock."""
    return to_local(now or utcnow()).date()


def session_days(training_session: TrainingSession) -> list[date]:
    """Return every day of the session, first to last."""
    count = (training_session.ends_on - training_session.starts_on).days + 1
    return [training_session.starts_on + timedelta(days=offset) for offset in range(count)]


def last_day_begun(training_session: TrainingSession, now: datetime) -> bool:
    """Tell whether the session's last day has begun (its daily start time, Morocco's clock)."""
    local = to_local(now)
    begins = datetime.combine(training_session.ends_on, training_session.daily_start, local.tzinfo)
    return local >= begins


def percent(part: int, whole: int) -> int:
    """Return part/whole as a whole percentage rounded down (0 when there is nothing to count)."""
    return part * 100 // whole if whole else 0


def reaches_threshold(days_present: int, days_total: int, threshold_percent: int) -> bool:
    """Tell whether attendance reaches the threshold, in exact integer arithmetic."""
    return days_total > 0 and days_present * 100 >= threshold_percent * days_total


# --- check-in -------------------------------------------------------------------------------


def normalise_code(raw: str | None) -> str:
    """Return a typed or scanned code in upper case, without spaces or dashes."""
    return CODE_SEPARATORS.sub("", raw or "").upper()


def find_by_code(session: Session, raw_code: str | None) -> Enrolment | None:
    """Return the enrolment holding this registration code, with its association and session."""
    code = normalise_code(raw_code)
    if not code or len(code) > 20:
        return None
    return session.scalar(
        select(Enrolment)
        .options(
            joinedload(Enrolment.association),
            joinedload(Enrolment.session).joinedload(TrainingSession.module),
            joinedload(Enrolment.session).joinedload(TrainingSession.region),
        )
        .where(Enrolment.registration_code == code)
    )


def checked_in_today(enrolment: Enrolment, today: date) -> bool:
    """Tell whether the participant was already checked in on this local day."""
    return enrolment.checked_in_at is not None and local_today(enrolment.checked_in_at) == today


def check_in_refusal(enrolment: Enrolment, today: date):
    """Return why this participant cannot be checked in today, or None when they can."""
    training_session = enrolment.session
    if enrolment.status == EnrolmentStatus.CANCELLED:
        return _l(
            "This place was cancelled: %(name)s cannot be checked in.", name=enrolment.full_name
        )
    if enrolment.status == EnrolmentStatus.WAITLISTED:
        return _l(
            "%(name)s is on the waitlist and has no confirmed place in this session.",
            name=enrolment.full_name,
        )
    if training_session.status == SessionStatus.CANCELLED:
        return _l("This session was cancelled.")
    if not training_session.starts_on <= today <= training_session.ends_on:
        return _l(
            "Today is not a day of this session: it runs from %(first)s to %(last)s.",
            first=training_session.starts_on.isoformat(),
            last=training_session.ends_on.isoformat(),
        )
    return None


@dataclass(frozen=True)
class CheckIn:
    """The outcome of a check-in: the enrolment, and whether it had already been done today."""

    enrolment: Enrolment
    already: bool


def check_in(session: Session, raw_code: str | None, *, actor, now: datetime | None = None):
    """Check a participant in by code: note the time and mark them present today.

    Refused for an unknown code, a place that is not confirmed, a cancelled session or a day
    that is not one of the session's. A second check-in the same day changes nothing.
    """
    now = now or utcnow()
    enrolment = find_by_code(session, raw_code)
    if enrolment is None:
        raise AttendanceError(_l("No participant has this code."), field="code")
    today = local_today(now)
    refusal = check_in_refusal(enrolment, today)
    if refusal is not None:
        raise AttendanceError(refusal, field="code")
    if checked_in_today(enrolment, today):
        return CheckIn(enrolment, already=True)
    enrolment.checked_in_at = now
    _upsert(session, enrolment.id, today, True, actor=actor, now=now)
    record_event(
        session,
        actor,
        "training.checked_in",
        enrolment,
        session_id=enrolment.session_id,
        day=today.isoformat(),
    )
    session.flush()
    return CheckIn(enrolment, already=False)


def _upsert(session: Session, enrolment_id: int, day: date, present: bool, *, actor, now) -> None:
    """Write one attendance mark; if a parallel request inserted the row first, update it."""
    row = session.scalar(
        select(Attendance).where(Attendance.enrolment_id == enrolment_id, Attendance.day == day)
    )
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    Attendance(
                        enrolment_id=enrolment_id,
                        day=day,
                        present=present,
                        marked_by_id=actor.id,
                        marked_at=now,
                    )
                )
            return
        except IntegrityError:
            row = session.scalars(
                select(Attendance)
                .where(Attendance.enrolment_id == enrolment_id, Attendance.day == day)
                .execution_options(populate_existing=True)
            ).one()
    row.present = present
    row.marked_by_id = actor.id
    row.marked_at = now


# --- the roster -----------------------------------------------------------------------------


@dataclass
class RosterLine:
    """A confirmed participant with the days they were present and their certificate."""

    enrolment: Enrolment
    present_days: set[date] = field(default_factory=set)
    certificate: Certificate | None = None

    def present_on(self, day: date) -> bool:
        """Tell whether the participant was present that day."""
        return day in self.present_days


@dataclass(frozen=True)
class AttendanceSheet:
    """A session's confirmed participants and who was present on which day."""

    training_session: TrainingSession
    days: list[date]
    lines: list[RosterLine]
    now: datetime

    @property
    def today(self) -> date:
        """Return the local date the sheet was read on."""
        return local_today(self.now)

    @property
    def threshold(self) -> int:
        """Return the programme's attendance threshold, in percent."""
        return self.training_session.module.programme.attendance_threshold_percent

    def markable(self, day: date) -> bool:
        """Tell whether a day may be marked: one of the session's that has come."""
        return day <= self.today

    def rate(self, line: RosterLine) -> int:
        """Return the share of the session's days the participant attended, in percent."""
        return percent(len(line.present_days), len(self.days))

    def qualifies(self, line: RosterLine) -> bool:
        """Tell whether the participant's attendance earns a certificate."""
        return reaches_threshold(len(line.present_days), len(self.days), self.threshold)

    def count_on(self, day: date) -> int:
        """Count the participants present that day."""
        return sum(1 for line in self.lines if day in line.present_days)

    @property
    def overall_rate(self) -> int:
        """Return the share of all participant-days attended, in percent."""
        present = sum(len(line.present_days) for line in self.lines)
        return percent(present, len(self.lines) * len(self.days))

    @property
    def certificates_issued(self) -> int:
        """Count the participants holding a certificate."""
        return sum(1 for line in self.lines if line.certificate is not None)

    @property
    def may_issue_certificates(self) -> bool:
        """Tell whether the session's last day has begun, so certificates may be issued."""
        return last_day_begun(self.training_session, self.now)

    def line_for(self, enrolment_id: int) -> RosterLine | None:
        """Return the line of one participant, or None if they are not on the roster."""
        return next((line for line in self.lines if line.enrolment.id == enrolment_id), None)


def load_session(session: Session, session_id: int) -> TrainingSession | None:
    """Return a session with its module, programme and region, or None."""
    return session.scalar(
        select(TrainingSession)
        .options(
            joinedload(TrainingSession.module).joinedload(Module.programme),
            joinedload(TrainingSession.region),
        )
        .where(TrainingSession.id == session_id)
    )


def attendance_sheet(
    session: Session, training_session: TrainingSession, *, now: datetime | None = None
) -> AttendanceSheet:
    """Read the session's confirmed participants with their attendance and certificates, in
    three queries whatever their number."""
    conditions = [
        Enrolment.session_id == training_session.id,
        Enrolment.status == EnrolmentStatus.CONFIRMED,
    ]
    enrolments = list(
        session.scalars(
            select(Enrolment)
            .options(joinedload(Enrolment.association))
            .where(*conditions)
            .order_by(Enrolment.full_name, Enrolment.id)
        )
    )
    lines = {enrolment.id: RosterLine(enrolment) for enrolment in enrolments}
    chosen = select(Enrolment.id).where(*conditions)
    for enrolment_id, day in session.execute(
        select(Attendance.enrolment_id, Attendance.day).where(
            Attendance.enrolment_id.in_(chosen), Attendance.present.is_(True)
        )
    ):
        lines[enrolment_id].present_days.add(day)
    for certificate in session.scalars(
        select(Certificate).where(Certificate.enrolment_id.in_(chosen))
    ):
        lines[certificate.enrolment_id].certificate = certificate
    return AttendanceSheet(
        training_session=training_session,
        days=session_days(training_session),
        lines=list(lines.values()),
        now=now or utcnow(),
    )


# --- marking --------------------------------------------------------------------------------


def parse_day(value: str | None) -> date | None:
    """Read an ISO date typed in a form, or None when it is not one."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _check_day(training_session: TrainingSession, day: date | None, today: date) -> date:
    if day is None or not training_session.starts_on <= day <= training_session.ends_on:
        raise AttendanceError(_l("This day is not one of the session's days."), field="day")
    if day > today:
        raise AttendanceError(
            _l("Attendance cannot be marked for a day that has not come yet."), field="day"
        )
    return day


def _confirmed_enrolments(session: Session, training_session: TrainingSession, ids) -> dict:
    """Return the asked enrolments by id; refuse one of another session or not confirmed."""
    found = {
        enrolment.id: enrolment
        for enrolment in session.scalars(select(Enrolment).where(Enrolment.id.in_(set(ids))))
    }
    for enrolment_id in ids:
        enrolment = found.get(enrolment_id)
        if enrolment is None or enrolment.session_id != training_session.id:
            raise AttendanceError(
                _l("This participant is not enrolled in this session."), field="enrolment_id"
            )
        if enrolment.status != EnrolmentStatus.CONFIRMED:
            raise AttendanceError(
                _l(
                    "%(name)s has no confirmed place: attendance is marked only for confirmed "
                    "participants.",
                    name=enrolment.full_name,
                ),
                field="enrolment_id",
            )
    return found


def _current_marks(session: Session, enrolment_ids) -> dict[tuple[int, date], bool]:
    return {
        (enrolment_id, day): present
        for enrolment_id, day, present in session.execute(
            select(Attendance.enrolment_id, Attendance.day, Attendance.present).where(
                Attendance.enrolment_id.in_(set(enrolment_ids))
            )
        )
    }


def mark_attendance(
    session: Session,
    training_session: TrainingSession,
    marks: dict[tuple[int, date | None], bool],
    *,
    actor,
    now: datetime | None = None,
) -> int:
    """Record who was present on which day; return how many marks changed.

    `marks` maps (enrolment id, day) to present or absent. Every mark is checked before any is
    written: a day outside the session or to come, an enrolment of another session or without
    a confirmed place refuses the whole save. One audit event records the changes.
    """
    now = now or utcnow()
    today = local_today(now)
    for _enrolment_id, day in marks:
        _check_day(training_session, day, today)
    _confirmed_enrolments(session, training_session, [key[0] for key in marks])
    current = _current_marks(session, [key[0] for key in marks])
    changes = {key: present for key, present in marks.items() if current.get(key, False) != present}
    for (enrolment_id, day), present in sorted(changes.items()):
        _upsert(session, enrolment_id, day, present, actor=actor, now=now)
    if changes:
        record_event(
            session,
            actor,
            "training.attendance_marked",
            training_session,
            changes=[
                {"enrolment_id": enrolment_id, "day": day.isoformat(), "present": present}
                for (enrolment_id, day), present in sorted(changes.items())
            ],
        )
    session.flush()
    return len(changes)
