"""Staff steering of a call's review: its settings, its progress, the moderation of one
application (reviews side by side, an extra evaluator) and the consensus score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.accounts.models import User
from portal.applications.models import Application, ApplicationStatus
from portal.audit.services import record_event
from portal.calls.models import Call
from portal.db import utcnow
from portal.organisations.models import Membership
from portal.review.models import (
    ACTIVE_REVIEW_STATUSES,
    ConflictDeclaration,
    Consensus,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Screening,
    ScreeningDecision,
)
from portal.rules import RuleRefused

# --- settings -------------------------------------------------------------------------------

SETTING_FIELDS = (
    "reviews_per_application",
    "max_reviews_per_evaluator",
    "review_deadline",
    "blind_review",
    "disagreement_threshold",
    "overall_minimum",
)
# Once a review is submitted, these would change what evaluators already did.
LOCKED_AFTER_SUBMISSION = {
    "blind_review": _l("Blind review cannot change once a review has been submitted."),
    "reviews_per_application": _l(
        "The number of reviews per application cannot change once a review has been submitted."
    ),
}


@dataclass(frozen=True)
class ReviewSettings:
    reviews_per_application: int
    max_reviews_per_evaluator: int
    review_deadline: datetime | None
    blind_review: bool
    disagreement_threshold: int
    overall_minimum: int
    # {criterion id: lowest acceptable mean, or None}
    criterion_minimums: dict[int, int | None]


def submitted_reviews(session: Session, call_id: int) -> int:
    """Count the call's submitted reviews."""
    return session.scalar(
        select(func.count())
        .select_from(Review)
        .where(Review.call_id == call_id, Review.status == ReviewStatus.SUBMITTED)
    )


def _check_ranges(call: Call, settings: ReviewSettings) -> None:
    if not 1 <= settings.reviews_per_application <= 20:
        raise RuleRefused(_l("Enter a number from 1 to 20."), "reviews_per_application")
    if not 1 <= settings.max_reviews_per_evaluator <= 1000:
        raise RuleRefused(_l("Enter a number from 1 to 1000."), "max_reviews_per_evaluator")
    for name in ("disagreement_threshold", "overall_minimum"):
        if not 0 <= getattr(settings, name) <= 100:
            raise RuleRefused(_l("Enter a number from 0 to 100."), name)
    if (
        settings.review_deadline is not None
        and call.closes_at is not None
        and settings.review_deadline <= call.closes_at
    ):
        raise RuleRefused(
            _l("The review deadline must come after the call's deadline."), "review_deadline"
        )
    for criterion in call.criteria:
        minimum = settings.criterion_minimums.get(criterion.id)
        if minimum is not None and not 0 <= minimum <= criterion.max_score:
            raise RuleRefused(
                _l("Enter a number from 0 to %(max)s.", max=criterion.max_score),
                f"minimum_{criterion.id}",
            )


def update_review_settings(session: Session, call: Call, settings: ReviewSettings, *, actor):
    """Change how the call is reviewed and ranked; audited with the values before and after.

    Blind review and the number of reviews per application are refused once a review has been
    submitted.
    """
    _check_ranges(call, settings)
    before = {name: getattr(call, name) for name in SETTING_FIELDS}
    after = {name: getattr(settings, name) for name in SETTING_FIELDS}
    changed = [name for name in SETTING_FIELDS if before[name] != after[name]]
    locked = [name for name in changed if name in LOCKED_AFTER_SUBMISSION]
    if locked and submitted_reviews(session, call.id):
        raise RuleRefused(LOCKED_AFTER_SUBMISSION[locked[0]], locked[0])
    minimums_before = {criterion.id: criterion.minimum_score for criterion in call.criteria}
    minimums_after = {
        criterion.id: settings.criterion_minimums.get(criterion.id) for criterion in call.criteria
    }
    if not changed and minimums_before == minimums_after:
        return call
    for name in changed:
        setattr(call, name, after[name])
    for criterion in call.criteria:
        criterion.minimum_score = minimums_after[criterion.id]
    record_event(
        session,
        actor,
        "review.settings_changed",
        call,
        before={name: before[name] for name in changed} | {"minimums": minimums_before},
        after={name: after[name] for name in changed} | {"minimums": minimums_after},
    )
    session.flush()
    return call


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewProgress:
    submitted_applications: int
    screened: int
    eligible: int
    ineligible: int
    pool_active: int
    pool_invited: int
    assignments: int
    reviews_submitted: int
    reviews_expected: int
    consensus_recorded: int

    @property
    def unscreened(self) -> int:
        return self.submitted_applications - self.screened


