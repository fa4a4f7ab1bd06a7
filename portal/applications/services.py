"""Application rules: start, save field by field without silent overwrites, budget, complete,
submit before the deadline (idempotent, versioned, with a receipt), withdraw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.applications.models import (
    Application,
    ApplicationStatus,
    Attachment,
    BudgetLine,
)
from portal.audit.services import record_event
from portal.calls.forms import NARRATIVE_LABELS
from portal.calls.models import NARRATIVE_FIELDS, Call, CallStatus, DeadlineExtension
from portal.db import database_now, utcnow
from portal.forms import has_control_characters
from portal.organisations.models import Association
from portal.organisations.vocabulary import TARGET_GROUPS
from portal.rules import RuleRefused
from portal.strategy.models import Region, Sdg, StrategicAxis, UnMechanism
from portal.web.links import external_url

MAX_AMOUNT = 10**10  # ten billion dirhams: anything above is a typing mistake
BUDGET_CATEGORIES = ("staff", "activities", "travel", "equipment", "communication", "other")
BENEFICIARY_GROUPS = tuple(
    f"{sex}_{age}" for sex in ("women", "men") for age in ("under_18", "18_35", "over_35")
)


class ApplicationError(RuleRefused):
    """A change to an application that the rules refuse."""


class EditConflict(ApplicationError):
    """Someone saved this field after the user loaded it; both values are kept for the user."""

    def __init__(self, field: str, theirs, yours, version: int):
        super().__init__(
            _l("Someone else changed this field after you opened the page."), field=field
        )
        self.theirs = theirs
        self.yours = yours
        self.version = version


class DeadlinePassed(ApplicationError):
    """The call's deadline had passed when the request reached the server."""

    def __init__(self, deadline: datetime, now: datetime):
        super().__init__(_l("The deadline has passed; the application can no longer change."))
        self.deadline = deadline
        self.now = now


# --- reading --------------------------------------------------------------------------------


def load_application(session: Session, application_id: int) -> Application | None:
    """Return an application with its call, association and sections, in a fixed query count."""
    query = (
        select(Application)
        .options(
            # Many-to-one relations come in the same statement; collections one query each.
            joinedload(Application.call).selectinload(Call.lots),
            joinedload(Application.call).selectinload(Call.documents),
            joinedload(Application.association),
            selectinload(Application.axes),
            selectinload(Application.sdgs),
            selectinload(Application.un_mechanisms),
            selectinload(Application.budget_lines),
            selectinload(Application.attachments),
            selectinload(Application.submissions),
        )
        .where(Application.id == application_id)
    )
    return session.scalar(query)


def load_application_for_saving(session: Session, application_id: int) -> Application | None:
    """Return an application with only what saving one field reads (its call and association),
    in one query; the other collections load on use."""
    query = (
        select(Application)
        .options(joinedload(Application.call), joinedload(Application.association))
        .where(Application.id == application_id)
    )
    return session.scalar(query)


def applications_of(session: Session, association_ids: list[int]) -> list[Application]:
    """Return the applications of these associations, newest first, with call and association."""
    if not association_ids:
        return []
    query = (
        select(Application)
        # Joined, not selectin: selectinload sends one query per 500 associations.
        .options(joinedload(Application.call), joinedload(Application.association))
        .where(Application.association_id.in_(association_ids))
        .order_by(Application.created_at.desc(), Application.id.desc())
    )
    return list(session.scalars(query))


# --- starting -------------------------------------------------------------------------------


def eligibility_problems(session: Session, call: Call, association: Association, now) -> list:
    """Return why this association may not apply to this call now (empty when it may)."""
    problems = []
    if not association.is_verified:
        problems.append(_l("The association must be verified by staff first."))
    if call.min_years_since_founding and call.closes_at is not None:
        deadline = call.closes_at.date()
        try:
            limit = deadline.replace(year=deadline.year - call.min_years_since_founding)
        except ValueError:  # 29 February
            limit = deadline.replace(year=deadline.year - call.min_years_since_founding, day=28)
        if association.founded_on > limit:
            problems.append(
                _l(
                    "The association must have been founded at least %(n)d years before the "
                    "deadline.",
                    n=call.min_years_since_founding,
                )
            )
    allowed = {region.id for region in call.allowed_regions}
    if allowed and association.region_id not in allowed:
        problems.append(_l("This call is open to associations of other regions."))
    if not call.is_open_at(now):
        problems.append(_l("This call is not open for applications."))
    return problems


