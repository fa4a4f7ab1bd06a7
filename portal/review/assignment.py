"""Assigning evaluators to a call's eligible applications: the automatic planner (pure, on plain
data, so that it can be benchmarked) and the services that add, remove and move assignments."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, delete, func, insert, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.accounts.models import User
from portal.applications.models import Application, ApplicationStatus, application_axis
from portal.audit.services import record_event
from portal.calls.models import Call, lot_axis
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.organisations.models import Association, Membership
from portal.review.models import (
    ACTIVE_REVIEW_STATUSES,
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Score,
    Screening,
    ScreeningDecision,
)
from portal.review.services import conflict_reason, conflicts_in_call
from portal.rules import RuleRefused
from portal.strategy.models import StrategicAxis
from portal.web.links import external_url

# --- the planner (plain data) ---------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationNeed:
    """An application to review: its language, its axes, the evaluators it already has."""

    id: int
    language: str
    axes: frozenset[str] = frozenset()
    assigned: frozenset[int] = frozenset()


@dataclass(frozen=True)
class EvaluatorOffer:
    """An evaluator of the pool: languages read, expertise, reviews already held in the call."""

    id: int
    languages: frozenset[str]
    expertise: frozenset[str] = frozenset()
    load: int = 0


@dataclass(frozen=True)
class Shortfall:
    """An application that could not get all its reviewers, and why the others were left out."""

    application_id: int
    missing: int
    language: int  # evaluators who do not read its language
    conflicts: int  # readers of its language who are conflicted with it
    cap: int  # unconflicted readers already at the cap
    already: int  # evaluators already assigned to it


@dataclass
class Plan:
    """The assignments to make, what could not be satisfied, and the loads that result."""

    pairs: list[tuple[int, int]] = field(default_factory=list)  # (application id, evaluator id)
    shortfalls: list[Shortfall] = field(default_factory=list)
    without_expert: list[int] = field(default_factory=list)  # application ids
    loads: dict[int, int] = field(default_factory=dict)  # evaluator id -> load after the plan

    @property
    def complete(self) -> bool:
        """Tell whether every application gets all its reviewers."""
        return not self.shortfalls

    @property
    def spread(self) -> int:
        """Return max − min load over the pool after the plan."""
        return max(self.loads.values()) - min(self.loads.values()) if self.loads else 0


class _Tiers:
    """Evaluators who read one language, grouped by load, with an index by axis of expertise."""

    def __init__(self):
        self.by_load: dict[int, set[int]] = defaultdict(set)
        self.by_load_axis: dict[tuple[int, str], set[int]] = defaultdict(set)

    def add(self, evaluator: EvaluatorOffer, load: int) -> None:
        self.by_load[load].add(evaluator.id)
        for axis in evaluator.expertise:
            self.by_load_axis[(load, axis)].add(evaluator.id)

    def discard(self, evaluator: EvaluatorOffer, load: int) -> None:
        self.by_load[load].discard(evaluator.id)
        for axis in evaluator.expertise:
            self.by_load_axis[(load, axis)].discard(evaluator.id)

    def choose(self, axes: frozenset[str], excluded: set[int]) -> tuple[int, bool] | None:
        """Return (evaluator id, is an expert): the least loaded, experts first, lowest id."""
        for load in sorted(load for load, ids in self.by_load.items() if ids):
            candidates = self.by_load[load] - excluded
            if not candidates:
                continue
            experts = set()
            for axis in axes:
                experts |= self.by_load_axis.get((load, axis), set())
            experts -= excluded
            if experts:
                return min(experts), True
            return min(candidates), False
        return None


def plan_assignments(
    applications: Iterable[ApplicationNeed],
    evaluators: Iterable[EvaluatorOffer],
    conflicts: dict[int, set[int]],
    per_application: int,
    cap: int,
) -> Plan:
    """Plan reviewers so that every application has `per_application` of them.

    Never a conflicted evaluator (`conflicts`: evaluator id -> application ids), always one who
    reads the application's language, never more than `cap` reviews each (counting those already
    held); the least loaded evaluator first, so loads stay as even as the pool allows; among
    equally loaded ones an expert of the application's axes, then the lowest id. Applications
    with the fewest possible evaluators are served first. Deterministic for the same input.
    """
    applications = sorted(applications, key=lambda need: need.id)
    offers = {offer.id: offer for offer in sorted(evaluators, key=lambda offer: offer.id)}
    conflicted_with: dict[int, set[int]] = defaultdict(set)
    for evaluator_id, application_ids in conflicts.items():
        if evaluator_id in offers:
            for application_id in application_ids:
                conflicted_with[application_id].add(evaluator_id)
    readers: dict[str, set[int]] = defaultdict(set)
    tiers: dict[str, _Tiers] = defaultdict(_Tiers)
    loads = {offer.id: offer.load for offer in offers.values()}
    for offer in offers.values():
        for language in offer.languages:
            readers[language].add(offer.id)
            if offer.load < cap:
                tiers[language].add(offer, offer.load)

    def room(need: ApplicationNeed) -> int:
        return len(readers[need.language] - conflicted_with[need.id] - need.assigned)

    # Scarce applications (few possible evaluators) first; the others interleaved by id, one
    # reviewer per round, so that no language fills its evaluators before the others start.
    scarce = 2 * per_application
    order = sorted(applications, key=lambda need: (room(need) > scarce, need.id))
    excluded = {need.id: conflicted_with[need.id] | set(need.assigned) for need in order}
    missing = {need.id: per_application - len(need.assigned) for need in order}
    experts: Counter[int] = Counter()
    planned: Counter[int] = Counter()
    plan = Plan()
    for _round in range(per_application):
        for need in order:
            if missing[need.id] <= 0:
                continue
            choice = tiers[need.language].choose(need.axes, excluded[need.id])
            if choice is None:
                continue
            evaluator_id, expert = choice
            experts[need.id] += expert
            planned[need.id] += 1
            missing[need.id] -= 1
            excluded[need.id].add(evaluator_id)
            plan.pairs.append((need.id, evaluator_id))
            _raise_load(offers[evaluator_id], loads, tiers, cap)
    _rebalance(plan, {need.id: need for need in order}, offers, loads, excluded, experts)
    for need in order:
        if missing[need.id] > 0:
            plan.shortfalls.append(
                _shortfall(need, missing[need.id], offers, conflicted_with, loads, cap)
            )
        elif planned[need.id] and not experts[need.id] and not _has_expert(need, offers):
            plan.without_expert.append(need.id)
    plan.loads = loads
    plan.pairs.sort()
    plan.shortfalls.sort(key=lambda shortfall: shortfall.application_id)
    plan.without_expert.sort()
    return plan


def _rebalance(plan: Plan, needs: dict, offers: dict, loads: dict, excluded: dict, experts) -> None:
    """Move planned reviews from the most to the least loaded evaluators while loads differ by
    more than one, where the language and conflicts allow and no application loses its only
    expert. Greedy filling leaves such gaps when evaluators read different languages."""
    planned_by: dict[int, list[int]] = defaultdict(list)
    for index, (_application_id, evaluator_id) in enumerate(plan.pairs):
        planned_by[evaluator_id].append(index)
    while loads:
        high = max(loads.values())
        takers = sorted((load, i) for i, load in loads.items() if load <= high - 2)
        if not takers or not _move_one(
            plan, needs, offers, loads, excluded, experts, planned_by, high, takers
        ):
            return


def _move_one(plan, needs, offers, loads, excluded, experts, planned_by, high, takers) -> bool:
    for giver in sorted(i for i, load in loads.items() if load == high):
        for index in planned_by[giver]:
            need = needs[plan.pairs[index][0]]
            giver_expert = bool(offers[giver].expertise & need.axes)
            for _load, taker in takers:
                offer = offers[taker]
                if need.language not in offer.languages or taker in excluded[need.id]:
                    continue
                taker_expert = bool(offer.expertise & need.axes)
                if giver_expert and not taker_expert and experts[need.id] <= 1:
                    continue
                plan.pairs[index] = (need.id, taker)
                planned_by[giver].remove(index)
                planned_by[taker].append(index)
                excluded[need.id].discard(giver)
                excluded[need.id].add(taker)
                experts[need.id] += taker_expert - giver_expert
                loads[giver] -= 1
                loads[taker] += 1
                return True
    return False


def _raise_load(offer: EvaluatorOffer, loads: dict, tiers: dict, cap: int) -> None:
    load = loads[offer.id]
    for language in offer.languages:
        tiers[language].discard(offer, load)
        if load + 1 < cap:
            tiers[language].add(offer, load + 1)
    loads[offer.id] = load + 1


def _has_expert(need: ApplicationNeed, offers: dict[int, EvaluatorOffer]) -> bool:
    """Tell whether one of the application's earlier reviewers is an expert of its axes."""
    return not need.axes or any(
        offers[evaluator_id].expertise & need.axes
        for evaluator_id in need.assigned
        if evaluator_id in offers
    )


