"""Figures of the capacity-building programme for staff: seats offered and taken, participants by
sex, region, association, module and session, attendance; and their export rows.

Counted sessions are the published ones (past and to come): drafts and cancelled sessions offer
no seat. A session belongs to the period in which it starts, and to the region where it takes
place (online sessions belong to none). A participant is a confirmed enrolment; waitlisted and
cancelled enrolments are counted apart. The satisfaction survey's means cover the responses of
the same sessions.

Every figure comes from a fixed number of grouped queries, whatever the number of sessions and
enrolments; the days of a session are counted in Python from its dates, so the date arithmetic
reads the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, joinedload

from portal.organisations.models import Association
from portal.strategy.models import BilingualMixin, Region
from portal.training.models import (
    Attendance,
    Enrolment,
    EnrolmentStatus,
    Module,
    SessionStatus,
    TrainingSession,
)
from portal.training.survey import SurveySummary, survey_summary

TOP_ASSOCIATIONS = 10
SEXES = ("female", "male")


@dataclass(frozen=True)
class StatisticsFilters:
    """What staff narrowed the figures to; None means no filter."""

    programme_id: int | None = None
    module_id: int | None = None
    starts_from: date | None = None  # the first day of the period, included
    starts_until: date | None = None  # the last day of the period, included
    region_code: str | None = None


@dataclass(frozen=True)
class Share(BilingualMixin):
    """One bar of a breakdown: a group (named in both languages) and its participants."""

    key: str
    count: int
    name_ar: str = ""
    name_fr: str = ""


@dataclass(frozen=True)
class SessionFigures(BilingualMixin):
    """One session's seats, enrolments and attendance."""

    id: int
    module_id: int
    module_title_ar: str
    module_title_fr: str
    programme_title_ar: str
    programme_title_fr: str
    starts_on: date
    ends_on: date
    language: str
    online: bool
    city: str
    region_name_ar: str
    region_name_fr: str
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    days_present: int
    days_marked: int

    @property
    def days(self) -> int:
        """Days the session lasts, both ends included."""
        return (self.ends_on - self.starts_on).days + 1

    @property
    def attendance_marked(self) -> bool:
        return self.days_marked > 0

    @property
    def expected_days(self) -> int:
        """Participant-days the session could have: participants × days."""
        return self.confirmed * self.days

    @property
    def fill_rate(self) -> float:
        return self.confirmed / self.capacity if self.capacity else 0.0

    @property
    def attendance_rate(self) -> float | None:
        """Days present over participant-days, once attendance is marked; else None."""
        if not self.attendance_marked or not self.expected_days:
            return None
        return self.days_present / self.expected_days


@dataclass(frozen=True)
class ProgrammeStatistics:
    """Every figure of the statistics page, for the sessions the filters select."""

    sessions: list[SessionFigures]
    by_sex: list[Share]
    by_region: list[Share]
    by_association: list[Share]
    other_associations: int  # how many associations the "others" bar groups
    by_module: list[Share]
    associations: int  # how many associations have participants
    survey: SurveySummary

    @property
    def seats_offered(self) -> int:
        return sum(item.capacity for item in self.sessions)

    @property
    def participants(self) -> int:
        """Confirmed enrolments: the seats taken."""
        return sum(item.confirmed for item in self.sessions)

    @property
    def waitlisted(self) -> int:
        return sum(item.waitlisted for item in self.sessions)

    @property
    def cancelled(self) -> int:
        return sum(item.cancelled for item in self.sessions)

    @property
    def fill_rate(self) -> float | None:
        return self.participants / self.seats_offered if self.seats_offered else None

    @property
    def sessions_with_attendance(self) -> list[SessionFigures]:
        return [item for item in self.sessions if item.attendance_marked]

    @property
    def attendance_rate(self) -> float | None:
        """Days present over participant-days, across the sessions whose attendance is marked."""
        marked = self.sessions_with_attendance
        expected = sum(item.expected_days for item in marked)
        if not expected:
            return None
        return sum(item.days_present for item in marked) / expected


# --- queries --------------------------------------------------------------------------------


def _session_conditions(filters: StatisticsFilters) -> list[ColumnElement[bool]]:
    conditions = [TrainingSession.status == SessionStatus.PUBLISHED]
    if filters.module_id:
        conditions.append(TrainingSession.module_id == filters.module_id)
    if filters.programme_id:
        modules = select(Module.id).where(Module.programme_id == filters.programme_id)
        conditions.append(TrainingSession.module_id.in_(modules))
    if filters.starts_from:
        conditions.append(TrainingSession.starts_on >= filters.starts_from)
    if filters.starts_until:
        conditions.append(TrainingSession.starts_on <= filters.starts_until)
    if filters.region_code:
        region_id = select(Region.id).where(Region.code == filters.region_code).scalar_subquery()
        conditions.append(TrainingSession.region_id == region_id)
    return conditions


