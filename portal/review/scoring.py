"""Scoring rules: the evaluator's dashboard, blind reading, scores saved criterion by criterion
without silent overwrites, submission (locked afterwards) and reopening by staff."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.accounts.models import User
from portal.applications.models import Application, Attachment
from portal.applications.services import is_whole_number
from portal.audit.services import record_event
from portal.calls.models import Call, Criterion
from portal.db import utcnow
from portal.forms import has_control_characters
from portal.notifications.services import queue_message
from portal.organisations.models import Association, Membership
from portal.review.models import (
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Score,
)
from portal.rules import RuleRefused
from portal.web.links import external_url

MAX_COMMENT = 5000
MAX_NOTE = 5000
REDACTED = "[…]"


class ScoringError(RuleRefused):
    """A change to a review that the rules refuse."""


class StaleEdit(ScoringError):
    """The value was saved from another tab or window after this page was loaded."""

    def __init__(self, theirs: dict, yours: dict, version: int):
        super().__init__(_l("This was saved from another tab or window after you opened the page."))
        self.theirs = theirs
        self.yours = yours
        self.version = version


# --- reading --------------------------------------------------------------------------------


def load_review(session: Session, review_id: int) -> Review | None:
    """Return a review with all its scoring page shows, in a fixed number of queries."""
    query = (
        select(Review)
        .options(
            joinedload(Review.application).joinedload(Application.call).selectinload(Call.criteria),
            joinedload(Review.application).joinedload(Application.lot),
            joinedload(Review.application)
            .joinedload(Application.association)
            .selectinload(Association.memberships)
            .joinedload(Membership.user),
            joinedload(Review.application).selectinload(Application.axes),
            joinedload(Review.application).selectinload(Application.sdgs),
            joinedload(Review.application).selectinload(Application.un_mechanisms),
            joinedload(Review.application).selectinload(Application.budget_lines),
            joinedload(Review.application)
            .selectinload(Application.attachments)
            .joinedload(Attachment.document),
            selectinload(Review.scores),
        )
        .where(Review.id == review_id)
    )
    return session.scalar(query)


def load_review_for_saving(session: Session, review_id: int) -> Review | None:
    """Return a review with only what a save reads: its application, call and criteria."""
    query = (
        select(Review)
        .options(
            joinedload(Review.application).joinedload(Application.call).selectinload(Call.criteria),
        )
        .where(Review.id == review_id)
    )
    return session.scalar(query)


def scores_by_criterion(review: Review) -> dict[int, Score]:
    """Return the review's saved scores by criterion id."""
    return {score.criterion_id: score for score in review.scores}


def weighted_total(review: Review, criteria) -> float | None:
    """Return the review's total on 100 (Σ value/max × weight), or None while incomplete."""
    scores = scores_by_criterion(review)
    total = 0.0
    for criterion in criteria:
        score = scores.get(criterion.id)
        if score is None or score.value is None:
            return None
        total += score.value / criterion.max_score * criterion.weight
    return round(total, 2)


# --- blind reading --------------------------------------------------------------------------


def identity_terms(association: Association) -> list[str]:
    """Return what names the association: its names, acronym, number, members and addresses."""
    terms = [
        association.name_ar,
        association.name_fr,
        association.acronym,
        association.registration_number,
        association.email,
    ]
    for membership in association.memberships:
        terms += [membership.user.full_name, membership.user.email]
    return terms


def identity_pattern(terms) -> re.Pattern | None:
    """Return a pattern matching any of these terms as whole words, longest first (so that a
    name containing the acronym is replaced whole)."""
    cleaned = sorted({term.strip() for term in terms if term and len(term.strip()) >= 2}, key=len)
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(term) for term in reversed(cleaned))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class Redactor:
    """Replace the association's identity by "[…]" in a blind call; leave text as is otherwise."""

    def __init__(self, application: Application, blind: bool, terms=None):
        if not blind:
            self.pattern = None
        else:
            self.pattern = identity_pattern(
                terms if terms is not None else identity_terms(application.association)
            )

    def __call__(self, text) -> str:
        text = "" if text is None else str(text)
        if self.pattern is None:
            return text
        return self.pattern.sub(REDACTED, text)


def team_roles(team) -> list[str]:
    """Return each team line by role only (the part after the name), for a blind reader."""
    roles = []
    for row in team or []:
        line = row.get("line", "") if isinstance(row, dict) else str(row)
        parts = [part.strip() for part in re.split(r"[,،;؛]", line) if part.strip()]
        roles.append(parts[1] if len(parts) > 1 else REDACTED)
    return roles


# --- the evaluator's dashboard --------------------------------------------------------------


@dataclass
class DashboardCall:
    """One call of the evaluator's pool, with their assignments in it."""

    call: Call
    member: PoolMember
    reviews: list[Review] = field(default_factory=list)
    conflicted: set[int] = field(default_factory=set)

    @property
    def conflicts_declared(self) -> bool:
        return self.member.conflicts_declared_at is not None

    @property
    def submitted(self) -> int:
        return sum(1 for review in self.reviews if review.status == ReviewStatus.SUBMITTED)

    @property
    def open_reviews(self) -> list[Review]:
        return [review for review in self.reviews if review.application_id not in self.conflicted]