def _shortfall(need, missing, offers, conflicted_with, loads, cap) -> Shortfall:
    readers = {i for i, offer in offers.items() if need.language in offer.languages}
    conflicted = readers & conflicted_with[need.id]
    free = readers - conflicted - set(need.assigned)
    return Shortfall(
        application_id=need.id,
        missing=missing,
        language=len(offers) - len(readers),
        conflicts=len(conflicted),
        cap=sum(1 for evaluator_id in free if loads[evaluator_id] >= cap),
        already=len(need.assigned),
    )


# --- reading the call -----------------------------------------------------------------------


class AssignmentError(RuleRefused):
    """An assignment the rules refuse; nothing was written."""


class PoolTooSmall(AssignmentError):
    """The automatic assignment could not give every application its reviewers."""

    def __init__(self, plan: Plan):
        super().__init__(
            _l(
                "The pool cannot give every application its reviewers: nothing was assigned. "
                "See which applications lack reviewers and why below."
            )
        )
        self.plan = plan


def eligible_clause(call_id: int):
    """Select the call's applications screened eligible (and not withdrawn since)."""
    return (
        Application.call_id == call_id,
        Application.status != ApplicationStatus.WITHDRAWN,
        Application.id.in_(
            select(Screening.application_id).where(
                Screening.call_id == call_id, Screening.decision == ScreeningDecision.ELIGIBLE
            )
        ),
    )