def start_application(
    session: Session, call: Call, association: Association, *, actor
) -> Application:
    """Start a draft, or return the association's existing one when no other is allowed."""
    # Lock the association's row so two parallel starts cannot both pass the count below.
    session.execute(
        select(Association.id).where(Association.id == association.id).with_for_update()
    )
    problems = eligibility_problems(session, call, association, database_now(session))
    if problems:
        raise ApplicationError(problems[0])
    existing = list(
        session.scalars(
            select(Application)
            .where(
                Application.call_id == call.id,
                Application.association_id == association.id,
                Application.status != ApplicationStatus.WITHDRAWN,
            )
            .order_by(Application.id)
        )
    )
    if len(existing) >= call.max_applications_per_association:
        return existing[0]
    application = Application(
        call=call,
        association=association,
        created_by_id=actor.id,
        language=getattr(actor, "locale", "ar") or "ar",
        lot=call.lots[0] if len(call.lots) == 1 else None,
    )
    session.add(application)
    session.flush()
    record_event(session, actor, "application.started", application, call=call.code)
    return application


# --- saving field by field ------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # text, long_text, int, codes, choice, links
    section: str
    max_length: int = 0


FIELDS = {
    "title_ar": FieldSpec("text", "summary", 300),
    "title_fr": FieldSpec("text", "summary", 300),
    "language": FieldSpec("choice", "summary"),
    "lot_id": FieldSpec("choice", "summary"),
    "duration_months": FieldSpec("int", "summary"),
    "regions": FieldSpec("codes", "summary"),
    "target_groups": FieldSpec("codes", "summary"),
    **{f"beneficiaries.{group}": FieldSpec("int", "summary") for group in BENEFICIARY_GROUPS},
    **{name: FieldSpec("long_text", "narrative", 20000) for name in NARRATIVE_FIELDS},
    "axes": FieldSpec("links", "links"),
    "sdgs": FieldSpec("links", "links"),
    "un_mechanisms": FieldSpec("links", "links"),
    "un_recommendations": FieldSpec("long_text", "links", 5000),
    "gender_marker": FieldSpec("choice", "links"),
    "gender_justification": FieldSpec("long_text", "links", 3000),
    "team": FieldSpec("long_text", "team", 5000),
}
LINK_MODELS = {
    "axes": (StrategicAxis, "code"),
    "sdgs": (Sdg, "number"),
    "un_mechanisms": (UnMechanism, "code"),
}


def is_whole_number(text: str) -> bool:
    """Tell whether the text is digits 0-9 only (str.isdigit also accepts ² and other digits)."""
    return bool(text) and len(text) <= 15 and all("0" <= char <= "9" for char in text)


def field_value(application: Application, name: str):
    """Return the current value of a field as the forms show it."""
    if name.startswith("beneficiaries."):
        return application.beneficiaries.get(name.split(".", 1)[1])
    if name in LINK_MODELS:
        _model, key = LINK_MODELS[name]
        return [str(getattr(item, key)) for item in getattr(application, name)]
    if name == "team":
        return _team_text(application.team)
    return getattr(application, name)


def _team_text(team) -> str:
    if isinstance(team, str):
        return team
    return "\n".join(row.get("line", "") for row in team or [])


def field_version(application: Application, name: str) -> int:
    """Return the application version at which this field last changed (0: never)."""
    return int((application.field_versions or {}).get(name, 0))


def word_count(text: str) -> int:
    """Count words as a person would, in Arabic and French alike."""
    return len(text.split())