def evaluator_dashboard(session: Session, user_id: int) -> list[DashboardCall]:
    """Return the calls where the user is an active evaluator, each with their assignments.

    Four statements whatever the number of calls and applications.
    """
    members = session.scalars(
        select(PoolMember)
        .options(joinedload(PoolMember.call))
        .where(PoolMember.user_id == user_id, PoolMember.status == PoolStatus.ACTIVE)
    ).all()
    calls = {member.call_id: DashboardCall(member.call, member) for member in members}
    if not calls:
        return []
    reviews = session.scalars(
        select(Review)
        .options(joinedload(Review.application))
        .where(
            Review.evaluator_id == user_id,
            Review.call_id.in_(list(calls)),
            Review.status != ReviewStatus.REMOVED,
        )
        .order_by(Review.application_id)
    ).all()
    conflicted = conflicted_applications(session, user_id, [r.application for r in reviews])
    for review in reviews:
        entry = calls[review.call_id]
        entry.reviews.append(review)
        if review.application_id in conflicted:
            entry.conflicted.add(review.application_id)
    # Nearest review deadline first; calls without one last.
    return sorted(
        calls.values(),
        key=lambda entry: (
            entry.call.review_deadline is None,
            entry.call.review_deadline or utcnow(),
            entry.call.id,
        ),
    )


def conflicted_applications(
    session: Session, user_id: int, applications: list[Application]
) -> set[int]:
    """Return the ids of these applications the user is conflicted with, in two statements."""
    if not applications:
        return set()
    tied = set(
        session.scalars(
            union(
                select(Membership.association_id).where(Membership.user_id == user_id),
                select(DeclaredTie.association_id).where(DeclaredTie.user_id == user_id),
            )
        )
    )
    declared = set(
        session.scalars(
            select(ConflictDeclaration.application_id).where(
                ConflictDeclaration.evaluator_id == user_id
            )
        )
    )
    return {
        application.id
        for application in applications
        if application.association_id in tied or application.id in declared
    }


def identity_terms_of(session: Session, association_ids) -> dict[int, list[str]]:
    """Return the identity terms of these associations, in two statements of plain columns."""
    terms: dict[int, list[str]] = {}
    if not association_ids:
        return terms
    rows = session.execute(
        select(
            Association.id,
            Association.name_ar,
            Association.name_fr,
            Association.acronym,
            Association.registration_number,
            Association.email,
        ).where(Association.id.in_(association_ids))
    )
    for association_id, *names in rows:
        terms[association_id] = list(names)
    people = session.execute(
        select(Membership.association_id, User.full_name, User.email)
        .join(User, User.id == Membership.user_id)
        .where(Membership.association_id.in_(association_ids))
    )
    for association_id, full_name, email in people:
        terms[association_id] += [full_name, email]
    return terms


def redacted_titles(session: Session, reviews: list[Review], locale: str) -> dict[int, str]:
    """Return each review's application title as its evaluator may read it (blind: redacted)."""
    blind = {r.application.association_id for r in reviews if r.application.call.blind_review}
    terms = identity_terms_of(session, blind)
    titles = {}
    for review in reviews:
        application = review.application
        redact = Redactor(
            application,
            application.call.blind_review,
            terms.get(application.association_id, []),
        )
        titles[review.id] = redact(application.title_for(locale))
    return titles


# --- saving ---------------------------------------------------------------------------------