def _axes_of_applications(session: Session, call_id: int) -> dict[int, set[str]]:
    """Return {application id: codes of its axes and of its lot's axes}, in two statements."""
    axes: dict[int, set[str]] = defaultdict(set)
    own = (
        select(application_axis.c.application_id, StrategicAxis.code)
        .join(StrategicAxis, StrategicAxis.id == application_axis.c.axis_id)
        .join(Application, Application.id == application_axis.c.application_id)
        .where(Application.call_id == call_id)
    )
    of_lot = (
        select(Application.id, StrategicAxis.code)
        .join(lot_axis, lot_axis.c.lot_id == Application.lot_id)
        .join(StrategicAxis, StrategicAxis.id == lot_axis.c.axis_id)
        .where(Application.call_id == call_id)
    )
    for query in (own, of_lot):
        for application_id, code in session.execute(query):
            axes[application_id].add(code)
    return axes


def _active_pairs(session: Session, call_id: int) -> list[tuple[int, int]]:
    return list(
        session.execute(
            select(Review.application_id, Review.evaluator_id).where(
                Review.call_id == call_id, Review.status.in_(ACTIVE_REVIEW_STATUSES)
            )
        )
    )


def active_members(session: Session, call_id: int) -> list[PoolMember]:
    """Return the call's active pool members with their accounts, by name."""
    return list(
        session.scalars(
            select(PoolMember)
            .join(User, User.id == PoolMember.user_id)
            # Names only: the evaluators' roles are not needed here.
            .options(joinedload(PoolMember.user).lazyload(User.role_rows))
            .where(PoolMember.call_id == call_id, PoolMember.status == PoolStatus.ACTIVE)
            .order_by(User.full_name, User.id)
        )
    )