def _counted(status: EnrolmentStatus):
    return func.sum(case((Enrolment.status == status, 1), else_=0))


def _session_figures(session: Session, conditions) -> list[SessionFigures]:
    """Return each selected session with its enrolment and attendance counts, in one query."""
    selected = select(TrainingSession.id).where(*conditions)
    enrolments = (
        select(
            Enrolment.session_id.label("session_id"),
            _counted(EnrolmentStatus.CONFIRMED).label("confirmed"),
            _counted(EnrolmentStatus.WAITLISTED).label("waitlisted"),
            _counted(EnrolmentStatus.CANCELLED).label("cancelled"),
        )
        .where(Enrolment.session_id.in_(selected))
        .group_by(Enrolment.session_id)
        .subquery()
    )
    attendance = (
        select(
            Enrolment.session_id.label("session_id"),
            func.sum(case((Attendance.present.is_(True), 1), else_=0)).label("present"),
            func.count(Attendance.id).label("marked"),
        )
        .join(Attendance, Attendance.enrolment_id == Enrolment.id)
        .where(
            Enrolment.session_id.in_(selected),
            Enrolment.status == EnrolmentStatus.CONFIRMED,
        )
        .group_by(Enrolment.session_id)
        .subquery()
    )
    query = (
        select(
            TrainingSession,
            func.coalesce(enrolments.c.confirmed, 0),
            func.coalesce(enrolments.c.waitlisted, 0),
            func.coalesce(enrolments.c.cancelled, 0),
            func.coalesce(attendance.c.present, 0),
            func.coalesce(attendance.c.marked, 0),
        )
        .outerjoin(enrolments, enrolments.c.session_id == TrainingSession.id)
        .outerjoin(attendance, attendance.c.session_id == TrainingSession.id)
        .where(*conditions)
        .options(
            joinedload(TrainingSession.module).joinedload(Module.programme),
            joinedload(TrainingSession.region),
        )
        .order_by(TrainingSession.starts_on, TrainingSession.id)
    )
    return [
        _figures_of(training, *(int(number) for number in numbers))
        for training, *numbers in session.execute(query)
    ]


def _figures_of(training: TrainingSession, confirmed, waitlisted, cancelled, present, marked):
    module, region = training.module, training.region
    return SessionFigures(
        id=training.id,
        module_id=module.id,
        module_title_ar=module.title_ar,
        module_title_fr=module.title_fr,
        programme_title_ar=module.programme.title_ar,
        programme_title_fr=module.programme.title_fr,
        starts_on=training.starts_on,
        ends_on=training.ends_on,
        language=training.language,
        online=training.online,
        city=training.city,
        region_name_ar=region.name_ar if region else "",
        region_name_fr=region.name_fr if region else "",
        capacity=training.capacity,
        confirmed=confirmed,
        waitlisted=waitlisted,
        cancelled=cancelled,
        days_present=present,
        days_marked=marked,
    )


@dataclass(frozen=True)
class _Group:
    association_id: int
    name_ar: str
    name_fr: str
    region_id: int
    sex: str
    count: int


def _participant_groups(session: Session, conditions) -> list[_Group]:
    """Count participants by association (with its region) and sex, in one query."""
    selected = select(TrainingSession.id).where(*conditions)
    columns = (
        Enrolment.association_id,
        Association.name_ar,
        Association.name_fr,
        Association.region_id,
        Enrolment.sex,
    )
    query = (
        select(*columns, func.count(Enrolment.id))
        .join(Association, Association.id == Enrolment.association_id)
        .where(
            Enrolment.status == EnrolmentStatus.CONFIRMED,
            Enrolment.session_id.in_(selected),
        )
        .group_by(*columns)
    )
    return [_Group(*row) for row in session.execute(query)]


# --- breakdowns -----------------------------------------------------------------------------


def _by_sex(groups: list[_Group]) -> list[Share]:
    counts: dict[str, int] = dict.fromkeys(SEXES, 0)
    for group in groups:
        counts[group.sex] = counts.get(group.sex, 0) + group.count
    return [Share(key=sex, count=count) for sex, count in counts.items()]


