"""The ranking's order kept between requests, and the token that says when it is out of date.

Ranking a national call reads every submitted score of the call (30,000 reviews, 150,000
scores): a few hundred milliseconds that each page of the ranking would pay again. Each worker
keeps the order and the statistics in memory under a key holding the call's `scores_token`.
Every flush that changes what the order is computed from (a review, a score, a consensus, a
screening, or an application's lot or call) gives the calls concerned a new
token in the same transaction, so a request that can see the change cannot be served an order
computed before it. A restored backup brings back the tokens of its own data.

The criteria and the thresholds are part of the key; titles and names are read afresh for the
rows shown. A write that bypasses the unit of work (a Core statement) and changes what the
order is computed from must call `scores_changed` itself.
"""

from __future__ import annotations

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from portal.applications.models import Application
from portal.calls.models import Call, new_scores_token
from portal.kept import Kept, changes_watched, flushed, value_before
from portal.review.models import Consensus, Review, ReviewStatus, Score, Screening

# Rankings kept per worker; a national call's standard and normalised views, whole and by lot,
# are 14 entries of a few megabytes each.
KEPT_RANKINGS = 16

# What each watched model's rows change in the order when they are updated. A new or deleted row
# counts, except a new application (nobody has screened it yet); only submitted reviews and their
# scores are ranked.
WATCHED_COLUMNS = {
    Review: ("status", "application_id", "evaluator_id", "call_id"),
    Score: ("value", "criterion_id", "review_id"),
    Consensus: ("score", "application_id"),
    Screening: ("decision", "application_id"),
    # Not `submitted_at`, though it breaks ties: only submitting changes it, and screening starts
    # at the deadline, when nothing can be submitted any more. Watching it would make every
    # submission of a deadline rush wait for the call's row.
    Application: ("lot_id", "call_id"),
}


def _ranked_reviews_and_screened_applications(
    session: Session, instance, state: str
) -> bool | None:
    """Only submitted reviews and their scores are ranked; a new application is not screened."""
    if isinstance(instance, Score) and not _counted(_review_in_session(session, instance)):
        return False
    if isinstance(instance, Review) and not _counted(instance):
        return False
    if isinstance(instance, Application) and state == "new":
        return False
    return None


def _review_in_session(session: Session, score: Score) -> Review | None:
    """Return the score's review when the session holds it, without a query."""
    return session.identity_map.get(identity_key(Review, score.review_id))


def _counted(review: Review | None) -> bool:
    """Tell whether the review is, or was before this flush, submitted (unknown: yes)."""
    if review is None:
        return True
    return ReviewStatus.SUBMITTED in (review.status, value_before(review, "status"))


def _concerned(session: Session) -> tuple[set[int], set[int], set[int]]:
    """Return the ids of (calls, applications, reviews) whose ranking this flush changes."""
    calls, applications, reviews = set(), set(), set()
    for instance, state in flushed(session):
        if not changes_watched(
            session, instance, state, WATCHED_COLUMNS, _ranked_reviews_and_screened_applications
        ):
            continue
        if isinstance(instance, Review | Application):
            calls.add(instance.call_id)
        elif isinstance(instance, Score):
            reviews.add(instance.review_id)
        else:
            applications.add(instance.application_id)
    return calls, applications, reviews


def scores_changed(
    session: Session,
    *,
    calls: set[int] | frozenset = frozenset(),
    applications: set[int] | frozenset = frozenset(),
    reviews: set[int] | frozenset = frozenset(),
) -> None:
    """Give a new token to the calls named, and to those of the applications and reviews."""
    calls, applications, reviews = (
        {id_ for id_ in ids if id_ is not None} for ids in (calls, applications, reviews)
    )
    if not (calls or applications or reviews):
        return
    session.connection().execute(
        update(Call)
        .where(
            or_(
                Call.id.in_(calls),
                Call.id.in_(select(Application.call_id).where(Application.id.in_(applications))),
                Call.id.in_(select(Review.call_id).where(Review.id.in_(reviews))),
            )
        )
        .values(scores_token=new_scores_token())
        .execution_options(synchronize_session=False)
    )


@event.listens_for(Session, "after_flush")
def _renew_tokens(session: Session, _context) -> None:
    # After the flush the rows are written but new, dirty and deleted still list what it wrote.
    calls, applications, reviews = _concerned(session)
    scores_changed(session, calls=calls, applications=applications, reviews=reviews)


kept_rankings = Kept(KEPT_RANKINGS)


def ranking_key(call: Call, lot_id: int | None, normalised: bool) -> tuple:
    """Return what a kept ranking of `call` depends on besides its token; criteria loaded."""
    criteria = tuple(
        (c.id, c.weight, c.max_score, c.minimum_score, c.position) for c in call.criteria
    )
    return (
        call.id,
        call.scores_token,
        lot_id,
        normalised,
        call.disagreement_threshold,
        call.overall_minimum,
        criteria,
    )