def planner_input(session: Session, call: Call):
    """Return (applications, evaluators, conflicts) of the call for plan_assignments."""
    pairs = _active_pairs(session, call.id)
    assigned: dict[int, set[int]] = defaultdict(set)
    loads: Counter[int] = Counter()
    for application_id, evaluator_id in pairs:
        assigned[application_id].add(evaluator_id)
        loads[evaluator_id] += 1
    axes = _axes_of_applications(session, call.id)
    rows = session.execute(
        select(Application.id, Application.language).where(*eligible_clause(call.id))
    )
    applications = [
        ApplicationNeed(
            id=application_id,
            language=language,
            axes=frozenset(axes[application_id]),
            assigned=frozenset(assigned[application_id]),
        )
        for application_id, language in rows
    ]
    evaluators = [
        EvaluatorOffer(
            id=member.user_id,
            languages=frozenset(member.languages or ()),
            expertise=frozenset(member.expertise or ()),
            load=loads[member.user_id],
        )
        for member in active_members(session, call.id)
    ]
    return applications, evaluators, conflicts_in_call(session, call.id)


# --- writing assignments --------------------------------------------------------------------


def _dashboard_link() -> str:
    return external_url("review.dashboard")


def _tell_evaluator(session: Session, call: Call, evaluator: User, count: int) -> None:
    """Mail the evaluator how many applications they were given (no applicant is named)."""
    queue_message(
        session,
        evaluator.email,
        evaluator.locale,
        "evaluator_assigned",
        call=call,
        count=count,
        link=_dashboard_link(),
    )


def assign_automatically(session: Session, call: Call, *, actor: User) -> Plan:
    """Give every eligible application of the call its reviewers, or nothing at all.

    Raise PoolTooSmall (with the plan and its shortfalls) when the pool cannot; otherwise write
    the reviews, audit the run, mail each evaluator once, and return the plan (its soft misses
    included)."""
    applications, evaluators, conflicts = planner_input(session, call)
    if not applications:
        raise AssignmentError(_l("No application of this call has been screened eligible yet."))
    if not evaluators:
        raise AssignmentError(_l("The call's pool has no active evaluator yet."))
    plan = plan_assignments(
        applications,
        evaluators,
        conflicts,
        call.reviews_per_application,
        call.max_reviews_per_evaluator,
    )
    if not plan.complete:
        raise PoolTooSmall(plan)
    if plan.pairs:
        _write_reviews(session, call, plan.pairs, actor)
    per_evaluator = Counter(evaluator_id for _application, evaluator_id in plan.pairs)
    record_event(
        session,
        actor,
        "review.assigned_automatically",
        call,
        reviews=len(plan.pairs),
        per_evaluator={str(key): value for key, value in sorted(per_evaluator.items())},
        without_expert=len(plan.without_expert),
        spread=plan.spread,
    )
    users = session.scalars(select(User).where(User.id.in_(per_evaluator))) if per_evaluator else []
    for user in users:
        _tell_evaluator(session, call, user, per_evaluator[user.id])
    session.flush()
    return plan


def _write_reviews(session: Session, call: Call, pairs: list[tuple[int, int]], actor) -> None:
    """Insert the reviews in one statement; a pair removed earlier is made active again."""
    removed = {
        (application_id, evaluator_id): review_id
        for review_id, application_id, evaluator_id in session.execute(
            select(Review.id, Review.application_id, Review.evaluator_id).where(
                Review.call_id == call.id, Review.status == ReviewStatus.REMOVED
            )
        )
    }
    again = [removed[pair] for pair in pairs if pair in removed]
    fresh = [pair for pair in pairs if pair not in removed]
    now = utcnow()
    if fresh:
        session.execute(
            insert(Review),
            [
                {
                    "call_id": call.id,
                    "application_id": application_id,
                    "evaluator_id": evaluator_id,
                    "status": ReviewStatus.ASSIGNED,
                    "assigned_at": now,
                    "assigned_by_id": actor.id,
                }
                for application_id, evaluator_id in fresh
            ],
        )
    for review_id in again:
        _start_afresh(session, session.get(Review, review_id), actor)


def _start_afresh(session: Session, review: Review, actor) -> Review:
    """Make a removed review a new assignment: nothing of its old draft is kept."""
    session.execute(delete(Score).where(Score.review_id == review.id))
    session.expire(review, ["scores"])
    review.status = ReviewStatus.ASSIGNED
    review.assigned_at = utcnow()
    review.assigned_by_id = actor.id
    review.submitted_at = None
    review.overall_comment = review.shared_comment = review.revisit_note = ""
    review.comments_version = 0
    review.reminders_sent = []
    return review