def _clean(session: Session, application: Application, name: str, raw):
    spec = FIELDS.get(name)
    if spec is None:
        raise ApplicationError(_l("This field cannot be changed."))
    if spec.kind in ("text", "long_text"):
        value = (raw or "").strip() if spec.kind == "text" else (raw or "").replace("\r\n", "\n")
        if has_control_characters(value, multiline=spec.kind == "long_text"):
            raise ApplicationError(_l("Control characters are not allowed."), field=name)
        if len(value) > spec.max_length:
            raise ApplicationError(
                _l("Use at most %(n)d characters.", n=spec.max_length), field=name
            )
        limit = (application.call.word_limits or {}).get(name)
        if limit and word_count(value) > limit:
            raise ApplicationError(
                _l("Use at most %(n)d words (now %(count)d).", n=limit, count=word_count(value)),
                field=name,
            )
        return value
    if spec.kind == "int":
        return _clean_int(name, raw, application)
    if spec.kind == "codes":
        return _clean_codes(session, name, raw)
    if spec.kind == "links":
        return _clean_links(session, name, raw)
    return _clean_choice(application, name, raw)


def _clean_int(name: str, raw, application: Application) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if not is_whole_number(text):
        raise ApplicationError(_l("Enter a whole number, without spaces or signs."), field=name)
    value = int(text)
    if name == "duration_months" and not 1 <= value <= application.call.max_duration_months:
        raise ApplicationError(
            _l(
                "The duration must be from 1 to %(n)d months.",
                n=application.call.max_duration_months,
            ),
            field=name,
        )
    if value > 10**7:
        raise ApplicationError(_l("Enter a realistic number."), field=name)
    return value


def _clean_codes(session: Session, name: str, raw) -> list[str]:
    values = sorted(set(raw or []))
    known = set(session.scalars(select(Region.code))) if name == "regions" else set(TARGET_GROUPS)
    if not set(values) <= known:
        raise ApplicationError(_l("Choose from the list."), field=name)
    return values


def _clean_links(session: Session, name: str, raw) -> list:
    model, key = LINK_MODELS[name]
    wanted = sorted({str(value) for value in raw or []})
    column = getattr(model, key)
    keys = [int(value) for value in wanted if is_whole_number(value)] if key == "number" else wanted
    items = list(session.scalars(select(model).where(column.in_(keys)))) if keys else []
    if len(items) != len(wanted):
        raise ApplicationError(_l("Choose from the list."), field=name)
    return items


def _clean_choice(application: Application, name: str, raw):
    if name == "gender_marker":
        return _clean_gender_marker(raw)
    if name == "language":
        if raw not in ("ar", "fr"):
            raise ApplicationError(_l("Choose Arabic or French."), field=name)
        return raw
    lots = {str(lot.id): lot.id for lot in application.call.lots}
    if str(raw) not in lots:
        raise ApplicationError(_l("Choose one of the call's lots."), field=name)
    return lots[str(raw)]


GENDER_MARKER_VALUES = ("0", "1", "2")


