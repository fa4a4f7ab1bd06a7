"""Review of submitted applications: screening, evaluator pool, conflicts, reviews and scores."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.applications.models import Application
from portal.calls.models import Call, Criterion
from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.organisations.models import Association


class ScreeningDecision(enum.StrEnum):
    PENDING = "pending"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"


class Screening(db.Model):
    """Staff's eligibility check of one submitted application: checklist and decision."""

    __tablename__ = "screening"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    screener_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # {manual check id (as text): ticked}
    checks: Mapped[dict] = mapped_column(JSON, default=dict)
    decision: Mapped[ScreeningDecision] = mapped_column(
        enum_type(ScreeningDecision), default=ScreeningDecision.PENDING
    )
    reason_ar: Mapped[str] = mapped_column(Text, default="")
    reason_fr: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    application: Mapped[Application] = relationship()
    screener: Mapped[User | None] = relationship(foreign_keys=[screener_id])


class PoolStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    REMOVED = "removed"


class PoolMember(db.Model):
    """An evaluator invited to review one call, with the languages and areas they cover."""

    __tablename__ = "evaluator_pool"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    status: Mapped[PoolStatus] = mapped_column(enum_type(PoolStatus), default=PoolStatus.INVITED)
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["ar"])
    # Codes of the strategic axes the evaluator knows best.
    expertise: Mapped[list[str]] = mapped_column(JSON, default=list)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    # Set when the evaluator has gone through the list of applications and declared conflicts;
    # until then they open no application.
    conflicts_declared_at: Mapped[datetime | None]

    call: Mapped[Call] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    __table_args__ = (UniqueConstraint("call_id", "email"),)


class DeclaredTie(db.Model):
    """An association an evaluator declared in their profile: never assigned its applications."""

    __tablename__ = "declared_tie"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    association: Mapped[Association] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "association_id"),)


class ConflictDeclaration(db.Model):
    """A conflict of interest an evaluator declared on one application, with the reason."""

    __tablename__ = "conflict_declaration"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("application_id", "evaluator_id"),)


class ReviewStatus(enum.StrEnum):
    ASSIGNED = "assigned"  # not started
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REMOVED = "removed"


ACTIVE_REVIEW_STATUSES = (ReviewStatus.ASSIGNED, ReviewStatus.DRAFT, ReviewStatus.SUBMITTED)


class Review(db.Model):
    """One evaluator's assignment to one application, and their review of it."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"))
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    status: Mapped[ReviewStatus] = mapped_column(
        enum_type(ReviewStatus), default=ReviewStatus.ASSIGNED
    )
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None]
    overall_comment: Mapped[str] = mapped_column(Text, default="")
    shared_comment: Mapped[str] = mapped_column(Text, default="")
    comments_version: Mapped[int] = mapped_column(default=0)
    # What staff asked the evaluator to look at again when they reopened the review.
    revisit_note: Mapped[str] = mapped_column(Text, default="")
    reminders_sent: Mapped[list[str]] = mapped_column(JSON, default=list)

    application: Mapped[Application] = relationship()
    evaluator: Mapped[User] = relationship(foreign_keys=[evaluator_id])
    scores: Mapped[list[Score]] = relationship(back_populates="review", order_by="Score.id")

    __table_args__ = (
        UniqueConstraint("application_id", "evaluator_id"),
        Index("ix_review_call_status", "call_id", "status"),
    )


class Score(db.Model):
    """The score one review gives one criterion, with the evaluator's comment."""

    __tablename__ = "score"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"), index=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criterion.id"))
    value: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[Review] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()

    __table_args__ = (
        UniqueConstraint("review_id", "criterion_id"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
    )


class Consensus(db.Model):
    """The score staff settle on after moderation; the ranking uses it instead of the mean."""

    __tablename__ = "consensus"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    score: Mapped[float] = mapped_column(Float)
    justification: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("score >= 0 AND score <= 100", name="score_range"),)
