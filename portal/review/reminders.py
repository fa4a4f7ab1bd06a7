"""Review reminders: evaluators with unsubmitted reviews hear 7 days and 2 days before the call's
review deadline, once each."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.calls.models import Call
from portal.notifications.services import queue_message
from portal.review.models import Review, ReviewStatus
from portal.web.links import external_url

# Nearest first: the first window the time left falls in names the reminder due.
REMINDERS = (("2d", timedelta(days=2)), ("7d", timedelta(days=7)))


def due_reminder(deadline: datetime, now: datetime) -> str | None:
    """Return the reminder due for a review deadline now ("2d" or "7d"), or None."""
    left = deadline - now
    if left <= timedelta(0):
        return None
    for kind, window in REMINDERS:
        if left <= window:
            return kind
    return None


def send_review_reminders(session: Session, now: datetime) -> int:
    """Queue one reminder per evaluator and call with reviews still open; return how many."""
    query = (
        select(Review)
        .join(Call, Call.id == Review.call_id)
        .options(joinedload(Review.evaluator), joinedload(Review.application))
        .where(
            Review.status.in_((ReviewStatus.ASSIGNED, ReviewStatus.DRAFT)),
            Call.review_deadline > now,
            Call.review_deadline <= now + REMINDERS[-1][1],
        )
        .order_by(Review.call_id, Review.evaluator_id, Review.id)
    )
    pending: dict[tuple[int, int], list[Review]] = defaultdict(list)
    for review in session.scalars(query):
        pending[(review.call_id, review.evaluator_id)].append(review)
    calls = {
        call.id: call
        for call in session.scalars(select(Call).where(Call.id.in_({k[0] for k in pending})))
    }
    queued = 0
    for (call_id, _evaluator_id), reviews in pending.items():
        call = calls[call_id]
        kind = due_reminder(call.review_deadline, now)
        if kind is None or all(kind in review.reminders_sent for review in reviews):
            continue
        evaluator = reviews[0].evaluator
        queue_message(
            session,
            evaluator.email,
            evaluator.locale or "ar",
            "review_reminder",
            call=call,
            kind=kind,
            count=len(reviews),
            link=external_url("review.dashboard"),
        )
        queued += 1
        for review in reviews:
            # A late first run sends only the nearest reminder, never both at once.
            review.reminders_sent = sorted({*review.reminders_sent, "7d", kind})
    session.flush()
    return queued
