"""Eligibility screening: the call's automatic rules, the manual checklist, the decision (with a
version so that two staff never overwrite each other silently), splitting the work, progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.accounts.models import Role, User, UserRole
from portal.applications.models import Application, ApplicationStatus, Submission
from portal.applications.services import budget_summary, current_attachments
from portal.audit.services import record_event
from portal.calls.models import Call, CallStatus
from portal.db import database_now
from portal.forms import has_control_characters
from portal.notifications.services import queue_message
from portal.organisations.models import Association
from portal.organisations.services import writers_of
from portal.review.models import Screening, ScreeningDecision
from portal.rules import RuleRefused
from portal.web.links import external_url

MAX_REASON = 2000
DECISIONS = (ScreeningDecision.ELIGIBLE, ScreeningDecision.INELIGIBLE)


class ScreeningError(RuleRefused):
    """A screening change that the rules refuse."""


class ScreeningConflict(ScreeningError):
    """Someone decided after the user opened the page; nothing was overwritten."""

    def __init__(self, screening: Screening):
        super().__init__(
            _l("Someone else saved a decision on this application after you opened the page.")
        )
        self.screening = screening


# --- which applications, and when -----------------------------------------------------------


def received_clause():
    """Select the applications that screening covers: submitted once, not withdrawn.

    An application reopened before the deadline is a draft again, but its last submission
    still counts, so it is screened too.
    """
    submitted_once = exists().where(Submission.application_id == Application.id)
    return and_(
        Application.status != ApplicationStatus.WITHDRAWN,
        or_(Application.status == ApplicationStatus.SUBMITTED, submitted_once),
    )


def screening_has_started(call: Call, now: datetime) -> bool:
    """Tell whether the call's deadline has passed, so that its applications can be screened."""
    return call.status != CallStatus.DRAFT and call.closes_at is not None and now >= call.closes_at


def _ensure_started(session: Session, call: Call) -> None:
    if not screening_has_started(call, database_now(session)):
        raise ScreeningError(_l("Screening starts when the call's deadline has passed."))


def ensure_screenings(session: Session, call: Call, application_id: int | None = None) -> int:
    """Give every received application of the call (or only this one) a screening row; return
    how many were new.

    Two staff opening the list at once may both try: the unique application id makes one of
    them fail inside its savepoint, and the rows the other created are used.
    """
    query = (
        select(Application.id)
        .where(Application.call_id == call.id, received_clause())
        .where(~exists().where(Screening.application_id == Application.id))
        .order_by(Application.id)
    )
    if application_id is not None:
        query = query.where(Application.id == application_id)
    missing = list(session.scalars(query))
    if not missing:
        return 0
    rows = [{"application_id": application_id, "call_id": call.id} for application_id in missing]
    try:
        with session.begin_nested():
            session.execute(Screening.__table__.insert(), _with_defaults(rows))
    except IntegrityError:
        return 0
    return len(rows)


def _with_defaults(rows: list[dict]) -> list[dict]:
    # A Core insert applies scalar defaults but not the JSON column's callable one.
    return [{"checks": {}, **row} for row in rows]


def find_screening(session: Session, application_id: int) -> Screening | None:
    """Return the application's screening with its screener, or None before the deadline."""
    return session.scalar(
        select(Screening)
        .options(joinedload(Screening.screener))
        .where(Screening.application_id == application_id)
    )


def load_application_for_screening(session: Session, application_id: int) -> Application | None:
    """Return a received application with all that its automatic rules read, in a fixed count."""
    return session.scalar(
        select(Application)
        .options(
            joinedload(Application.call).selectinload(Call.manual_checks),
            joinedload(Application.call).selectinload(Call.documents),
            joinedload(Application.call).selectinload(Call.allowed_regions),
            joinedload(Application.association).joinedload(Association.region),
            joinedload(Application.lot),
            selectinload(Application.budget_lines),
            selectinload(Application.attachments),
        )
        .where(Application.id == application_id, received_clause())
    )


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningFilters:
    state: str = ""  # a ScreeningDecision value, or "" for all
    mine: bool = False