def load_application(session: Session, application_id: int) -> Application | None:
    """Return the application with its call and association, or None."""
    return session.scalar(
        select(Application)
        .options(joinedload(Application.call), joinedload(Application.association))
        .where(Application.id == application_id)
    )


def is_eligible(session: Session, application: Application) -> bool:
    """Tell whether the application was screened eligible (and is not withdrawn)."""
    return (
        session.scalar(
            select(Application.id).where(
                Application.id == application.id, *eligible_clause(application.call_id)
            )
        )
        is not None
    )


def _check_evaluator(
    session: Session, application: Application, evaluator_id: int | None
) -> PoolMember:
    """Return the evaluator's active place in the pool if they may review the application."""
    if evaluator_id is None:
        raise AssignmentError(_l("Choose an evaluator."), field="evaluator_id")
    member = session.scalar(
        select(PoolMember)
        .options(joinedload(PoolMember.user))
        .where(
            PoolMember.call_id == application.call_id,
            PoolMember.user_id == evaluator_id,
            PoolMember.status == PoolStatus.ACTIVE,
        )
    )
    if member is None:
        raise AssignmentError(_l("Choose an evaluator of the call's pool."), field="evaluator_id")
    if conflict_reason(session, evaluator_id, application) is not None:
        raise AssignmentError(
            _l("This evaluator has a conflict of interest with this application."),
            field="evaluator_id",
        )
    if application.language not in (member.languages or ()):
        raise AssignmentError(
            _l("This evaluator does not read the application's language."), field="evaluator_id"
        )
    existing = session.scalar(
        select(Review.status).where(
            Review.application_id == application.id, Review.evaluator_id == evaluator_id
        )
    )
    if existing is not None and existing != ReviewStatus.REMOVED:
        raise AssignmentError(
            _l("This evaluator is already assigned to this application."), field="evaluator_id"
        )
    load = session.scalar(
        select(func.count())
        .select_from(Review)
        .where(
            Review.call_id == application.call_id,
            Review.evaluator_id == evaluator_id,
            Review.status.in_(ACTIVE_REVIEW_STATUSES),
        )
    )
    if load >= application.call.max_reviews_per_evaluator:
        raise AssignmentError(
            _l(
                "This evaluator already has %(n)s reviews, the call's cap. Raise the cap in the "
                "review settings first.",
                n=load,
            ),
            field="evaluator_id",
        )
    return member


def _assign_one(session: Session, application: Application, user: User, actor: User) -> Review:
    review = session.scalar(
        select(Review).where(
            Review.application_id == application.id, Review.evaluator_id == user.id
        )
    )
    if review is not None:
        _start_afresh(session, review, actor)
    else:
        review = Review(
            call_id=application.call_id,
            application_id=application.id,
            evaluator_id=user.id,
            assigned_by_id=actor.id,
        )
        session.add(review)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # the same assignment sent twice at once
        raise AssignmentError(
            _l("This evaluator is already assigned to this application."), field="evaluator_id"
        ) from error
    return review


def add_assignment(
    session: Session, application: Application, evaluator_id: int | None, *, actor: User
) -> Review:
    """Assign one more evaluator to an eligible application; they are mailed."""
    if not is_eligible(session, application):
        raise AssignmentError(_l("Only applications screened eligible get reviewers."))
    member = _check_evaluator(session, application, evaluator_id)
    review = _assign_one(session, application, member.user, actor)
    record_event(
        session,
        actor,
        "review.assigned",
        review,
        application=application.id,
        evaluator=member.user_id,
    )
    _tell_evaluator(session, application.call, member.user, 1)
    return review


def load_review(session: Session, review_id: int) -> Review | None:
    """Return the review with its application (and the application's call)."""
    return session.scalar(
        select(Review)
        .options(joinedload(Review.application).joinedload(Application.call))
        .where(Review.id == review_id)
    )


def _check_unsubmitted(review: Review) -> None:
    if review.status == ReviewStatus.SUBMITTED:
        raise AssignmentError(
            _l("This review is submitted: it stays. Reopen it first if it must change.")
        )
    if review.status == ReviewStatus.REMOVED:
        raise AssignmentError(_l("This assignment was already removed."))