def _clean_gender_marker(raw) -> int | None:
    """Read the OECD DAC gender equality marker: 0, 1 or 2, or nothing yet."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if text not in GENDER_MARKER_VALUES:
        raise ApplicationError(
            _l("Choose a gender equality marker: 0, 1 or 2."), field="gender_marker"
        )
    return int(text)


def needs_gender_justification(marker, justification: str) -> bool:
    """Tell whether a marker of 1 or 2 lacks the justification it requires."""
    return marker in (1, 2) and not (justification or "").strip()


def _check_gender_marker(cleaned: dict) -> None:
    """Refuse a marker of 1 or 2 sent without its justification in the same form."""
    if "gender_marker" not in cleaned or "gender_justification" not in cleaned:
        return  # one field autosaved alone: completeness asks for the other before submission
    if needs_gender_justification(cleaned["gender_marker"], cleaned["gender_justification"]):
        raise ApplicationError(
            _l("Explain why the project has this gender equality marker."),
            field="gender_justification",
        )


def _assign(application: Application, name: str, value) -> None:
    if name.startswith("beneficiaries."):
        application.beneficiaries = {**application.beneficiaries, name.split(".", 1)[1]: value}
    elif name == "team":
        application.team = [{"line": line.strip()} for line in value.split("\n") if line.strip()]
    else:
        setattr(application, name, value)


def ensure_editable(session: Session, application: Application) -> datetime:
    """Refuse changes to a submitted or withdrawn application, or after the deadline.

    Takes the application's row lock first and reloads it, so that parallel changes (two
    editors, a save during a submit) run one after the other and see each other's result.
    """
    call = application.call  # held, so that the reload below finds it without a query
    _lock(session, application)
    if application.status == ApplicationStatus.SUBMITTED:
        raise ApplicationError(
            _l("This application is submitted. Reopen it to change it before the deadline.")
        )
    if application.status == ApplicationStatus.WITHDRAWN:
        raise ApplicationError(_l("This application was withdrawn."))
    now = database_now(session)
    deadline = effective_deadline(session, application)
    if call.status != CallStatus.PUBLISHED or now >= deadline:
        raise DeadlinePassed(deadline, now)
    return now


def effective_deadline(session: Session, application: Application) -> datetime:
    """Return the deadline for this association: the call's, or its unused extension's."""
    extension = session.scalar(
        select(DeadlineExtension).where(
            DeadlineExtension.call_id == application.call_id,
            DeadlineExtension.association_id == application.association_id,
            DeadlineExtension.used_at.is_(None),
        )
    )
    return extension.until if extension is not None else application.call.closes_at


def save_fields(
    session: Session, application: Application, changes: dict, versions: dict, *, actor
) -> int:
    """Save several fields at once, all or nothing; return the new application version.

    `versions[name]` is the field's version the user's page was built from; a field changed
    since then is a conflict unless the user's value equals the saved one.
    """
    ensure_editable(session, application)
    cleaned = {name: _clean(session, application, name, raw) for name, raw in changes.items()}
    _check_gender_marker(cleaned)
    changed = []
    for name, value in cleaned.items():
        current = field_value(application, name)
        comparable = field_comparable(value)
        if comparable == field_comparable(current):
            continue
        if int(versions.get(name, 0)) != field_version(application, name):
            raise EditConflict(name, current, changes[name], field_version(application, name))
        changed.append((name, value))
    if not changed:
        return application.version
    application.version += 1
    versions_now = dict(application.field_versions or {})
    for name, value in changed:
        _assign(application, name, value)
        versions_now[name] = application.version
    application.field_versions = versions_now
    application.updated_at = utcnow()
    session.flush()
    record_event(
        session, actor, "application.saved", application, fields=[name for name, _v in changed]
    )
    return application.version


def field_comparable(value):
    """Return a value in a form where two equal field values compare equal."""
    if isinstance(value, list):
        return sorted(str(getattr(item, "code", getattr(item, "number", item))) for item in value)
    return value


# --- budget ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetSummary:
    total: int
    requested: int
    cofunding: int
    cofunding_percent: float
    requested_too_low: bool
    requested_too_high: bool
    cofunding_too_low: bool

    @property
    def has_problem(self) -> bool:
        return self.requested_too_low or self.requested_too_high or self.cofunding_too_low


def budget_summary(application: Application) -> BudgetSummary:
    """Compute the totals, the amount asked of the funder and the co-funding share."""
    call = application.call
    total = sum(line.total for line in application.budget_lines)
    cofunding = sum(line.cofunding for line in application.budget_lines)
    requested = total - cofunding
    share = (cofunding * 100 / total) if total else 0.0
    return BudgetSummary(
        total=total,
        requested=requested,
        cofunding=cofunding,
        cofunding_percent=round(share, 1),
        requested_too_low=bool(application.budget_lines) and requested < call.min_amount,
        requested_too_high=requested > call.max_amount,
        cofunding_too_low=bool(total) and share < call.min_cofunding_percent,
    )


def _clean_amount(raw, field: str, *, minimum: int = 0) -> int:
    text = str(raw if raw is not None else "").strip().replace(" ", "").replace("\u202f", "")
    if not is_whole_number(text):
        raise ApplicationError(
            _l("Enter a whole number of dirhams, without signs or decimals."), field=field
        )
    value = int(text)
    if value < minimum:
        raise ApplicationError(_l("Enter at least %(n)d.", n=minimum), field=field)
    if value > MAX_AMOUNT:
        raise ApplicationError(_l("This amount is not realistic."), field=field)
    return value


def clean_budget_line(data: dict) -> dict:
    """Check one budget line's values; return them as integers and trimmed text."""
    category = data.get("category")
    if category not in BUDGET_CATEGORIES:
        raise ApplicationError(_l("Choose a category from the list."), field="category")
    description = (data.get("description") or "").strip()
    if has_control_characters(description, multiline=False):
        raise ApplicationError(_l("Control characters are not allowed."), field="description")
    if not description or len(description) > 300:
        raise ApplicationError(
            _l("Describe the expense in at most 300 characters."), field="description"
        )
    quantity = _clean_amount(data.get("quantity"), "quantity", minimum=1)
    unit_cost = _clean_amount(data.get("unit_cost"), "unit_cost")
    cofunding = _clean_amount(data.get("cofunding") or 0, "cofunding")
    if quantity * unit_cost > MAX_AMOUNT:
        raise ApplicationError(_l("This amount is not realistic."), field="unit_cost")
    if cofunding > quantity * unit_cost:
        raise ApplicationError(
            _l("The co-funded part cannot exceed the line's total."), field="cofunding"
        )
    return {
        "category": category,
        "description": description,
        "quantity": quantity,
        "unit_cost": unit_cost,
        "cofunding": cofunding,
    }


