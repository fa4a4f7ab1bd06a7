"""Call rules: building a call, publishing it when complete, freezing it at first submission."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.applications.models import Application, Attachment
from portal.audit.services import record_event
from portal.calls.models import (
    DEFAULT_WORD_LIMITS,
    DOCUMENT_TYPES,
    Call,
    CallStatus,
    Criterion,
    DeadlineExtension,
    Lot,
    ManualCheck,
    RequiredDocument,
)
from portal.db import utcnow
from portal.organisations.models import Association, AssociationStatus
from portal.rules import RuleRefused
from portal.strategy.models import FundingPartner, PlanProject, Region, StrategicAxis

FROZEN_MESSAGE = _l(
    "Applications were already submitted to this call: its lots, criteria, documents and "
    "eligibility rules can no longer change. Create a new version of the call instead."
)


class CallError(RuleRefused):
    """A change to a call that the rules refuse."""


class CallIncomplete(CallError):
    """The call cannot be published yet; `missing` lists what is missing."""

    def __init__(self, missing: list[str]):
        super().__init__(_l("The call cannot be published yet."))
        self.missing = missing


GENERAL_FIELDS = (
    "code",
    "title_ar",
    "title_fr",
    "description_ar",
    "description_fr",
    "results_expected_at",
)
TIMELINE_FIELDS = ("opens_at", "closes_at")
# Set on the review settings page (portal.review); copied with the call.
REVIEW_FIELDS = (
    "reviews_per_application",
    "max_reviews_per_evaluator",
    "review_deadline",
    "blind_review",
    "disagreement_threshold",
    "overall_minimum",
)
RULE_FIELDS = (
    "budget_total",
    "min_amount",
    "max_amount",
    "min_cofunding_percent",
    "max_duration_months",
    "min_years_since_founding",
    "max_applications_per_association",
    "max_budget_lines",
)


# --- reading --------------------------------------------------------------------------------


def _call_with(*lot_parts) -> Select:
    lots = [selectinload(Call.lots).selectinload(part) for part in lot_parts]
    return select(Call).options(
        *lots,
        selectinload(Call.criteria),
        selectinload(Call.documents),
        selectinload(Call.manual_checks),
        selectinload(Call.allowed_regions),
    )


def load_call(session: Session, call_id: int) -> Call | None:
    """Return a call with everything its pages show, in a fixed number of queries."""
    return session.scalar(_call_with(Lot.axes, Lot.plan_projects).where(Call.id == call_id))


def load_public_call(session: Session, call_id: int) -> Call | None:
    """Return a call with what its public page shows (not the lots' plan projects): the page
    every applicant opens, the busiest of a deadline rush."""
    return session.scalar(_call_with(Lot.axes).where(Call.id == call_id))


def load_call_with_criteria(session: Session, call_id: int) -> Call | None:
    """Return a call with its criteria and lots: what ranking and deciding pages read."""
    return session.scalar(
        select(Call)
        .where(Call.id == call_id)
        .options(selectinload(Call.criteria), selectinload(Call.lots))
    )


def open_calls(session: Session, now: datetime | None = None) -> list[Call]:
    """Return the published calls whose deadline has not passed, soonest deadline first."""
    now = now or utcnow()
    query = (
        select(Call)
        .options(selectinload(Call.lots))
        .where(Call.status == CallStatus.PUBLISHED, Call.closes_at > now)
        .order_by(Call.closes_at)
    )
    return list(session.scalars(query))


def staff_calls(session: Session) -> list[Call]:
    """Return every call, newest first."""
    return list(session.scalars(select(Call).order_by(Call.created_at.desc(), Call.id.desc())))


def parts_can_change(call: Call) -> bool:
    """Tell whether lots, criteria, documents and eligibility rules may still change."""
    return not call.is_frozen and call.status in (CallStatus.DRAFT, CallStatus.PUBLISHED)


def extensions_of(session: Session, call: Call) -> list[tuple[DeadlineExtension, Association]]:
    """Return the call's deadline extensions with their associations, latest first."""
    query = (
        select(DeadlineExtension, Association)
        .join(Association, Association.id == DeadlineExtension.association_id)
        .where(DeadlineExtension.call_id == call.id)
        .order_by(DeadlineExtension.granted_at.desc(), DeadlineExtension.id.desc())
    )
    return [(extension, association) for extension, association in session.execute(query)]


def extension_candidates(session: Session) -> list[Association]:
    """Return the associations that may be given an extension: the verified ones, by name."""
    query = (
        select(Association)
        .where(Association.status == AssociationStatus.VERIFIED)
        .order_by(Association.name_fr, Association.id)
    )
    return list(session.scalars(query))


# --- building -------------------------------------------------------------------------------


def _refuse_if_frozen(call: Call) -> None:
    if call.is_frozen:
        raise CallError(FROZEN_MESSAGE)


def _refuse_if_not_editable(call: Call) -> None:
    if call.status in (CallStatus.CLOSED, CallStatus.ARCHIVED):
        raise CallError(_l("A closed or archived call can no longer change."))


def _code_taken(session: Session, code: str, except_id: int | None) -> bool:
    query = select(Call.id).where(func.upper(Call.code) == code.upper())
    if except_id is not None:
        query = query.where(Call.id != except_id)
    return session.scalar(query) is not None


def _check_amounts(values: dict) -> None:
    if values["max_amount"] < values["min_amount"]:
        raise CallError(
            _l("The maximum amount must be at least the minimum amount."), field="max_amount"
        )
    if values["max_amount"] > values["budget_total"]:
        raise CallError(
            _l("The maximum amount cannot exceed the call's budget."), field="max_amount"
        )


def _check_timeline(values: dict) -> None:
    opens, closes = values.get("opens_at"), values.get("closes_at")
    if opens and closes and closes <= opens:
        raise CallError(_l("The call must close after it opens."), field="closes_at")


def _column_default(name: str):
    default = Call.__table__.c[name].default
    return default.arg if default is not None and not callable(default.arg) else None


def create_call(session: Session, data: dict, *, actor) -> Call:
    """Create a draft call."""
    code = data["code"].strip().upper()
    if _code_taken(session, code, None):
        raise CallError(_l("Another call already uses this reference code."), field="code")
    rules = {name: data.get(name, _column_default(name)) for name in RULE_FIELDS}
    _check_timeline(data)
    _check_amounts(rules)
    call = Call(
        code=code,
        description_ar="",
        description_fr="",
        word_limits=dict(data.get("word_limits") or DEFAULT_WORD_LIMITS),
        **rules,
    )
    _apply(call, {**data, "code": code}, GENERAL_FIELDS + TIMELINE_FIELDS)
    call.allowed_regions = _regions(session, data.get("region_codes", []))
    session.add(call)
    session.flush()
    record_event(session, actor, "call.created", call, code=call.code)
    return call


def _regions(session: Session, codes) -> list[Region]:
    if not codes:
        return []
    return list(session.scalars(select(Region).where(Region.code.in_(list(codes)))))


def _apply(call: Call, data: dict, names) -> list[str]:
    changed = []
    for name in names:
        if name in data and getattr(call, name) != data[name]:
            setattr(call, name, data[name])
            changed.append(name)
    return changed


def update_call(session: Session, call: Call, data: dict, *, actor) -> Call:
    """Change a call's texts, timeline, amounts and eligibility; a frozen call keeps its rules.

    Everything is checked before anything changes, so a refusal leaves the call as it was.
    """
    _refuse_if_not_editable(call)
    if "code" in data:
        data = {**data, "code": data["code"].strip().upper()}
        if _code_taken(session, data["code"], call.id):
            raise CallError(_l("Another call already uses this reference code."), field="code")
    rules = {name: data[name] for name in RULE_FIELDS + TIMELINE_FIELDS if name in data}
    regions_change = "region_codes" in data and sorted(data["region_codes"]) != sorted(
        region.code for region in call.allowed_regions
    )
    limits_change = "word_limits" in data and data["word_limits"] != call.word_limits
    rules_change = any(getattr(call, name) != value for name, value in rules.items())
    if call.is_frozen and (rules_change or regions_change or limits_change):
        raise CallError(FROZEN_MESSAGE)
    _check_timeline({"opens_at": call.opens_at, "closes_at": call.closes_at, **data})
    _check_amounts({name: getattr(call, name) for name in RULE_FIELDS} | rules)
    changed = _apply(call, data, GENERAL_FIELDS + TIMELINE_FIELDS + RULE_FIELDS)
    if limits_change:
        call.word_limits = dict(data["word_limits"])
        changed.append("word_limits")
    if regions_change:
        call.allowed_regions = _regions(session, data["region_codes"])
        changed.append("allowed_regions")
    if changed:
        record_event(session, actor, "call.updated", call, fields=changed)
    session.flush()
    return call


def _next_position(items) -> int:
    return max((item.position for item in items), default=0) + 1


def save_lot(session: Session, call: Call, data: dict, *, actor, lot: Lot | None = None) -> Lot:
    """Add a lot to the call, or change one; each lot serves at least one strategic axis."""
    _refuse_if_not_editable(call)
    _refuse_if_frozen(call)
    axes = list(
        session.scalars(select(StrategicAxis).where(StrategicAxis.code.in_(data["axis_codes"])))
    )
    if not axes:
        raise CallError(_l("Link the lot to at least one strategic axis."), field="axis_codes")
    projects = list(
        session.scalars(
            select(PlanProject).where(PlanProject.number.in_(data.get("project_numbers", [])))
        )
    )
    if lot is None:
        lot = Lot(call=call, position=_next_position(call.lots))
        session.add(lot)
    for name in ("title_ar", "title_fr", "description_ar", "description_fr", "budget"):
        setattr(lot, name, data[name])
    lot.axes = axes
    lot.plan_projects = projects
    session.flush()
    _set_lot_funder(session, lot, data.get("partner_code") or "", data.get("partner_share"))
    record_event(
        session,
        actor,
        "call.lot_saved",
        call,
        lot=lot.id,
        title=lot.title_fr,
        partner=data.get("partner_code") or None,
        partner_share=data.get("partner_share"),
    )
    return lot


def _set_lot_funder(session: Session, lot: Lot, partner_code: str, share: int | None) -> None:
    """Record the lot's co-funding partner and its share, or that it has none."""
    from portal.results.models import LotFunder

    session.execute(delete(LotFunder).where(LotFunder.lot_id == lot.id))
    if not partner_code:
        return
    partner = session.scalar(select(FundingPartner).where(FundingPartner.code == partner_code))
    if partner is None:
        raise CallError(_l("Choose a partner from the list."), field="partner_code")
    if share is None or not 1 <= share <= 100:
        raise CallError(
            _l("Give the partner's share of the lot, from %(min)d to %(max)d%%.", min=1, max=100),
            field="partner_share",
        )
    session.add(LotFunder(lot_id=lot.id, partner_id=partner.id, share_percent=share))
    session.flush()


def list_funding_partners(session: Session) -> list[FundingPartner]:
    return list(session.scalars(select(FundingPartner).order_by(FundingPartner.code)))


def lot_funder(session: Session, lot: Lot):
    """Return the lot's co-funding partner share (with its partner), or None."""
    from portal.results.models import LotFunder

    return session.scalar(
        select(LotFunder).options(joinedload(LotFunder.partner)).where(LotFunder.lot_id == lot.id)
    )


def save_criterion(
    session: Session, call: Call, data: dict, *, actor, criterion: Criterion | None = None
) -> Criterion:
    """Add an evaluation criterion, or change one."""
    _refuse_if_not_editable(call)
    _refuse_if_frozen(call)
    if criterion is None:
        criterion = Criterion(call=call, position=_next_position(call.criteria), weight=1)
        session.add(criterion)
    for name in ("title_ar", "title_fr", "guidance_ar", "guidance_fr", "weight", "max_score"):
        setattr(criterion, name, data[name])
    session.flush()
    record_event(session, actor, "call.criterion_saved", call, criterion=criterion.id)
    return criterion


def save_document(
    session: Session, call: Call, data: dict, *, actor, document: RequiredDocument | None = None
) -> RequiredDocument:
    """Add a required document, or change one."""
    _refuse_if_not_editable(call)
    _refuse_if_frozen(call)
    types = [kind for kind in DOCUMENT_TYPES if kind in data["allowed_types"]]
    if not types or len(types) != len(set(data["allowed_types"])):
        raise CallError(_l("Choose at least one file type."), field="allowed_types")
    if any(other is not document and other.code == data["code"] for other in call.documents):
        raise CallError(_l("Another document of this call uses this code."), field="code")
    if document is None:
        document = RequiredDocument(call=call, position=_next_position(call.documents))
        session.add(document)
    for name in ("code", "name_ar", "name_fr", "mandatory", "max_size_mb"):
        setattr(document, name, data[name])
    document.allowed_types = types
    session.flush()
    record_event(session, actor, "call.document_saved", call, document=document.code)
    return document


def save_manual_check(
    session: Session, call: Call, data: dict, *, actor, check: ManualCheck | None = None
) -> ManualCheck:
    """Add an eligibility rule that staff check by hand, or change one."""
    _refuse_if_not_editable(call)
    _refuse_if_frozen(call)
    if check is None:
        check = ManualCheck(call=call, position=_next_position(call.manual_checks))
        session.add(check)
    check.text_ar = data["text_ar"]
    check.text_fr = data["text_fr"]
    session.flush()
    record_event(session, actor, "call.manual_check_saved", call, check=check.id)
    return check


def remove_part(session: Session, call: Call, part, *, actor) -> None:
    """Remove a lot, criterion, document or manual check of a call that is not frozen."""
    _refuse_if_not_editable(call)
    _refuse_if_frozen(call)
    # Drafts point at their lot and their uploads at their document: those stay.
    if isinstance(part, Lot) and session.scalar(
        select(Application.id).where(Application.lot_id == part.id).limit(1)
    ):
        raise CallError(_l("Applications in preparation chose this lot: it cannot be removed."))
    if isinstance(part, RequiredDocument) and session.scalar(
        select(Attachment.id).where(Attachment.document_id == part.id).limit(1)
    ):
        raise CallError(
            _l("Applications in preparation hold files for this document: it cannot be removed.")
        )
    record_event(
        session, actor, "call.part_removed", call, part=type(part).__tablename__, part_id=part.id
    )
    session.delete(part)
    session.flush()


# --- publication and life cycle -------------------------------------------------------------


def missing_for_publication(call: Call, now: datetime | None = None) -> list[str]:
    """Return, in the user's language, what the call still lacks to be published."""
    now = now or utcnow()
    missing = []
    if not (call.title_ar.strip() and call.title_fr.strip()):
        missing.append(_l("The title in Arabic and in French."))
    if not (call.description_ar.strip() and call.description_fr.strip()):
        missing.append(_l("The description in Arabic and in French."))
    if call.opens_at is None or call.closes_at is None:
        missing.append(_l("The opening and closing dates."))
    elif call.closes_at <= now:
        missing.append(_l("A closing date that has not passed yet."))
    if call.budget_total <= 0:
        missing.append(_l("The call's budget."))
    if call.max_amount <= 0:
        missing.append(_l("The maximum amount per application."))
    if not call.lots:
        missing.append(_l("At least one lot."))
    if any(not lot.axes for lot in call.lots):
        missing.append(_l("Every lot linked to a strategic axis."))
    if sum(lot.budget for lot in call.lots) > call.budget_total:
        missing.append(_l("Lot budgets that fit within the call's budget."))
    if not call.criteria:
        missing.append(_l("Evaluation criteria."))
    elif call.weights_total != 100:
        missing.append(
            _l("Criteria weights that add up to 100 (now %(total)d).", total=call.weights_total)
        )
    if not call.documents:
        missing.append(_l("The list of required documents."))
    return [str(item) for item in missing]


def publish_call(session: Session, call: Call, *, actor) -> Call:
    """Publish a complete draft call; an incomplete one is refused with what is missing."""
    if call.status != CallStatus.DRAFT:
        raise CallError(_l("Only a draft call can be published."))
    missing = missing_for_publication(call)
    if missing:
        raise CallIncomplete(missing)
    call.status = CallStatus.PUBLISHED
    call.published_at = utcnow()
    record_event(session, actor, "call.published", call)
    session.flush()
    return call


_NEXT_STATUS = {CallStatus.PUBLISHED: CallStatus.CLOSED, CallStatus.CLOSED: CallStatus.ARCHIVED}


def advance_call(session: Session, call: Call, target: CallStatus, *, actor) -> Call:
    """Close a published call, or archive a closed one."""
    if _NEXT_STATUS.get(call.status) != target:
        raise CallError(_l("This change of status is not possible."))
    before = call.status
    call.status = target
    record_event(session, actor, f"call.{target.value}", call, before=before.value)
    session.flush()
    return call


def freeze_call(session: Session, call: Call) -> None:
    """Freeze lots, criteria, documents and eligibility (done at the first submission)."""
    if call.frozen_at is None:
        call.frozen_at = utcnow()
        record_event(session, None, "call.frozen", call)


def new_version(session: Session, call: Call, *, actor) -> Call:
    """Copy a call into a new draft that can be changed, linked to the one it replaces."""
    copy = Call(
        code=_free_code(session, call.code),
        previous_version_id=call.id,
        word_limits=dict(call.word_limits),
        allowed_regions=list(call.allowed_regions),
    )
    copied = GENERAL_FIELDS + TIMELINE_FIELDS + RULE_FIELDS + REVIEW_FIELDS
    _apply(copy, {name: getattr(call, name) for name in copied if name != "code"}, copied)
    copy.lots = [
        Lot(
            position=lot.position,
            title_ar=lot.title_ar,
            title_fr=lot.title_fr,
            description_ar=lot.description_ar,
            description_fr=lot.description_fr,
            budget=lot.budget,
            axes=list(lot.axes),
            plan_projects=list(lot.plan_projects),
        )
        for lot in call.lots
    ]
    copy.criteria = [
        Criterion(**{name: getattr(c, name) for name in CRITERION_FIELDS}) for c in call.criteria
    ]
    copy.documents = [
        RequiredDocument(**{name: getattr(d, name) for name in DOCUMENT_FIELDS})
        for d in call.documents
    ]
    copy.manual_checks = [
        ManualCheck(position=m.position, text_ar=m.text_ar, text_fr=m.text_fr)
        for m in call.manual_checks
    ]
    session.add(copy)
    session.flush()
    record_event(session, actor, "call.new_version", copy, previous=call.id)
    return copy


CRITERION_FIELDS = (
    "position",
    "title_ar",
    "title_fr",
    "guidance_ar",
    "guidance_fr",
    "weight",
    "max_score",
    "minimum_score",
)
DOCUMENT_FIELDS = (
    "position",
    "code",
    "name_ar",
    "name_fr",
    "mandatory",
    "allowed_types",
    "max_size_mb",
)


def _free_code(session: Session, code: str) -> str:
    """Return the first free code of the form BASE-V2, BASE-V3... for a new version."""
    base = re.sub(r"-V\d+$", "", code)
    for number in range(2, 100):
        candidate = f"{base}-V{number}"
        if not _code_taken(session, candidate, None):
            return candidate
    raise CallError(_l("Too many versions of this call."))


# --- deadline extensions --------------------------------------------------------------------


@dataclass(frozen=True)
class ExtensionRequest:
    association_id: int
    until: datetime
    reason: str


def grant_extension(
    session: Session, call: Call, request: ExtensionRequest, *, actor
) -> DeadlineExtension:
    """Let one association submit until a later time, for a documented incident."""
    if call.status not in (CallStatus.PUBLISHED, CallStatus.CLOSED):
        raise CallError(_l("Only a published or closed call can be extended."))
    if session.get(Association, request.association_id) is None:
        raise CallError(_l("Choose an association."), field="association_id")
    if call.closes_at is None or request.until <= call.closes_at:
        raise CallError(_l("The extension must end after the call's deadline."), field="until")
    if not request.reason.strip():
        raise CallError(_l("Describe the incident that justifies the extension."), field="reason")
    existing = session.scalar(
        select(DeadlineExtension).where(
            DeadlineExtension.call_id == call.id,
            DeadlineExtension.association_id == request.association_id,
        )
    )
    if existing is not None:
        raise CallError(_l("This association already has an extension for this call."))
    extension = DeadlineExtension(
        call_id=call.id,
        association_id=request.association_id,
        until=request.until,
        reason=request.reason.strip(),
        granted_by_id=actor.id,
    )
    session.add(extension)
    session.flush()
    record_event(
        session,
        actor,
        "call.extension_granted",
        call,
        association=request.association_id,
        until=request.until.isoformat(),
        reason=extension.reason,
    )
    return extension