def remove_assignment(session: Session, review: Review, *, actor: User) -> Review:
    """Take an unsubmitted review away from its evaluator (a submitted one stays)."""
    _check_unsubmitted(review)
    before = review.status
    review.status = ReviewStatus.REMOVED
    record_event(
        session,
        actor,
        "review.assignment_removed",
        review,
        application=review.application_id,
        evaluator=review.evaluator_id,
        before=before.value,
    )
    session.flush()
    return review


def move_assignment(
    session: Session, review: Review, evaluator_id: int | None, *, actor: User
) -> Review:
    """Give an unsubmitted review to another evaluator, who starts afresh; they are mailed."""
    _check_unsubmitted(review)
    if evaluator_id == review.evaluator_id:
        raise AssignmentError(
            _l("Choose another evaluator than the one assigned."), field="evaluator_id"
        )
    application = review.application
    member = _check_evaluator(session, application, evaluator_id)
    before = review.status
    review.status = ReviewStatus.REMOVED
    session.flush()
    moved = _assign_one(session, application, member.user, actor)
    record_event(
        session,
        actor,
        "review.assignment_moved",
        moved,
        application=application.id,
        before_evaluator=review.evaluator_id,
        before_status=before.value,
        evaluator=member.user_id,
        removed_review=review.id,
    )
    _tell_evaluator(session, application.call, member.user, 1)
    return moved


# --- the assignments page -------------------------------------------------------------------


def assignments_query(call_id: int) -> Select:
    """Return rows (application, association) of the call's eligible applications."""
    return (
        select(Application, Association)
        .join(Association, Association.id == Application.association_id)
        .where(*eligible_clause(call_id))
        .order_by(Application.id)
    )


def reviews_of(session: Session, application_ids: list[int]) -> dict[int, list[Review]]:
    """Return {application id: its reviews, removed ones left out, with evaluators}."""
    reviews: dict[int, list[Review]] = defaultdict(list)
    if not application_ids:
        return reviews
    query = (
        select(Review)
        .options(joinedload(Review.evaluator).lazyload(User.role_rows))
        .where(
            Review.application_id.in_(application_ids),
            Review.status.in_(ACTIVE_REVIEW_STATUSES),
        )
        .order_by(Review.assigned_at, Review.id)
    )
    for review in session.scalars(query):
        reviews[review.application_id].append(review)
    return reviews


def loads_of(session: Session, call_id: int) -> Counter[int]:
    """Return {evaluator id: active reviews in the call}, in one statement."""
    rows = session.execute(
        select(Review.evaluator_id, func.count())
        .where(Review.call_id == call_id, Review.status.in_(ACTIVE_REVIEW_STATUSES))
        .group_by(Review.evaluator_id)
    )
    return Counter(dict(rows.all()))


def conflicts_for(session: Session, application_ids: list[int]) -> dict[int, set[int]]:
    """Return {application id: ids of the users conflicted with it} (members of its association,
    declared ties, declared conflicts), in one statement."""
    if not application_ids:
        return {}
    members = select(Application.id, Membership.user_id).join(
        Membership, Membership.association_id == Application.association_id
    )
    ties = select(Application.id, DeclaredTie.user_id).join(
        DeclaredTie, DeclaredTie.association_id == Application.association_id
    )
    declared = select(ConflictDeclaration.application_id, ConflictDeclaration.evaluator_id)
    query = union_all(
        members.where(Application.id.in_(application_ids)),
        ties.where(Application.id.in_(application_ids)),
        declared.where(ConflictDeclaration.application_id.in_(application_ids)),
    )
    conflicted: dict[int, set[int]] = defaultdict(set)
    for application_id, user_id in session.execute(query):
        conflicted[application_id].add(user_id)
    return conflicted


def candidates_for(
    application: Application,
    members: list[PoolMember],
    conflicted: set[int],
    assigned: Iterable[int],
    loads: Counter[int],
    cap: int,
) -> list[PoolMember]:
    """Return the pool members who may be added to the application: active, reading its
    language, not conflicted, not assigned yet, under the cap."""
    taken = set(assigned) | conflicted
    return [
        member
        for member in members
        if member.user_id not in taken
        and application.language in (member.languages or ())
        and loads[member.user_id] < cap
    ]
