"""Building the programme (staff) and reading it (the public catalogue and session page)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.audit.services import record_event
from portal.organisations.vocabulary import FIELDS_OF_WORK
from portal.rules import RuleRefused
from portal.strategy.models import Region
from portal.training.models import Module, Programme, SessionStatus, TrainingSession

LANGUAGES = ("ar", "fr")
PROGRAMME_FIELDS = (
    "title_ar",
    "title_fr",
    "objectives_ar",
    "objectives_fr",
    "attendance_threshold_percent",
)
MODULE_FIELDS = ("position", "title_ar", "title_fr", "description_ar", "description_fr")
SESSION_FIELDS = (
    "status",
    "language",
    "starts_on",
    "ends_on",
    "daily_start",
    "daily_end",
    "online",
    "city",
    "venue",
    "enrolment_opens_at",
    "enrolment_closes_at",
    "per_association_cap",
    "verified_only",
    "eligible_regions",
    "eligible_fields",
)


class TrainingError(RuleRefused):
    """A change to the programme, a module or a session that the rules refuse."""


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueFilters:
    """What a visitor narrowed the catalogue to; None or False means no filter."""

    module_id: int | None = None
    region_code: str | None = None
    month: date | None = None  # the first day of the month
    language: str | None = None
    seats_left_only: bool = False


def enrolment_is_open(training_session: TrainingSession, now: datetime) -> bool:
    """Tell whether associations may enrol participants at `now`."""
    return (
        training_session.status == SessionStatus.PUBLISHED
        and training_session.enrolment_opens_at <= now < training_session.enrolment_closes_at
    )


def catalogue_query(filters: CatalogueFilters, today: date) -> Select:
    """Select the published sessions not yet over, soonest first, narrowed by `filters`."""
    query = (
        select(TrainingSession)
        .options(
            joinedload(TrainingSession.module).joinedload(Module.programme),
            joinedload(TrainingSession.region),
        )
        .where(TrainingSession.status == SessionStatus.PUBLISHED, TrainingSession.ends_on >= today)
        .order_by(TrainingSession.starts_on, TrainingSession.id)
    )
    if filters.module_id:
        query = query.where(TrainingSession.module_id == filters.module_id)
    if filters.region_code:
        region_id = select(Region.id).where(Region.code == filters.region_code).scalar_subquery()
        query = query.where(TrainingSession.region_id == region_id)
    if filters.month:
        next_month = (
            date(filters.month.year + 1, 1, 1)
            if filters.month.month == 12
            else date(filters.month.year, filters.month.month + 1, 1)
        )
        # A session is in a month when any of its days falls in it.
        query = query.where(
            TrainingSession.starts_on < next_month, TrainingSession.ends_on >= filters.month
        )
    if filters.language:
        query = query.where(TrainingSession.language == filters.language)
    if filters.seats_left_only:
        query = query.where(TrainingSession.seats_taken < TrainingSession.capacity)
    return query


def list_modules(session: Session) -> list[Module]:
    """Return every module with its programme, programme by programme, in order."""
    return list(
        session.scalars(
            select(Module)
            .options(joinedload(Module.programme))
            .order_by(Module.programme_id, Module.position, Module.id)
        )
    )


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


@dataclass(frozen=True)
class StaffOverview:
    programmes: list[Programme]
    sessions_by_module: dict[int, list[TrainingSession]]


def staff_overview(session: Session) -> StaffOverview:
    """Return every programme with its modules and each module's sessions, in three queries."""
    programmes = list(
        session.scalars(
            select(Programme)
            .options(selectinload(Programme.modules))
            .order_by(Programme.created_at, Programme.id)
        )
    )
    sessions_by_module: dict[int, list[TrainingSession]] = defaultdict(list)
    for training_session in session.scalars(
        select(TrainingSession)
        .options(joinedload(TrainingSession.region))
        .order_by(TrainingSession.starts_on, TrainingSession.id)
    ):
        sessions_by_module[training_session.module_id].append(training_session)
    return StaffOverview(programmes, dict(sessions_by_module))


# --- writing --------------------------------------------------------------------------------


def _changes(obj, data: dict, names) -> dict:
    """Set the named values on `obj` and return {name: [before, after]} of those that changed."""
    changed = {}
    for name in names:
        before, after = getattr(obj, name, None), data[name]
        if before != after:
            changed[name] = [before, after]
            setattr(obj, name, after)
    return changed