def _bump(application: Application) -> None:
    application.version += 1
    application.updated_at = utcnow()


def add_budget_line(session: Session, application: Application, data: dict, *, actor) -> BudgetLine:
    """Add a budget line (within the call's limit on the number of lines)."""
    ensure_editable(session, application)
    values = clean_budget_line(data)
    if len(application.budget_lines) >= application.call.max_budget_lines:
        raise ApplicationError(
            _l("This call allows at most %(n)d budget lines.", n=application.call.max_budget_lines)
        )
    position = max((line.position for line in application.budget_lines), default=0) + 1
    line = BudgetLine(position=position, **values)
    application.budget_lines.append(line)
    _bump(application)
    session.flush()
    record_event(session, actor, "application.budget_line_added", application, line=line.id)
    return line


def update_budget_line(
    session: Session, application: Application, line: BudgetLine, data: dict, *, actor
) -> BudgetLine:
    """Change a budget line."""
    ensure_editable(session, application)
    for name, value in clean_budget_line(data).items():
        setattr(line, name, value)
    _bump(application)
    session.flush()
    record_event(session, actor, "application.budget_line_changed", application, line=line.id)
    return line


def remove_budget_line(
    session: Session, application: Application, line: BudgetLine, *, actor
) -> None:
    """Remove a budget line."""
    ensure_editable(session, application)
    application.budget_lines.remove(line)
    _bump(application)
    session.flush()
    record_event(session, actor, "application.budget_line_removed", application, line=line.id)


# --- completeness ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    section: str
    field: str
    message: str
    document: object = None  # a missing required document, named in the reader's language


def current_attachments(application: Application) -> dict[int, Attachment]:
    """Return the current file of each required document, by document id."""
    return {
        attachment.document_id: attachment
        for attachment in application.attachments
        if attachment.replaced_at is None
    }