def _lock_review(session: Session, review: Review) -> Review:
    """Take the review's row lock and read its current state (another request may have changed
    it since the page, or this request, loaded it)."""
    return session.scalars(
        select(Review)
        .where(Review.id == review.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _ensure_changeable(review: Review) -> None:
    if review.status == ReviewStatus.SUBMITTED:
        raise ScoringError(
            _l("This review is submitted and can no longer change. Staff may reopen it.")
        )
    if review.status == ReviewStatus.REMOVED:
        raise ScoringError(_l("This review was withdrawn from you."))


def clean_value(raw, criterion: Criterion) -> int | None:
    """Read a score typed by the evaluator: empty, or a whole number from 0 to the maximum."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if not is_whole_number(text):
        raise ScoringError(
            _l("Enter a whole number from 0 to %(max)d.", max=criterion.max_score), field="value"
        )
    value = int(text)
    if value > criterion.max_score:
        raise ScoringError(
            _l("The score cannot be above %(max)d.", max=criterion.max_score), field="value"
        )
    return value


def clean_comment(raw, name: str = "comment") -> str:
    """Read a comment: line breaks normalised, at most MAX_COMMENT characters."""
    text = (raw or "").replace("\r\n", "\n").strip()
    if has_control_characters(text, multiline=True):
        raise ScoringError(_l("Control characters are not allowed."), field=name)
    if len(text) > MAX_COMMENT:
        raise ScoringError(_l("Use at most %(n)d characters.", n=MAX_COMMENT), field=name)
    return text


def _current_score(session: Session, review: Review, criterion: Criterion) -> Score | None:
    return session.scalar(
        select(Score)
        .where(Score.review_id == review.id, Score.criterion_id == criterion.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def save_score(
    session: Session,
    review: Review,
    criterion: Criterion,
    raw_value,
    raw_comment,
    version: int,
    *,
    actor,
) -> Score:
    """Save one criterion's score and comment; refuse a save based on an older saved version.

    `version` is the score's version the page was built from (0: none was saved yet). A save
    whose values equal the saved ones is never a conflict.
    """
    value = clean_value(raw_value, criterion)
    comment = clean_comment(raw_comment)
    _lock_review(session, review)
    _ensure_changeable(review)
    score = _current_score(session, review, criterion)
    saved_version = score.version if score is not None else 0
    if score is not None and (score.value, score.comment) == (value, comment):
        return score
    if version != saved_version:
        theirs = {"value": score.value, "comment": score.comment} if score else {}
        raise StaleEdit(theirs, {"value": raw_value, "comment": raw_comment}, saved_version)
    if score is None:
        score = Score(review_id=review.id, criterion_id=criterion.id, version=0)
        session.add(score)
    score.value = value
    score.comment = comment
    score.version = saved_version + 1
    score.saved_at = utcnow()
    if review.status == ReviewStatus.ASSIGNED:
        review.status = ReviewStatus.DRAFT
    session.flush()
    record_event(session, actor, "review.score_saved", review, criterion=criterion.id, value=value)
    return score


def save_comments(
    session: Session, review: Review, raw_overall, raw_shared, version: int, *, actor
) -> Review:
    """Save the overall comment and the one that may be shared with the applicant."""
    overall = clean_comment(raw_overall, "overall_comment")
    shared = clean_comment(raw_shared, "shared_comment")
    _lock_review(session, review)
    _ensure_changeable(review)
    if (review.overall_comment, review.shared_comment) == (overall, shared):
        return review
    if version != review.comments_version:
        raise StaleEdit(
            {"overall_comment": review.overall_comment, "shared_comment": review.shared_comment},
            {"overall_comment": raw_overall, "shared_comment": raw_shared},
            review.comments_version,
        )
    review.overall_comment = overall
    review.shared_comment = shared
    review.comments_version += 1
    if review.status == ReviewStatus.ASSIGNED:
        review.status = ReviewStatus.DRAFT
    session.flush()
    record_event(session, actor, "review.comments_saved", review)
    return review


def missing_criteria(session: Session, review: Review) -> list[Criterion]:
    """Return the call's criteria that this review has not scored yet (read afresh)."""
    scored = set(
        session.scalars(
            select(Score.criterion_id).where(Score.review_id == review.id, Score.value.is_not(None))
        )
    )
    return [c for c in review.application.call.criteria if c.id not in scored]


def submit_review(session: Session, review: Review, *, actor, locale: str = "ar") -> bool:
    """Submit the review; return False when it was already submitted (nothing changes then)."""
    _lock_review(session, review)
    if review.status == ReviewStatus.SUBMITTED:
        return False
    _ensure_changeable(review)
    missing = missing_criteria(session, review)
    if missing:
        raise ScoringError(
            _l(
                "Score every criterion before submitting. Not scored yet: %(names)s.",
                names=", ".join(c.text_for("title", locale) for c in missing),
            )
        )
    review.status = ReviewStatus.SUBMITTED
    review.submitted_at = utcnow()
    session.flush()
    record_event(session, actor, "review.submitted", review, application=review.application_id)
    return True


def reopen_review(session: Session, review: Review, raw_note, *, actor) -> Review:
    """Reopen a submitted review so its evaluator revisits it; tell them what to look at."""
    note = (raw_note or "").replace("\r\n", "\n").strip()
    if not note:
        raise ScoringError(_l("Say what the evaluator should look at again."), field="note")
    if len(note) > MAX_NOTE:
        raise ScoringError(_l("Use at most %(n)d characters.", n=MAX_NOTE), field="note")
    if has_control_characters(note, multiline=True):
        raise ScoringError(_l("Control characters are not allowed."), field="note")
    _lock_review(session, review)
    if review.status != ReviewStatus.SUBMITTED:
        raise ScoringError(_l("Only a submitted review can be reopened."))
    submitted_at = review.submitted_at
    review.status = ReviewStatus.DRAFT
    review.submitted_at = None
    review.revisit_note = note
    session.flush()
    record_event(
        session,
        actor,
        "review.reopened",
        review,
        note=note,
        before={"status": "submitted", "submitted_at": submitted_at},
        after={"status": "draft"},
    )
    evaluator = review.evaluator
    application = review.application
    queue_message(
        session,
        evaluator.email,
        evaluator.locale or "ar",
        "review_reopened",
        call=application.call,
        title=Redactor(application, application.call.blind_review)(
            application.title_for(evaluator.locale or "ar")
        ),
        note=note,
        link=external_url("review.score_page", review_id=review.id),
    )
    return review