def screening_query(call_id: int, filters: ScreeningFilters, user_id: int) -> Select:
    """Return rows (screening, application, association, screener's name) of the call."""
    query = (
        select(Screening, Application, Association, User.full_name.label("screener"))
        .join(Application, Application.id == Screening.application_id)
        .join(Association, Association.id == Application.association_id)
        .outerjoin(User, User.id == Screening.screener_id)
        .where(Screening.call_id == call_id, received_clause())
        .order_by(Application.id)
    )
    if filters.state in {decision.value for decision in ScreeningDecision}:
        query = query.where(Screening.decision == ScreeningDecision(filters.state))
    if filters.mine:
        query = query.where(Screening.screener_id == user_id)
    return query


@dataclass(frozen=True)
class ScreenerProgress:
    user_id: int | None
    name: str
    total: int
    done: int


@dataclass(frozen=True)
class Progress:
    total: int
    by_decision: dict[ScreeningDecision, int]
    screeners: list[ScreenerProgress]

    @property
    def done(self) -> int:
        return self.total - self.by_decision.get(ScreeningDecision.PENDING, 0)

    @property
    def eligible(self) -> int:
        return self.by_decision.get(ScreeningDecision.ELIGIBLE, 0)

    @property
    def ineligible(self) -> int:
        return self.by_decision.get(ScreeningDecision.INELIGIBLE, 0)


def screening_progress(session: Session, call_id: int) -> Progress:
    """Count the call's screenings: how many are decided, overall and per screener (one query)."""
    rows = session.execute(
        select(Screening.screener_id, User.full_name, Screening.decision, func.count())
        .join(Application, Application.id == Screening.application_id)
        .outerjoin(User, User.id == Screening.screener_id)
        .where(Screening.call_id == call_id, received_clause())
        .group_by(Screening.screener_id, User.full_name, Screening.decision)
    ).all()
    by_decision: dict[ScreeningDecision, int] = {}
    screeners: dict[int | None, list] = {}
    for screener_id, name, decision, count in rows:
        by_decision[decision] = by_decision.get(decision, 0) + count
        entry = screeners.setdefault(screener_id, [name or "", 0, 0])
        entry[1] += count
        entry[2] += 0 if decision == ScreeningDecision.PENDING else count
    ordered = sorted(screeners.items(), key=lambda item: (item[0] is None, item[1][0], item[0]))
    return Progress(
        total=sum(by_decision.values()),
        by_decision=by_decision,
        screeners=[ScreenerProgress(key, *values) for key, values in ordered],
    )


def staff_members(session: Session) -> list[User]:
    """Return the enabled users who may screen (staff and admins), by name."""
    query = (
        select(User)
        .where(
            User.is_enabled.is_(True),
            exists().where(
                UserRole.user_id == User.id, UserRole.role.in_((Role.STAFF, Role.ADMIN))
            ),
        )
        .order_by(User.full_name, User.id)
    )
    return list(session.scalars(query))


# --- splitting the work ---------------------------------------------------------------------


def split_screening(session: Session, call: Call, staff_ids: list[int], *, actor) -> dict:
    """Share the call's undecided applications among these staff members, in turn.

    Deterministic: applications by id, staff by id, the first application to the first person.
    Undecided applications already given to someone are shared again, so that a split can be
    redone when someone joins or leaves. Returns {user id: number of applications}.
    """
    _ensure_started(session, call)
    chosen = sorted(set(staff_ids))
    if not chosen:
        raise ScreeningError(_l("Choose at least one staff member."), field="staff_ids")
    allowed = {user.id for user in staff_members(session)}
    if not set(chosen) <= allowed:
        raise ScreeningError(_l("Choose staff members from the list."), field="staff_ids")
    ensure_screenings(session, call)
    pending = list(
        session.scalars(
            select(Screening.id)
            .join(Application, Application.id == Screening.application_id)
            .where(
                Screening.call_id == call.id,
                Screening.decision == ScreeningDecision.PENDING,
                received_clause(),
            )
            .order_by(Screening.application_id)
        )
    )
    if not pending:
        raise ScreeningError(_l("Every application of this call is already screened."))
    shares = {user_id: pending[index :: len(chosen)] for index, user_id in enumerate(chosen)}
    for user_id, ids in shares.items():
        if ids:
            session.execute(
                update(Screening)
                .where(Screening.id.in_(ids))
                .values(screener_id=user_id)
                .execution_options(synchronize_session=False)
            )
    counts = {user_id: len(ids) for user_id, ids in shares.items()}
    record_event(session, actor, "screening.split", call, shares=counts)
    session.flush()
    return counts