def missing_items(application: Application) -> list[Missing]:
    """List everything the application still lacks before it can be submitted."""
    missing: list[Missing] = []
    title = application.title_ar if application.language == "ar" else application.title_fr
    if not title.strip():
        missing.append(Missing("summary", f"title_{application.language}", str(_l("The title."))))
    if application.lot_id is None:
        missing.append(Missing("summary", "lot_id", str(_l("The lot."))))
    if not application.duration_months:
        missing.append(Missing("summary", "duration_months", str(_l("The duration."))))
    if not application.regions:
        missing.append(Missing("summary", "regions", str(_l("The regions where it takes place."))))
    if not application.target_groups:
        missing.append(Missing("summary", "target_groups", str(_l("The target groups."))))
    if not any(application.beneficiaries.get(group) for group in BENEFICIARY_GROUPS):
        missing.append(
            Missing("summary", "beneficiaries.women_18_35", str(_l("The planned beneficiaries.")))
        )
    for name in NARRATIVE_FIELDS:
        if not getattr(application, name).strip():
            missing.append(Missing("narrative", name, str(NARRATIVE_LABELS[name])))
    if not application.activity_plan:
        missing.append(
            Missing("narrative", "plan", str(_l("At least one activity with its months.")))
        )
    if not application.indicator_targets:
        missing.append(
            Missing("narrative", "plan", str(_l("At least one indicator with its target.")))
        )
    if not application.axes:
        missing.append(Missing("links", "axes", str(_l("At least one strategic axis."))))
    if needs_gender_justification(application.gender_marker, application.gender_justification):
        missing.append(
            Missing(
                "links",
                "gender_justification",
                str(_l("The justification of the gender equality marker.")),
            )
        )
    if not application.team:
        missing.append(Missing("team", "team", str(_l("The project team."))))
    missing.extend(_budget_missing(application))
    files = current_attachments(application)
    for document in application.call.documents:
        if document.mandatory and document.id not in files:
            missing.append(Missing("documents", f"document-{document.id}", "", document))
    return missing


def _budget_missing(application: Application) -> list[Missing]:
    if not application.budget_lines:
        return [Missing("budget", "budget", str(_l("At least one budget line.")))]
    summary = budget_summary(application)
    problems = []
    if summary.requested_too_low or summary.requested_too_high:
        problems.append(
            Missing("budget", "budget", str(_l("An amount requested within the call's limits.")))
        )
    if summary.cofunding_too_low:
        problems.append(Missing("budget", "budget", str(_l("The minimum co-funding share."))))
    return problems


# --- submission -----------------------------------------------------------------------------


class Incomplete(ApplicationError):
    """The application lacks something; `missing` says what."""

    def __init__(self, missing: list[Missing]):
        super().__init__(_l("The application is not complete yet."))
        self.missing = missing


def snapshot(application: Application) -> dict:
    """Return the content of the application as submitted, in plain values."""
    return {
        "call": application.call.code,
        "association": application.association.registration_number,
        "language": application.language,
        "lot": application.lot_id,
        "title_ar": application.title_ar,
        "title_fr": application.title_fr,
        "duration_months": application.duration_months,
        "regions": list(application.regions),
        "target_groups": list(application.target_groups),
        "beneficiaries": dict(application.beneficiaries),
        **{name: getattr(application, name) for name in NARRATIVE_FIELDS},
        "activity_plan": list(application.activity_plan),
        "indicator_targets": list(application.indicator_targets),
        "axes": [axis.code for axis in application.axes],
        "sdgs": [sdg.number for sdg in application.sdgs],
        "un_mechanisms": [mechanism.code for mechanism in application.un_mechanisms],
        "un_recommendations": application.un_recommendations,
        "gender_marker": application.gender_marker,
        "gender_justification": application.gender_justification,
        "team": list(application.team),
        "budget": [
            {
                "category": line.category,
                "description": line.description,
                "quantity": line.quantity,
                "unit_cost": line.unit_cost,
                "cofunding": line.cofunding,
            }
            for line in application.budget_lines
        ],
    }


def _existing_submission(session: Session, application: Application):
    from portal.applications.models import Submission

    return session.scalar(
        select(Submission).where(
            Submission.application_id == application.id,
            Submission.application_version == application.version,
        )
    )