def review_progress(session: Session, call: Call) -> ReviewProgress:
    """Count where the call's review stands: screening, pool, assignments, reviews, consensus.

    Five grouped statements whatever the size of the call.
    """
    submitted = session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.call_id == call.id, Application.status == ApplicationStatus.SUBMITTED)
    )
    decisions = dict(
        session.execute(
            select(Screening.decision, func.count())
            .join(Application, Application.id == Screening.application_id)
            .where(
                Screening.call_id == call.id,
                Application.status == ApplicationStatus.SUBMITTED,
            )
            .group_by(Screening.decision)
        ).all()
    )
    pool = dict(
        session.execute(
            select(PoolMember.status, func.count())
            .where(PoolMember.call_id == call.id)
            .group_by(PoolMember.status)
        ).all()
    )
    reviews = dict(
        session.execute(
            select(Review.status, func.count())
            .where(Review.call_id == call.id)
            .group_by(Review.status)
        ).all()
    )
    consensus = session.scalar(
        select(func.count())
        .select_from(Consensus)
        .join(Application, Application.id == Consensus.application_id)
        .where(Application.call_id == call.id)
    )
    eligible = decisions.get(ScreeningDecision.ELIGIBLE, 0)
    ineligible = decisions.get(ScreeningDecision.INELIGIBLE, 0)
    return ReviewProgress(
        submitted_applications=submitted,
        screened=eligible + ineligible,
        eligible=eligible,
        ineligible=ineligible,
        pool_active=pool.get(PoolStatus.ACTIVE, 0),
        pool_invited=pool.get(PoolStatus.INVITED, 0),
        assignments=sum(reviews.get(status, 0) for status in ACTIVE_REVIEW_STATUSES),
        reviews_submitted=reviews.get(ReviewStatus.SUBMITTED, 0),
        reviews_expected=eligible * call.reviews_per_application,
        consensus_recorded=consensus,
    )


# --- moderation -----------------------------------------------------------------------------


def load_application(session: Session, application_id: int) -> Application | None:
    """Return the application with its call, criteria, association and screening loaded."""
    return session.scalar(
        select(Application)
        .where(Application.id == application_id)
        .options(
            joinedload(Application.call).selectinload(Call.criteria),
            joinedload(Application.association),
            joinedload(Application.lot),
        )
    )


def active_reviews(session: Session, application: Application) -> list[Review]:
    """Return the application's reviews but removed ones, with evaluators and scores."""
    return list(
        session.scalars(
            select(Review)
            .where(
                Review.application_id == application.id,
                Review.status.in_(ACTIVE_REVIEW_STATUSES),
            )
            .options(
                joinedload(Review.evaluator).lazyload(User.role_rows),
                selectinload(Review.scores),
            )
            .order_by(Review.assigned_at, Review.id)
        )
    )


def review_total(review: Review, criteria) -> float | None:
    """Return a review's weighted total on 100 (None until every criterion is scored)."""
    values = {score.criterion_id: score.value for score in review.scores}
    if any(values.get(criterion.id) is None for criterion in criteria):
        return None
    return sum(values[c.id] / c.max_score * c.weight for c in criteria)


def conflicted_evaluators(session: Session, application: Application) -> set[int]:
    """Return the ids of the users conflicted with this application, in one statement: members
    of the association, evaluators who declared a tie with it or a conflict with the application.
    """
    query = union(
        select(Membership.user_id).where(Membership.association_id == application.association_id),
        select(DeclaredTie.user_id).where(DeclaredTie.association_id == application.association_id),
        select(ConflictDeclaration.evaluator_id).where(
            ConflictDeclaration.application_id == application.id
        ),
    )
    return set(session.scalars(query))


def extra_evaluator_candidates(
    session: Session, application: Application, reviews: list[Review]
) -> list[PoolMember]:
    """Return the call's active evaluators who could be added: not conflicted, not assigned."""
    excluded = conflicted_evaluators(session, application) | {
        review.evaluator_id for review in reviews
    }
    members = session.scalars(
        select(PoolMember)
        .where(
            PoolMember.call_id == application.call_id,
            PoolMember.status == PoolStatus.ACTIVE,
            PoolMember.user_id.is_not(None),
        )
        .options(joinedload(PoolMember.user).lazyload(User.role_rows))
        .order_by(PoolMember.id)
    )
    return [member for member in members if member.user_id not in excluded]


def consensus_of(session: Session, application_id: int) -> Consensus | None:
    """Return the consensus recorded for the application, if any."""
    return session.scalar(select(Consensus).where(Consensus.application_id == application_id))


def _eligible(session: Session, application: Application) -> bool:
    return (
        session.scalar(select(Screening.decision).where(Screening.application_id == application.id))
        == ScreeningDecision.ELIGIBLE
    )


def record_consensus(
    session: Session, application: Application, score: float, justification: str, *, actor
) -> Consensus:
    """Record the score staff settle on after moderation (0–100, two decimals), with its
    justification; it replaces the mean in the ranking. Replacing one is audited before/after."""
    justification = (justification or "").strip()
    if score is None or not math.isfinite(score) or not 0 <= score <= 100:
        raise RuleRefused(_l("Enter a score from 0 to 100."), "score")
    if not justification:
        raise RuleRefused(_l("Explain how the consensus was reached."), "justification")
    if not _eligible(session, application):
        raise RuleRefused(_l("Only an application screened eligible can have a consensus."))
    has_review = session.scalar(
        select(Review.id).where(
            Review.application_id == application.id, Review.status == ReviewStatus.SUBMITTED
        )
    )
    if not has_review:
        raise RuleRefused(_l("A consensus needs at least one submitted review."))
    score = round(float(score), 2)
    consensus = consensus_of(session, application.id)
    if consensus is None:
        consensus = Consensus(
            application_id=application.id,
            score=score,
            justification=justification,
            recorded_by_id=actor.id,
        )
        session.add(consensus)
        record_event(
            session,
            actor,
            "review.consensus_recorded",
            application,
            after={"score": score, "justification": justification},
        )
    else:
        before = {"score": consensus.score, "justification": consensus.justification}
        consensus.score, consensus.justification = score, justification
        consensus.recorded_by_id = actor.id
        consensus.recorded_at = utcnow()
        record_event(
            session,
            actor,
            "review.consensus_replaced",
            application,
            before=before,
            after={"score": score, "justification": justification},
        )
    session.flush()
    return consensus
