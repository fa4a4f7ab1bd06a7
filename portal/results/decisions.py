"""Decisions on a call's applications: the funding proposal, the envelope check, recording a
decision while the committee is a draft, the committee's sitting, minutes and four-eyes
approval, corrections after approval, and the withdrawal of an award with its place offered to
the first reserve of the lot.

Every write that touches a call's decisions starts with `lock_committee`: on PostgreSQL it takes
the committee row's lock, on SQLite the database write lock, so two staff members recording
awards at once see each other's totals and an envelope can never be overspent. The caller
commits.

Envelopes are strict: a lot's `budget` and the call's `budget_total` are the most that may be
awarded (an envelope of 0 funds nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload

from portal.actions.models import ActionStatus, FundedAction
from portal.applications.models import Application, BudgetLine
from portal.audit.services import record_event
from portal.calls.models import Call, Lot
from portal.db import database_now
from portal.notifications.services import queue_message
from portal.organisations.services import writers_of
from portal.results.models import Committee, CommitteeStatus, Decision, DecisionFunder, Outcome
from portal.review.ranking import RankedApplication, rank_call
from portal.rules import RuleRefused
from portal.strategy.models import FundingPartner
from portal.web.formatting import format_mad
from portal.web.links import external_url

MAX_TEXT = 5000
EDITABLE = (CommitteeStatus.DRAFT,)
CORRECTABLE = (CommitteeStatus.APPROVED, CommitteeStatus.PUBLISHED)


class DecisionError(RuleRefused):
    """A decision, correction or committee step that the rules refuse."""


# --- reading --------------------------------------------------------------------------------


def current_decision(session: Session, application_id: int) -> Decision | None:
    """Return the application's current (not superseded) decision, or None."""
    return session.scalar(
        select(Decision).where(
            Decision.application_id == application_id, Decision.superseded_at.is_(None)
        )
    )


def current_decisions(session: Session, call_id: int) -> dict[int, Decision]:
    """Return {application id: current decision} for a call, with their funders (two queries)."""
    rows = session.scalars(
        select(Decision)
        .where(Decision.call_id == call_id, Decision.superseded_at.is_(None))
        .options(selectinload(Decision.funders))
    )
    return {decision.application_id: decision for decision in rows}


def committee_of(session: Session, call: Call) -> Committee | None:
    """Return the call's committee, if one was started."""
    return session.scalar(select(Committee).where(Committee.call_id == call.id))


def ensure_committee(session: Session, call: Call, *, actor) -> Committee:
    """Return the call's committee, starting a draft one the first time."""
    committee = committee_of(session, call)
    if committee is None:
        committee = Committee(call_id=call.id, status=CommitteeStatus.DRAFT)
        session.add(committee)
        session.flush()
        record_event(session, actor, "results.committee_started", committee, call_id=call.id)
    return committee


def lock_committee(session: Session, committee_id: int) -> Committee:
    """Serialise the writes to one call's decisions; return the committee read after the lock."""
    result = session.execute(
        text("UPDATE committee SET status = status WHERE id = :id"), {"id": committee_id}
    )
    if result.rowcount != 1:
        raise DecisionError(_l("This committee does not exist."))
    return session.scalars(
        select(Committee)
        .where(Committee.id == committee_id)
        .execution_options(populate_existing=True)
    ).one()


@dataclass(slots=True)
class Totals:
    """Amounts awarded by current funded decisions: per lot id (None: no lot) and for the call."""

    per_lot: dict[int | None, int] = field(default_factory=dict)
    call: int = 0

    def lot(self, lot_id: int | None) -> int:
        return self.per_lot.get(lot_id, 0)


def funded_totals(session: Session, call: Call, *, except_application_id: int | None = None):
    """Return the amounts awarded so far per lot and for the whole call (one query)."""
    query = (
        select(Decision.lot_id, func.coalesce(func.sum(Decision.amount_awarded), 0))
        .where(
            Decision.call_id == call.id,
            Decision.superseded_at.is_(None),
            Decision.outcome == Outcome.FUNDED,
        )
        .group_by(Decision.lot_id)
    )
    if except_application_id is not None:
        query = query.where(Decision.application_id != except_application_id)
    totals = Totals()
    for lot_id, amount in session.execute(query):
        totals.per_lot[lot_id] = int(amount)
        totals.call += int(amount)
    return totals