# --- the automatic rules --------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    code: str
    label: str
    passed: bool
    detail: str


def founding_limit(call: Call) -> date | None:
    """Return the latest founding date the call accepts, or None when it sets no minimum age."""
    if not call.min_years_since_founding or call.closes_at is None:
        return None
    deadline = call.closes_at.date()
    years = call.min_years_since_founding
    try:
        return deadline.replace(year=deadline.year - years)
    except ValueError:  # 29 February
        return deadline.replace(year=deadline.year - years, day=28)


def applications_of_association(session: Session, application: Application) -> int:
    """Count the association's received applications to the same call."""
    return session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.call_id == application.call_id,
            Application.association_id == application.association_id,
            received_clause(),
        )
    )


def automatic_rules(session: Session, application: Application, locale: str) -> list[RuleResult]:
    """Check the call's rules that the portal can check by itself, each with what it found."""
    call, association = application.call, application.association
    results = [
        RuleResult(
            "verified",
            str(_l("The association is verified by staff")),
            association.is_verified,
            "" if association.is_verified else str(_l("It is not verified.")),
        )
    ]
    limit = founding_limit(call)
    if limit is not None:
        results.append(
            RuleResult(
                "founded",
                str(
                    _l(
                        "Founded at least %(n)d years before the deadline",
                        n=call.min_years_since_founding,
                    )
                ),
                association.founded_on <= limit,
                str(
                    _l(
                        "Founded on %(founded)s; the latest date accepted is %(limit)s.",
                        founded=association.founded_on.isoformat(),
                        limit=limit.isoformat(),
                    )
                ),
            )
        )
    if call.allowed_regions:
        allowed = {region.id for region in call.allowed_regions}
        results.append(
            RuleResult(
                "region",
                str(_l("The association's region is one the call is open to")),
                association.region_id in allowed,
                association.region.text_for("name", locale),
            )
        )
    count = applications_of_association(session, application)
    results.append(
        RuleResult(
            "count",
            str(
                _l(
                    "At most %(n)d applications per association",
                    n=call.max_applications_per_association,
                )
            ),
            count <= call.max_applications_per_association,
            str(_l("This association sent %(n)d applications to this call.", n=count)),
        )
    )
    results.extend(_budget_rules(application))
    results.append(_duration_rule(application))
    results.append(_documents_rule(application, locale))
    return results


def _budget_rules(application: Application) -> list[RuleResult]:
    call = application.call
    summary = budget_summary(application)
    amount_ok = (
        bool(application.budget_lines)
        and not summary.requested_too_low
        and not summary.requested_too_high
    )
    return [
        RuleResult(
            "amount",
            str(
                _l(
                    "Amount requested from %(min)d to %(max)d MAD",
                    min=call.min_amount,
                    max=call.max_amount,
                )
            ),
            amount_ok,
            str(_l("%(amount)d MAD requested.", amount=summary.requested)),
        ),
        RuleResult(
            "cofunding",
            str(_l("Co-funding of at least %(n)d%%", n=call.min_cofunding_percent)),
            not summary.cofunding_too_low,
            str(_l("Co-funding: %(share)s%%.", share=summary.cofunding_percent)),
        ),
    ]


def _duration_rule(application: Application) -> RuleResult:
    longest = application.call.max_duration_months
    months = application.duration_months
    return RuleResult(
        "duration",
        str(_l("Duration from 1 to %(n)d months", n=longest)),
        months is not None and 1 <= months <= longest,
        str(_l("%(n)s months.", n=months if months is not None else "—")),
    )