def save_programme(session: Session, programme: Programme | None, data: dict, *, actor):
    """Create the programme (when None) or change its texts and attendance threshold."""
    threshold = data["attendance_threshold_percent"]
    if not 1 <= threshold <= 100:
        raise TrainingError(
            _l("Enter a threshold from 1 to 100 %."), field="attendance_threshold_percent"
        )
    created = programme is None
    programme = programme or Programme()
    changes = _changes(programme, data, PROGRAMME_FIELDS)
    if created:
        session.add(programme)
    if created or changes:
        action = "training.programme_created" if created else "training.programme_changed"
        record_event(session, actor, action, programme, changes=changes)
    session.flush()
    return programme


def save_module(session: Session, programme: Programme, module: Module | None, data, *, actor):
    """Add a module to the programme (when None) or change its texts and position."""
    created = module is None
    module = module or Module(programme=programme)
    changes = _changes(module, data, MODULE_FIELDS)
    if created:
        session.add(module)
    if created or changes:
        action = "training.module_created" if created else "training.module_changed"
        record_event(session, actor, action, module, changes=changes)
    session.flush()
    return module


def _check_session(session: Session, data: dict) -> int | None:
    """Refuse inconsistent session values; return the id of the session's region, if any."""
    if data["language"] not in LANGUAGES:
        raise TrainingError(_l("Choose Arabic or French."), field="language")
    if data["ends_on"] < data["starts_on"]:
        raise TrainingError(_l("The last day cannot be before the first day."), field="ends_on")
    if data["daily_end"] <= data["daily_start"]:
        raise TrainingError(_l("Each day must end after it starts."), field="daily_end")
    if data["enrolment_closes_at"] <= data["enrolment_opens_at"]:
        raise TrainingError(_l("Enrolment must close after it opens."), field="enrolment_closes_at")
    if data["capacity"] < 1:
        raise TrainingError(_l("A session needs at least one seat."), field="capacity")
    if data["per_association_cap"] < 1:
        raise TrainingError(
            _l("Allow each association at least one participant."), field="per_association_cap"
        )
    if unknown := set(data["eligible_fields"]) - set(FIELDS_OF_WORK):
        raise TrainingError(
            _l("Unknown field of work: %(codes)s", codes=", ".join(sorted(unknown))),
            field="eligible_fields",
        )
    codes = set(data["eligible_regions"]) | ({data["region_code"]} - {None, ""})
    rows = session.execute(select(Region.code, Region.id).where(Region.code.in_(codes))).all()
    known = dict(rows)
    if unknown := codes - set(known):
        raise TrainingError(
            _l("Unknown region: %(codes)s", codes=", ".join(sorted(unknown))),
            field="eligible_regions",
        )
    if data["online"]:
        return None
    for name, message in (
        ("region_code", _l("Choose the region of the venue, or tick “online”.")),
        ("city", _l("Enter the city, or tick “online”.")),
        ("venue", _l("Enter the venue, or tick “online”.")),
    ):
        if not (data[name] or "").strip():
            raise TrainingError(message, field=name)
    return known[data["region_code"]]


def save_session(
    session: Session, module: Module, training_session: TrainingSession | None, data, *, actor
):
    """Add a session to the module (when None) or change it.

    The capacity never drops below the seats already taken: it is changed by a conditional
    UPDATE, so an enrolment confirmed meanwhile is counted too.
    """
    region_id = _check_session(session, data)
    if region_id is None:  # online: no place to keep
        data = {**data, "city": "", "venue": ""}
    created = training_session is None
    if (
        not created
        and training_session.status != SessionStatus.CANCELLED
        and data["status"] == SessionStatus.CANCELLED
        and training_session.seats_taken
    ):
        raise TrainingError(
            _l(
                "This session has confirmed participants: cancel their places first, so that "
                "each of them is told."
            ),
            field="status",
        )
    if created:
        training_session = TrainingSession(module=module, capacity=data["capacity"])
        session.add(training_session)
    changes = _changes(training_session, data, SESSION_FIELDS)
    if training_session.region_id != region_id:
        changes["region_id"] = [training_session.region_id, region_id]
        training_session.region_id = region_id
    if not created and training_session.capacity != data["capacity"]:
        before = training_session.capacity
        session.flush()
        result = session.execute(
            update(TrainingSession)
            .where(
                TrainingSession.id == training_session.id,
                TrainingSession.seats_taken <= data["capacity"],
            )
            .values(capacity=data["capacity"])
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:
            session.refresh(training_session, ["seats_taken"])
            raise TrainingError(
                _l(
                    "%(taken)s seats are already taken: the capacity cannot be lower.",
                    taken=training_session.seats_taken,
                ),
                field="capacity",
            )
        changes["capacity"] = [before, data["capacity"]]
    if created or changes:
        action = "training.session_created" if created else "training.session_changed"
        record_event(session, actor, action, training_session, changes=changes)
    session.flush()
    return training_session