def requested_amounts(session: Session, call_id: int) -> dict[int, int]:
    """Return {application id: amount asked of the funder} for a call's applications, as
    `budget_summary(application).requested` computes it, in one query."""
    rows = session.execute(
        select(
            BudgetLine.application_id,
            func.sum(BudgetLine.quantity * BudgetLine.unit_cost - BudgetLine.cofunding),
        )
        .join(Application, Application.id == BudgetLine.application_id)
        .where(Application.call_id == call_id)
        .group_by(BudgetLine.application_id)
    )
    return {application_id: int(amount or 0) for application_id, amount in rows}


def lot_envelope(call: Call, lot_id: int | None) -> int:
    """Return the envelope of a lot of the call (the call's envelope when there is no lot)."""
    for lot in call.lots:
        if lot.id == lot_id:
            return lot.budget
    return call.budget_total


# --- the funding proposal -------------------------------------------------------------------


@dataclass(slots=True)
class Proposal:
    """What the ranking proposes for one reviewed application."""

    outcome: Outcome
    amount: int | None = None
    reserve_rank: int | None = None


def proposed_amount(call: Call, requested: int) -> int:
    """Return the amount the proposal awards: what was asked, within the call's maximum."""
    return min(requested, call.max_amount) if call.max_amount else requested


def propose(call: Call, ranking: list[RankedApplication], requested: dict[int, int]):
    """Return {application id: Proposal}: per lot, fundable applications in rank order funded
    with what they ask until the lot's envelope (or the call's) is used up, the next fundable
    ones in reserve in order, the rest rejected. Applications not reviewed get no proposal."""
    lot_left = {lot.id: lot.budget for lot in call.lots}
    call_left = call.budget_total
    used_up: set[int | None] = set()
    reserve_ranks: dict[int | None, int] = defaultdict(int)
    proposals: dict[int, Proposal] = {}
    for item in ranking:  # already in rank order, those not reviewed last
        if not item.reviewed:
            continue
        if not item.fundable:
            proposals[item.application_id] = Proposal(Outcome.REJECTED)
            continue
        amount = proposed_amount(call, requested.get(item.application_id, 0))
        left = lot_left.get(item.lot_id, call_left)
        fits = (
            item.lot_id not in used_up
            and 0 < amount <= min(left, call_left)
            and amount >= call.min_amount
        )
        if fits:
            proposals[item.application_id] = Proposal(Outcome.FUNDED, amount=amount)
            call_left -= amount
            if item.lot_id in lot_left:
                lot_left[item.lot_id] -= amount
            continue
        if amount > 0:
            used_up.add(item.lot_id)  # the envelope is used up: the rest wait in order
        reserve_ranks[item.lot_id] += 1
        proposals[item.application_id] = Proposal(
            Outcome.RESERVE, reserve_rank=reserve_ranks[item.lot_id]
        )
    return proposals


# --- the decisions page ---------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    item: RankedApplication
    requested: int
    gender_marker: int | None
    proposal: Proposal | None
    decision: Decision | None


@dataclass(slots=True)
class LotBoard:
    lot: Lot | None
    envelope: int
    rows: list[Row] = field(default_factory=list)
    funded: int = 0
    proposed: int = 0

    @property
    def left(self) -> int:
        return self.envelope - self.funded


@dataclass(slots=True)
class Board:
    call: Call
    committee: Committee | None
    lots: list[LotBoard]
    funded: int
    proposed: int
    undecided: int

    @property
    def envelope(self) -> int:
        return self.call.budget_total

    @property
    def left(self) -> int:
        return self.envelope - self.funded

    @property
    def editable(self) -> bool:
        return self.committee is None or self.committee.status in EDITABLE


def _application_facts(session: Session, call_id: int) -> dict[int, int | None]:
    rows = session.execute(
        select(Application.id, Application.gender_marker).where(Application.call_id == call_id)
    )
    return dict(rows.all())