def _documents_rule(application: Application, locale: str) -> RuleResult:
    files = current_attachments(application)
    missing = [
        document.text_for("name", locale)
        for document in application.call.documents
        if document.mandatory and document.id not in files
    ]
    return RuleResult(
        "documents",
        str(_l("Every mandatory document is attached")),
        not missing,
        str(_l("Missing: %(names)s.", names=", ".join(missing))) if missing else "",
    )


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    decision: str
    reason_ar: str = ""
    reason_fr: str = ""
    checks: tuple[int, ...] = ()  # ids of the manual checks ticked
    version: int = 0  # the screening's version the user's page was built from


def _clean(application: Application, data: Decision) -> tuple[ScreeningDecision, str, str, dict]:
    if data.decision not in {decision.value for decision in DECISIONS}:
        raise ScreeningError(_l("Choose eligible or ineligible."), field="decision")
    decision = ScreeningDecision(data.decision)
    reasons = {"ar": (data.reason_ar or "").strip(), "fr": (data.reason_fr or "").strip()}
    for language, reason in reasons.items():
        if has_control_characters(reason, multiline=True):
            raise ScreeningError(
                _l("Control characters are not allowed."), field=f"reason_{language}"
            )
        if len(reason) > MAX_REASON:
            raise ScreeningError(
                _l("Use at most %(n)d characters.", n=MAX_REASON), field=f"reason_{language}"
            )
    if decision == ScreeningDecision.INELIGIBLE and not reasons[application.language]:
        raise ScreeningError(
            _l("Give the reason in the language of the application at least."),
            field=f"reason_{application.language}",
        )
    ticked = set(data.checks)
    checks = {str(check.id): check.id in ticked for check in application.call.manual_checks}
    if decision == ScreeningDecision.ELIGIBLE and not all(checks.values()):
        raise ScreeningError(
            _l("Tick every manual check before finding the application eligible."),
            field="checks",
        )
    return decision, reasons["ar"], reasons["fr"], checks


def decide_screening(
    session: Session,
    screening: Screening,
    application: Application,
    data: Decision,
    *,
    actor,
    failed_rules: list[str] = (),
) -> Screening:
    """Record (or change) the decision; an application found ineligible has its owners and
    editors told why, in their language. Refused when someone decided since `data.version`."""
    _ensure_started(session, application.call)
    decision, reason_ar, reason_fr, checks = _clean(application, data)
    # A conditional update, atomic on every database: of two staff deciding from the same
    # version, exactly one moves it on.
    moved = session.execute(
        update(Screening)
        .where(Screening.id == screening.id, Screening.version == data.version)
        .values(version=Screening.version + 1)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        session.refresh(screening)
        raise ScreeningConflict(screening)
    session.refresh(screening)
    before = screening.decision
    now = database_now(session)
    screening.decision = decision
    screening.reason_ar, screening.reason_fr = reason_ar, reason_fr
    screening.checks = checks
    screening.decided_by_id = actor.id
    screening.decided_at = now
    if screening.screener_id is None:
        screening.screener_id = actor.id
    record_event(
        session,
        actor,
        "screening.decided" if before == ScreeningDecision.PENDING else "screening.changed",
        application,
        before=before.value,
        after=decision.value,
        reason_ar=reason_ar,
        reason_fr=reason_fr,
        checks=checks,
        failed_rules=list(failed_rules),
    )
    if decision == ScreeningDecision.INELIGIBLE and before != ScreeningDecision.INELIGIBLE:
        _tell_applicants(session, application, screening)
    session.flush()
    return screening


def _tell_applicants(session: Session, application: Application, screening: Screening) -> None:
    """Mail the reason to each owner and editor, in their own language."""
    link = external_url("applications.overview", application_id=application.id)
    for writer in writers_of(session, application.association_id):
        mine = screening.reason_fr if writer.locale == "fr" else screening.reason_ar
        other = screening.reason_ar if writer.locale == "fr" else screening.reason_fr
        queue_message(
            session,
            writer.email,
            writer.locale,
            "screening_ineligible",
            application=application,
            call=application.call,
            reason=mine or other,
            link=link,
        )