def _lock(session: Session, application: Application) -> None:
    """Take the application's row lock and reload it, so parallel submits run one by one."""
    # Fetching the row is what reloads it: an unread result would only take the lock.
    session.scalars(
        select(Application)
        .where(Application.id == application.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _deadline_allows(session: Session, application: Application, now: datetime) -> bool:
    """Tell whether a submission at `now` is on time, using (once) an extension if needed."""
    if application.call.status != CallStatus.PUBLISHED:
        return False
    if now < application.call.closes_at:
        return True
    extension = session.scalar(
        select(DeadlineExtension).where(
            DeadlineExtension.call_id == application.call_id,
            DeadlineExtension.association_id == application.association_id,
            DeadlineExtension.used_at.is_(None),
            DeadlineExtension.until > now,
        )
    )
    if extension is None:
        return False
    extension.used_at = now
    return True


def submit_application(session: Session, application: Application, *, actor):
    """Submit the current state: checked against the deadline at this instant, all or nothing.

    Submitting the same state twice (a double click, a resent form) returns the first receipt.
    """
    from portal.applications.models import Submission
    from portal.applications.receipts import seal_receipt
    from portal.calls.services import freeze_call
    from portal.notifications.services import queue_message

    _lock(session, application)
    existing = _existing_submission(session, application)
    if existing is not None:
        return existing
    if application.status == ApplicationStatus.WITHDRAWN:
        raise ApplicationError(_l("This application was withdrawn."))
    now = database_now(session)
    if not _deadline_allows(session, application, now):
        raise DeadlinePassed(application.call.closes_at, now)
    missing = missing_items(application)
    if missing:
        raise Incomplete(missing)
    files = current_attachments(application)
    submission = Submission(
        application=application,
        number=len(application.submissions) + 1,
        reference=f"pending-{application.id}-{application.version}",
        submitted_at=now,
        submitted_by_id=actor.id,
        application_version=application.version,
        content=snapshot(application),
        content_sha256="",
        attachment_hashes=[
            {"document": a.document.code, "name": a.original_name, "sha256": a.sha256}
            for a in sorted(files.values(), key=lambda a: a.document.position)
        ],
        signature="",
        late_by_extension=now >= application.call.closes_at,
    )
    session.add(submission)
    session.flush()
    seal_receipt(submission)
    application.status = ApplicationStatus.SUBMITTED
    application.submitted_at = now
    freeze_call(session, application.call)
    session.flush()
    record_event(
        session,
        actor,
        "application.submitted",
        application,
        reference=submission.reference,
        number=submission.number,
        late_by_extension=submission.late_by_extension,
    )
    queue_message(
        session,
        actor.email,
        actor.locale,
        "submission_receipt",
        application=application,
        submission=submission,
        check_url=external_url(
            "applications.receipt_check",
            reference=submission.reference,
            signature=submission.signature,
        ),
    )
    return submission


def reopen_application(session: Session, application: Application, *, actor) -> None:
    """Let the association change a submitted application before the deadline.

    The last submission still counts until a new one is made.
    """
    if application.status != ApplicationStatus.SUBMITTED:
        raise ApplicationError(_l("Only a submitted application can be reopened."))
    now = database_now(session)
    if now >= effective_deadline(session, application):
        raise DeadlinePassed(application.call.closes_at, now)
    application.status = ApplicationStatus.DRAFT
    record_event(session, actor, "application.reopened", application)
    session.flush()


def withdraw_application(session: Session, application: Application, *, actor) -> None:
    """Withdraw the application before the deadline; it stays on record as withdrawn."""
    if application.status == ApplicationStatus.WITHDRAWN:
        return
    now = database_now(session)
    if now >= effective_deadline(session, application):
        raise DeadlinePassed(application.call.closes_at, now)
    application.status = ApplicationStatus.WITHDRAWN
    application.withdrawn_at = now
    record_event(session, actor, "application.withdrawn", application)
    session.flush()


def final_submission(application: Application):
    """Return the submission that counts: the last one (all are on time by construction)."""
    if application.status == ApplicationStatus.WITHDRAWN or not application.submissions:
        return None
    return application.submissions[-1]


def count_applications(session: Session, call: Call) -> int:
    """Return how many applications a call has received (submitted at least once)."""
    from portal.applications.models import Submission

    return session.scalar(
        select(func.count(func.distinct(Submission.application_id)))
        .join(Application)
        .where(Application.call_id == call.id)
    )


# --- documents ------------------------------------------------------------------------------


# Files kept for one required document, the current one and those it replaced (ASVS 12.1.3):
# enough for any honest correction, and a bound on what one application can store.
MAX_FILES_PER_DOCUMENT = 20


def attach_document(
    session: Session, application: Application, document, stored, checked, *, actor
) -> Attachment:
    """Record an uploaded file for a required document; the previous file is kept as history."""
    now = ensure_editable(session, application)
    if document.call_id != application.call_id:
        raise ApplicationError(_l("This document is not asked for by the call."))
    versions = [item for item in application.attachments if item.document_id == document.id]
    if len(versions) >= MAX_FILES_PER_DOCUMENT:
        raise ApplicationError(
            _l(
                "This document has been sent %(n)d times, the most one application keeps. "
                "Write to the programme's staff if it must change again.",
                n=MAX_FILES_PER_DOCUMENT,
            )
        )
    for previous in versions:
        if previous.replaced_at is None:
            previous.replaced_at = now
    attachment = Attachment(
        document=document,
        storage_key=stored.key,
        original_name=checked.clean_name,
        content_type=checked.content_type,
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by_id=actor.id,
        uploaded_at=now,
    )
    application.attachments.append(attachment)
    _bump(application)
    session.flush()
    record_event(
        session,
        actor,
        "application.document_uploaded",
        application,
        document=document.code,
        sha256=stored.sha256,
        size=stored.size,
    )
    return attachment


# --- activity plan and indicators -----------------------------------------------------------

PLAN_KINDS = {"activity": "activity_plan", "indicator": "indicator_targets"}
MAX_PLAN_ROWS = 30


def _month(raw, field: str, application: Application) -> int:
    text = str(raw if raw is not None else "").strip()
    longest = application.duration_months or application.call.max_duration_months
    if not is_whole_number(text) or not 1 <= int(text) <= longest:
        raise ApplicationError(_l("Enter a month from 1 to %(n)d.", n=longest), field=field)
    return int(text)


def clean_plan_row(application: Application, kind: str, data: dict) -> dict:
    """Check one row of the activity plan or of the indicators."""
    for name in ("title", "indicator", "target"):
        if has_control_characters(str(data.get(name) or ""), multiline=False):
            raise ApplicationError(_l("Control characters are not allowed."), field=name)
    if kind == "activity":
        title = (data.get("title") or "").strip()
        if not title or len(title) > 200:
            raise ApplicationError(
                _l("Describe the activity in at most 200 characters."), field="title"
            )
        start = _month(data.get("start"), "start", application)
        end = _month(data.get("end"), "end", application)
        if end < start:
            raise ApplicationError(_l("The activity must end after it starts."), field="end")
        return {"title": title, "start": start, "end": end}
    indicator = (data.get("indicator") or "").strip()
    target = (data.get("target") or "").strip()
    if not indicator or len(indicator) > 200:
        raise ApplicationError(
            _l("Name the indicator in at most 200 characters."), field="indicator"
        )
    if not target or len(target) > 100:
        raise ApplicationError(
            _l("Give the indicator's target in at most 100 characters."), field="target"
        )
    return {"indicator": indicator, "target": target}


def add_plan_row(session: Session, application: Application, kind: str, data: dict, *, actor):
    """Add an activity (with its months) or an indicator (with its target)."""
    ensure_editable(session, application)
    row = clean_plan_row(application, kind, data)
    rows = list(getattr(application, PLAN_KINDS[kind]))
    if len(rows) >= MAX_PLAN_ROWS:
        raise ApplicationError(_l("At most %(n)d rows.", n=MAX_PLAN_ROWS))
    setattr(application, PLAN_KINDS[kind], [*rows, row])
    _bump(application)
    session.flush()
    record_event(session, actor, f"application.{kind}_added", application)


def remove_plan_row(session: Session, application: Application, kind: str, index: int, *, actor):
    """Remove one activity or indicator."""
    ensure_editable(session, application)
    rows = list(getattr(application, PLAN_KINDS[kind]))
    if not 0 <= index < len(rows):
        raise LookupError(index)
    del rows[index]
    setattr(application, PLAN_KINDS[kind], rows)
    _bump(application)
    session.flush()
    record_event(session, actor, f"application.{kind}_removed", application)