def decision_board(session: Session, call: Call) -> Board:
    """Build the decisions page: the ranking per lot, with the proposal, each current decision
    and the totals against the envelopes, in a fixed number of queries. `call.lots` and
    `call.criteria` must be loaded."""
    ranking = rank_call(session, call)
    requested = requested_amounts(session, call.id)
    markers = _application_facts(session, call.id)
    decisions = current_decisions(session, call.id)
    proposals = propose(call, ranking, requested)
    boards: dict[int | None, LotBoard] = {
        lot.id: LotBoard(lot=lot, envelope=lot.budget) for lot in call.lots
    }
    funded = proposed = undecided = 0
    for item in ranking:
        board = boards.get(item.lot_id)
        if board is None:
            board = boards[item.lot_id] = LotBoard(lot=None, envelope=call.budget_total)
        row = Row(
            item=item,
            requested=requested.get(item.application_id, 0),
            gender_marker=markers.get(item.application_id),
            proposal=proposals.get(item.application_id),
            decision=decisions.get(item.application_id),
        )
        board.rows.append(row)
        if row.decision is not None and row.decision.outcome == Outcome.FUNDED:
            board.funded += row.decision.amount_awarded
            funded += row.decision.amount_awarded
        if row.proposal is not None and row.proposal.outcome == Outcome.FUNDED:
            board.proposed += row.proposal.amount
            proposed += row.proposal.amount
        if row.decision is None and item.reviewed:
            undecided += 1
    return Board(
        call=call,
        committee=committee_of(session, call),
        lots=[board for board in boards.values() if board.rows or board.lot is not None],
        funded=funded,
        proposed=proposed,
        undecided=undecided,
    )


# --- checking a decision --------------------------------------------------------------------


@dataclass
class DecisionData:
    """What staff enter for one application's decision."""

    outcome: str
    amount_awarded: int | None = None
    reserve_rank: int | None = None
    motivation_ar: str = ""
    motivation_fr: str = ""
    gender_marker: int | None = None
    deviation_reason: str = ""
    funders: dict[int, int] = field(default_factory=dict)  # partner id: share in percent