def _by_region(groups: list[_Group], regions: Sequence[Region]) -> list[Share]:
    """Every region in its official order, those with no participant included."""
    counts: dict[int, int] = defaultdict(int)
    for group in groups:
        counts[group.region_id] += group.count
    return [
        Share(
            key=region.code,
            count=counts.get(region.id, 0),
            name_ar=region.name_ar,
            name_fr=region.name_fr,
        )
        for region in regions
    ]


def _by_association(groups: list[_Group], top: int) -> tuple[list[Share], int, int]:
    """Return the `top` associations with most participants, how many others, and in all."""
    totals: dict[int, Share] = {}
    for group in groups:
        before = totals.get(group.association_id)
        totals[group.association_id] = Share(
            key=str(group.association_id),
            count=group.count + (before.count if before else 0),
            name_ar=group.name_ar,
            name_fr=group.name_fr,
        )
    ranked = sorted(totals.values(), key=lambda share: (-share.count, share.name_ar, share.key))
    shown, rest = ranked[:top], ranked[top:]
    if rest:
        shown.append(Share(key="others", count=sum(share.count for share in rest)))
    return shown, len(rest), len(ranked)


def _by_module(sessions: list[SessionFigures], modules: Sequence[Module], filters) -> list[Share]:
    """The filters' modules in programme order, those without a participant included."""
    counts: dict[int, int] = defaultdict(int)
    for item in sessions:
        counts[item.module_id] += item.confirmed
    chosen = [
        module
        for module in modules
        if (not filters.module_id or module.id == filters.module_id)
        and (not filters.programme_id or module.programme_id == filters.programme_id)
    ]
    return [
        Share(
            key=str(module.id),
            count=counts.get(module.id, 0),
            name_ar=module.title_ar,
            name_fr=module.title_fr,
        )
        for module in chosen
    ]


def programme_statistics(
    session: Session,
    filters: StatisticsFilters,
    *,
    regions: Sequence[Region],
    modules: Sequence[Module],
    top: int = TOP_ASSOCIATIONS,
) -> ProgrammeStatistics:
    """Compute every figure for the sessions `filters` select, in three queries.

    `regions` and `modules` (already loaded for the filters) name the groups, so that regions
    and modules without participants show as zero.
    """
    conditions = _session_conditions(filters)
    sessions = _session_figures(session, conditions)
    groups = _participant_groups(session, conditions)
    by_association, others, associations = _by_association(groups, top)
    return ProgrammeStatistics(
        sessions=sessions,
        by_sex=_by_sex(groups),
        by_region=_by_region(groups, regions),
        by_association=by_association,
        other_associations=others,
        by_module=_by_module(sessions, modules, filters),
        associations=associations,
        survey=survey_summary(session, select(TrainingSession.id).where(*conditions)),
    )


def session_years(session: Session, today: date) -> list[int]:
    """Return the years from the first published session's to the last's (this year included),
    latest first."""
    first, last = session.execute(
        select(func.min(TrainingSession.starts_on), func.max(TrainingSession.starts_on)).where(
            TrainingSession.status == SessionStatus.PUBLISHED
        )
    ).one()
    years = {today.year}
    if first and last:
        years.update(range(first.year, last.year + 1))
    return sorted(years, reverse=True)


# --- export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "session_id",
    "programme_ar",
    "programme_fr",
    "module_ar",
    "module_fr",
    "starts_on",
    "ends_on",
    "days",
    "language",
    "online",
    "city",
    "region_ar",
    "region_fr",
    "capacity",
    "participants",
    "waitlisted",
    "cancelled",
    "fill_rate_percent",
    "attendance_marked",
    "days_present",
    "participant_days",
    "attendance_rate_percent",
)


def _percent(rate: float | None) -> float | str:
    return "" if rate is None else round(rate * 100, 1)


def export_rows(statistics: ProgrammeStatistics) -> Iterator[list]:
    """Yield one row per session, in the order of EXPORT_COLUMNS."""
    for item in statistics.sessions:
        yield [
            item.id,
            item.programme_title_ar,
            item.programme_title_fr,
            item.module_title_ar,
            item.module_title_fr,
            item.starts_on.isoformat(),
            item.ends_on.isoformat(),
            item.days,
            item.language,
            int(item.online),
            item.city,
            item.region_name_ar,
            item.region_name_fr,
            item.capacity,
            item.confirmed,
            item.waitlisted,
            item.cancelled,
            _percent(item.fill_rate),
            int(item.attendance_marked),
            item.days_present,
            item.expected_days,
            _percent(item.attendance_rate),
        ]