def _clean_text(value, name: str, *, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip() if isinstance(value, str) else ""
    if len(value) > limit:
        raise DecisionError(_l("At most %(n)d characters.", n=limit), field=name)
    return value


def _outcome(value) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        raise DecisionError(_l("Choose funded, reserve or rejected."), field="outcome") from None


def _standing(session: Session, call: Call, application_id: int) -> tuple[RankedApplication, dict]:
    """Return the application's place in the ranking and the call's whole proposal."""
    ranking = rank_call(session, call)
    item = next((entry for entry in ranking if entry.application_id == application_id), None)
    if item is None:
        raise DecisionError(_l("Only applications screened eligible can be decided."))
    return item, propose(call, ranking, requested_amounts(session, call.id))


def _check_amount(call: Call, item: RankedApplication, amount, requested: int) -> int:
    if not item.fundable:
        raise DecisionError(
            _l(
                "This application cannot be funded: it is not reviewed or it is below a "
                "threshold of the call."
            ),
            field="outcome",
        )
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DecisionError(
            _l("Enter the amount awarded, a whole number of dirhams."), field="amount_awarded"
        )
    if amount > requested:
        raise DecisionError(
            _l(
                "The award cannot be more than the amount asked (%(requested)s).",
                requested=format_mad(requested),
            ),
            field="amount_awarded",
        )
    if amount < call.min_amount or (call.max_amount and amount > call.max_amount):
        raise DecisionError(
            _l(
                "The award must be between %(min)s and %(max)s, the call's limits.",
                min=format_mad(call.min_amount),
                max=format_mad(call.max_amount),
            ),
            field="amount_awarded",
        )
    return amount


def _check_envelope(session: Session, call: Call, application: Application, amount: int) -> None:
    """Refuse an award that would take a lot or the call over its envelope."""
    totals = funded_totals(session, call, except_application_id=application.id)
    lot_left = lot_envelope(call, application.lot_id) - totals.lot(application.lot_id)
    if application.lot_id is not None and amount > lot_left:
        raise DecisionError(
            _l(
                "This award would exceed the lot's envelope: %(left)s left in the lot.",
                left=format_mad(max(lot_left, 0)),
            ),
            field="amount_awarded",
        )
    call_left = call.budget_total - totals.call
    if amount > call_left:
        raise DecisionError(
            _l(
                "This award would exceed the call's envelope: %(left)s left in the call.",
                left=format_mad(max(call_left, 0)),
            ),
            field="amount_awarded",
        )


def _check_reserve_rank(session: Session, application: Application, rank) -> int:
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise DecisionError(_l("Enter the reserve position, 1 or more."), field="reserve_rank")
    taken = session.scalar(
        select(Decision.id).where(
            Decision.call_id == application.call_id,
            Decision.lot_id.is_(None)
            if application.lot_id is None
            else Decision.lot_id == application.lot_id,
            Decision.superseded_at.is_(None),
            Decision.outcome == Outcome.RESERVE,
            Decision.reserve_rank == rank,
            Decision.application_id != application.id,
        )
    )
    if taken is not None:
        raise DecisionError(
            _l("Reserve position %(n)d is already given in this lot.", n=rank),
            field="reserve_rank",
        )
    return rank


def _check_funders(session: Session, funders: dict) -> dict[int, int]:
    shares = {int(partner): share for partner, share in (funders or {}).items() if share}
    if not shares:
        return {}
    for share in shares.values():
        if not isinstance(share, int) or not 0 < share <= 100:
            raise DecisionError(
                _l("A partner's share is a whole percentage from 1 to 100."), field="funders"
            )
    if sum(shares.values()) > 100:
        raise DecisionError(_l("The partners' shares add up to more than 100%."), field="funders")
    known = set(
        session.scalars(select(FundingPartner.id).where(FundingPartner.id.in_(list(shares))))
    )
    if known != set(shares):
        raise DecisionError(_l("Choose partners from the list."), field="funders")
    return shares


def _motivations(motivation_ar, motivation_fr) -> tuple[str, str]:
    motivation_ar = _clean_text(motivation_ar, "motivation_ar")
    motivation_fr = _clean_text(motivation_fr, "motivation_fr")
    if not motivation_ar and not motivation_fr:
        raise DecisionError(
            _l("Write the motivation in Arabic, in French or in both."), field="motivation_ar"
        )
    return motivation_ar, motivation_fr


def _refuse_unless_draft(committee: Committee) -> None:
    if committee.status not in EDITABLE:
        raise DecisionError(
            _l(
                "The committee's decisions were submitted for approval: they can no longer be "
                "changed. Once approved, a decision is changed by a correction."
            )
        )


def _snapshot(decision: Decision) -> dict:
    return {
        "outcome": decision.outcome.value,
        "amount_awarded": decision.amount_awarded,
        "reserve_rank": decision.reserve_rank,
        "gender_marker": decision.gender_marker,
        "motivation_ar": decision.motivation_ar,
        "motivation_fr": decision.motivation_fr,
        "deviation_reason": decision.deviation_reason,
        "funders": {str(f.partner_id): f.share_percent for f in decision.funders},
    }


# --- recording ------------------------------------------------------------------------------


def record_decision(
    session: Session, call: Call, application: Application, data: DecisionData, *, actor
) -> Decision:
    """Record (or, while the committee is a draft, change) the decision on an application."""
    outcome = _outcome(data.outcome)
    motivation_ar, motivation_fr = _motivations(data.motivation_ar, data.motivation_fr)
    deviation = _clean_text(data.deviation_reason, "deviation_reason")
    if application.call_id != call.id:
        raise DecisionError(_l("This application belongs to another call."))
    committee = lock_committee(session, ensure_committee(session, call, actor=actor).id)
    _refuse_unless_draft(committee)
    item, proposals = _standing(session, call, application.id)
    proposal = proposals.get(application.id)
    requested = requested_amounts(session, call.id).get(application.id, 0)
    amount = rank = None
    funders: dict[int, int] = {}
    if outcome == Outcome.FUNDED:
        amount = _check_amount(call, item, data.amount_awarded, requested)
        funders = _check_funders(session, data.funders)
    elif outcome == Outcome.RESERVE:
        rank = _check_reserve_rank(session, application, data.reserve_rank)
    marker = data.gender_marker
    if marker is not None and marker not in (0, 1, 2):
        raise DecisionError(_l("Choose a gender marker: 0, 1 or 2."), field="gender_marker")
    if outcome == Outcome.FUNDED and marker is None:
        raise DecisionError(
            _l("Confirm the gender marker of the funded application."), field="gender_marker"
        )
    differs = proposal is not None and (
        proposal.outcome != outcome or (outcome == Outcome.FUNDED and amount != proposal.amount)
    )
    if differs and not deviation:
        raise DecisionError(
            _l("This decision departs from the proposal: give the reason."),
            field="deviation_reason",
        )
    if outcome == Outcome.FUNDED:
        _check_envelope(session, call, application, amount)

    decision = current_decision(session, application.id)
    before = _snapshot(decision) if decision is not None else None
    if decision is None:
        decision = Decision(
            application_id=application.id,
            call_id=call.id,
            committee_id=committee.id,
            created_by_id=actor.id,
        )
        session.add(decision)
    decision.lot_id = application.lot_id
    decision.outcome = outcome
    decision.amount_awarded = amount
    decision.reserve_rank = rank
    decision.motivation_ar, decision.motivation_fr = motivation_ar, motivation_fr
    decision.gender_marker = marker
    decision.proposed_outcome = proposal.outcome if proposal is not None else None
    decision.deviation_reason = deviation if differs else ""
    decision.funders = [
        DecisionFunder(partner_id=partner_id, share_percent=share)
        for partner_id, share in sorted(funders.items())
    ]
    session.flush()
    record_event(
        session,
        actor,
        "results.decided" if before is None else "results.decision_changed",
        decision,
        application_id=application.id,
        before=before,
        after=_snapshot(decision),
    )
    return decision


def _standard_motivation(outcome: Outcome, locale: str) -> str:
    with force_locale(locale):
        if outcome == Outcome.FUNDED:
            return _("Funded as the ranking proposed, within the envelope.")
        if outcome == Outcome.RESERVE:
            return _("On the reserve list, in ranking order, as the envelope is used up.")
        return _("Not funded: the score is below a threshold of the call.")


def apply_proposal(session: Session, call: Call, *, actor) -> tuple[int, int]:
    """Record the proposal for every reviewed application without a decision. Return how many
    were recorded and how many proposed awards no longer fit the envelope (left undecided)."""
    committee = lock_committee(session, ensure_committee(session, call, actor=actor).id)
    _refuse_unless_draft(committee)
    ranking = rank_call(session, call)
    requested = requested_amounts(session, call.id)
    proposals = propose(call, ranking, requested)
    decided = current_decisions(session, call.id)
    markers = _application_facts(session, call.id)
    totals = funded_totals(session, call)
    taken_ranks = {
        (decision.lot_id, decision.reserve_rank)
        for decision in decided.values()
        if decision.outcome == Outcome.RESERVE
    }
    recorded = skipped = 0
    for item in ranking:
        proposal = proposals.get(item.application_id)
        if proposal is None or item.application_id in decided:
            continue
        amount = proposal.amount
        if proposal.outcome == Outcome.FUNDED:
            lot_left = lot_envelope(call, item.lot_id) - totals.lot(item.lot_id)
            if amount > min(lot_left, call.budget_total - totals.call):
                skipped += 1
                continue
            totals.per_lot[item.lot_id] = totals.lot(item.lot_id) + amount
            totals.call += amount
        rank = proposal.reserve_rank
        if proposal.outcome == Outcome.RESERVE:
            while (item.lot_id, rank) in taken_ranks:
                rank += 1
            taken_ranks.add((item.lot_id, rank))
        decision = Decision(
            application_id=item.application_id,
            call_id=call.id,
            lot_id=item.lot_id,
            committee_id=committee.id,
            outcome=proposal.outcome,
            amount_awarded=amount,
            reserve_rank=rank,
            motivation_ar=_standard_motivation(proposal.outcome, "ar"),
            motivation_fr=_standard_motivation(proposal.outcome, "fr"),
            proposed_outcome=proposal.outcome,
            gender_marker=markers.get(item.application_id),
            created_by_id=actor.id,
        )
        session.add(decision)
        recorded += 1
    session.flush()
    record_event(
        session,
        actor,
        "results.proposal_applied",
        committee,
        call_id=call.id,
        recorded=recorded,
        skipped=skipped,
    )
    return recorded, skipped


# --- the committee --------------------------------------------------------------------------


def update_sitting(
    session: Session, committee: Committee, *, held_on: date | None, members_present: str, actor
) -> Committee:
    """Record when the committee sat and who was present (while it is a draft)."""
    members = _clean_text(members_present, "members_present")
    committee = lock_committee(session, committee.id)
    _refuse_unless_draft(committee)
    before = {
        "held_on": committee.held_on.isoformat() if committee.held_on else None,
        "members_present": committee.members_present,
    }
    committee.held_on, committee.members_present = held_on, members
    session.flush()
    record_event(
        session,
        actor,
        "results.committee_updated",
        committee,
        before=before,
        after={"held_on": held_on.isoformat() if held_on else None, "members_present": members},
    )
    return committee


def attach_minutes(session: Session, committee: Committee, stored, checked, *, actor) -> Committee:
    """Keep the uploaded minutes of the sitting (a stored file, checked by type and size)."""
    committee = lock_committee(session, committee.id)
    _refuse_unless_draft(committee)
    previous = committee.minutes_sha256
    committee.minutes_key = stored.key
    committee.minutes_name = checked.clean_name
    committee.minutes_type = checked.content_type
    committee.minutes_size = stored.size
    committee.minutes_sha256 = stored.sha256
    session.flush()
    record_event(
        session,
        actor,
        "results.minutes_attached",
        committee,
        name=checked.clean_name,
        size=stored.size,
        sha256=stored.sha256,
        replaced=previous or None,
    )
    return committee


def missing_decisions(session: Session, call: Call) -> int:
    """Count the screened-eligible, reviewed applications that have no decision yet."""
    decided = set(
        session.scalars(
            select(Decision.application_id).where(
                Decision.call_id == call.id, Decision.superseded_at.is_(None)
            )
        )
    )
    return sum(
        1
        for item in rank_call(session, call)
        if item.reviewed and item.application_id not in decided
    )


def submit_committee(session: Session, committee: Committee, *, actor) -> Committee:
    """Send the committee's decisions for approval by another staff member."""
    committee = lock_committee(session, committee.id)
    if committee.status != CommitteeStatus.DRAFT:
        raise DecisionError(_l("These decisions were already submitted for approval."))
    if committee.held_on is None:
        raise DecisionError(_l("Enter the date the committee sat first."), field="held_on")
    if not committee.minutes_key:
        raise DecisionError(_l("Upload the minutes of the sitting first."), field="minutes")
    missing = missing_decisions(session, committee.call)
    if missing:
        raise DecisionError(
            _l(
                "%(n)d reviewed applications have no decision yet: decide on every one first.",
                n=missing,
            )
        )
    committee.status = CommitteeStatus.SUBMITTED
    committee.submitted_by_id = actor.id
    committee.submitted_at = database_now(session)
    session.flush()
    record_event(
        session, actor, "results.committee_submitted", committee, call_id=committee.call_id
    )
    return committee


def approve_committee(session: Session, committee: Committee, *, actor) -> Committee:
    """Approve the submitted decisions; whoever submitted them may not (four eyes)."""
    committee = lock_committee(session, committee.id)
    if committee.status != CommitteeStatus.SUBMITTED:
        raise DecisionError(_l("Only decisions submitted for approval can be approved."))
    if committee.submitted_by_id == actor.id:
        raise DecisionError(
            _l("You submitted these decisions: another staff member must approve them.")
        )
    committee.status = CommitteeStatus.APPROVED
    committee.approved_by_id = actor.id
    committee.approved_at = database_now(session)
    session.flush()
    record_event(session, actor, "results.committee_approved", committee, call_id=committee.call_id)
    return committee


def return_to_draft(session: Session, committee: Committee, reason: str, *, actor) -> Committee:
    """Send submitted (or approved, by their approver) decisions back to a draft, with why."""
    reason = _clean_text(reason, "reason", limit=2000)
    if not reason:
        raise DecisionError(_l("Say why the decisions go back to a draft."), field="reason")
    committee = lock_committee(session, committee.id)
    if committee.status == CommitteeStatus.SUBMITTED:
        if committee.submitted_by_id == actor.id:
            raise DecisionError(
                _l("The staff member who reviews the decisions returns them, not their author.")
            )
    elif committee.status == CommitteeStatus.APPROVED:
        if committee.approved_by_id != actor.id:
            raise DecisionError(_l("Only the staff member who approved them can return them."))
    else:
        raise DecisionError(_l("Only submitted or approved decisions can go back to a draft."))
    before = committee.status.value
    committee.status = CommitteeStatus.DRAFT
    committee.submitted_by_id = committee.submitted_at = None
    committee.approved_by_id = committee.approved_at = None
    session.flush()
    record_event(
        session,
        actor,
        "results.committee_returned",
        committee,
        call_id=committee.call_id,
        before=before,
        reason=reason,
    )
    return committee


# --- corrections after approval -------------------------------------------------------------


def correct_decision(
    session: Session,
    decision: Decision,
    *,
    outcome,
    amount_awarded: int | None = None,
    reserve_rank: int | None = None,
    motivation_ar: str = "",
    motivation_fr: str = "",
    reason: str,
    actor,
) -> Decision:
    """Replace an approved or published decision by a new one, keeping both: the old one is
    marked superseded, the new one says why. After publication a new award opens its funded
    action, and an award taken away withdraws it. At least one motivation is required."""
    outcome = _outcome(outcome)
    reason = _clean_text(reason, "reason", limit=2000)
    if not reason:
        raise DecisionError(_l("Give the reason for the correction."), field="reason")
    motivation_ar, motivation_fr = _motivations(motivation_ar, motivation_fr)
    committee = lock_committee(session, decision.committee_id)
    session.refresh(decision)
    if decision.superseded_at is not None:
        raise DecisionError(_l("This decision was already corrected: correct the current one."))
    if committee.status not in CORRECTABLE:
        raise DecisionError(
            _l("Only approved decisions are corrected; a draft decision is simply changed.")
        )
    call, application = decision.call, decision.application
    amount = rank = None
    if outcome == Outcome.FUNDED:
        item, _proposals = _standing(session, call, application.id)
        requested = requested_amounts(session, call.id).get(application.id, 0)
        amount = _check_amount(call, item, amount_awarded, requested)
        _check_envelope(session, call, application, amount)
    elif outcome == Outcome.RESERVE:
        if reserve_rank is None:
            reserve_rank = 1 + (
                session.scalar(
                    select(func.max(Decision.reserve_rank)).where(
                        Decision.call_id == call.id,
                        Decision.lot_id == decision.lot_id,
                        Decision.superseded_at.is_(None),
                        Decision.outcome == Outcome.RESERVE,
                    )
                )
                or 0
            )
        rank = _check_reserve_rank(session, application, reserve_rank)
    before = _snapshot(decision)
    decision.superseded_at = database_now(session)
    session.flush()  # the old one stops being current before the new one is
    corrected = Decision(
        application_id=decision.application_id,
        call_id=decision.call_id,
        lot_id=decision.lot_id,
        committee_id=decision.committee_id,
        outcome=outcome,
        amount_awarded=amount,
        reserve_rank=rank,
        motivation_ar=motivation_ar,
        motivation_fr=motivation_fr,
        proposed_outcome=decision.proposed_outcome,
        gender_marker=decision.gender_marker,
        supersedes_id=decision.id,
        correction_reason=reason,
        created_by_id=actor.id,
    )
    if outcome == Outcome.FUNDED and decision.outcome == Outcome.FUNDED:
        corrected.funders = [
            DecisionFunder(partner_id=funder.partner_id, share_percent=funder.share_percent)
            for funder in decision.funders
        ]
    session.add(corrected)
    session.flush()
    record_event(
        session,
        actor,
        "results.decision_corrected",
        corrected,
        application_id=application.id,
        supersedes=decision.id,
        reason=reason,
        before=before,
        after=_snapshot(corrected),
    )
    if committee.status == CommitteeStatus.PUBLISHED:
        _follow_action(session, corrected, actor=actor)
    return corrected


def _follow_action(session: Session, decision: Decision, *, actor) -> None:
    """Keep the funded action in step with a published correction."""
    from portal.actions.services import open_action

    if decision.outcome == Outcome.FUNDED:
        action = open_action(session, decision)
        record_event(session, actor, "actions.opened", action, decision_id=decision.id)
        return
    action = session.scalar(
        select(FundedAction).where(FundedAction.application_id == decision.application_id)
    )
    if action is not None and action.status != ActionStatus.WITHDRAWN:
        before = action.status.value
        action.status = ActionStatus.WITHDRAWN
        action.decision_id = decision.id
        session.flush()
        record_event(
            session,
            actor,
            "actions.withdrawn",
            action,
            before=before,
            decision_id=decision.id,
        )


# --- withdrawal of an award, and the first reserve ------------------------------------------

WITHDRAWAL_KINDS = ("withdrawn", "disqualified")


def first_reserve(session: Session, decision: Decision) -> Decision | None:
    """Return the current reserve decision first in line in the decision's lot."""
    lot = (
        Decision.lot_id.is_(None) if decision.lot_id is None else Decision.lot_id == decision.lot_id
    )
    return session.scalars(
        select(Decision)
        .where(
            Decision.call_id == decision.call_id,
            lot,
            Decision.superseded_at.is_(None),
            Decision.outcome == Outcome.RESERVE,
        )
        .order_by(Decision.reserve_rank, Decision.id)
        .limit(1)
    ).first()


def withdraw_award(
    session: Session, decision: Decision, *, kind: str, reason: str, actor
) -> tuple[Decision, Decision | None]:
    """Take a published award back (the association withdrew or was disqualified): the
    decision is corrected to rejected, its action withdrawn, and the first reserve of the lot
    funded with what it asked when the envelope allows, its owners and editors told by e-mail.
    Return the correction and the promoted reserve's new decision (or None)."""
    if kind not in WITHDRAWAL_KINDS:
        raise DecisionError(_l("Choose withdrawn or disqualified."), field="kind")
    reason = _clean_text(reason, "reason", limit=2000)
    if not reason:
        raise DecisionError(_l("Give the reason."), field="reason")
    committee = lock_committee(session, decision.committee_id)
    session.refresh(decision)
    if committee.status != CommitteeStatus.PUBLISHED:
        raise DecisionError(_l("Only a published award can be withdrawn."))
    if decision.superseded_at is not None or decision.outcome != Outcome.FUNDED:
        raise DecisionError(_l("This application is not funded."))
    corrected = correct_decision(
        session,
        decision,
        outcome=Outcome.REJECTED,
        motivation_ar=reason,
        motivation_fr=reason,
        reason=reason,
        actor=actor,
    )
    record_event(
        session,
        actor,
        "results.award_withdrawn",
        corrected,
        application_id=decision.application_id,
        kind=kind,
        reason=reason,
        amount=decision.amount_awarded,
    )
    return corrected, _promote_first_reserve(session, decision, actor=actor)


def _promote_first_reserve(session: Session, freed: Decision, *, actor) -> Decision | None:
    reserve = first_reserve(session, freed)
    if reserve is None:
        return None
    call, application = reserve.call, reserve.application
    requested = requested_amounts(session, call.id).get(application.id, 0)
    amount = proposed_amount(call, requested)
    totals = funded_totals(session, call, except_application_id=application.id)
    left = min(
        lot_envelope(call, reserve.lot_id) - totals.lot(reserve.lot_id),
        call.budget_total - totals.call,
    )
    if amount <= 0 or amount > left:
        record_event(
            session,
            actor,
            "results.reserve_not_promoted",
            reserve,
            application_id=application.id,
            amount=amount,
            left=left,
        )
        return None
    promoted = correct_decision(
        session,
        reserve,
        outcome=Outcome.FUNDED,
        amount_awarded=amount,
        motivation_ar=_promotion_motivation("ar"),
        motivation_fr=_promotion_motivation("fr"),
        reason=_promotion_motivation("fr"),
        actor=actor,
    )
    record_event(
        session,
        actor,
        "results.reserve_promoted",
        promoted,
        application_id=application.id,
        freed_decision=freed.id,
        amount=amount,
    )
    _tell_promoted(session, promoted)
    return promoted


def _promotion_motivation(locale: str) -> str:
    with force_locale(locale):
        return _(
            "A funded place became free in the lot: the first application in reserve is funded."
        )


def _tell_promoted(session: Session, decision: Decision) -> None:
    """Mail the news to each owner and editor of the association, in their own language."""
    application = decision.application
    link = external_url("applications.overview", application_id=application.id)
    for writer in writers_of(session, application.association_id):
        queue_message(
            session,
            writer.email,
            writer.locale,
            "results_reserve_promoted",
            application=application,
            call=application.call,
            amount=decision.amount_awarded,
            link=link,
        )
