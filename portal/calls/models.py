"""Calls for projects: lots tied to the strategic axes, eligibility, criteria, documents."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.strategy.models import BilingualMixin, PlanProject, Region, StrategicAxis


class CallStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    ARCHIVED = "archived"


lot_axis = Table(
    "lot_axis",
    db.metadata,
    Column("lot_id", ForeignKey("lot.id", ondelete="CASCADE"), primary_key=True),
    Column("axis_id", ForeignKey("strategic_axis.id", ondelete="CASCADE"), primary_key=True),
)
lot_plan_project = Table(
    "lot_plan_project",
    db.metadata,
    Column("lot_id", ForeignKey("lot.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_project_id", ForeignKey("plan_project.id", ondelete="CASCADE"), primary_key=True),
)
call_region = Table(
    "call_region",
    db.metadata,
    Column("call_id", ForeignKey("call.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", ForeignKey("region.id", ondelete="CASCADE"), primary_key=True),
)

NARRATIVE_FIELDS = (
    "context",
    "objectives",
    "activities",
    "expected_results",
    "indicators",
    "sustainability",
)
DEFAULT_WORD_LIMITS = {
    "context": 600,
    "objectives": 300,
    "activities": 800,
    "expected_results": 400,
    "indicators": 300,
    "sustainability": 400,
}


def new_scores_token() -> str:
    return uuid.uuid4().hex


class Call(BilingualMixin, db.Model):
    __tablename__ = "call"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title_ar: Mapped[str] = mapped_column(String(300))
    title_fr: Mapped[str] = mapped_column(String(300))
    description_ar: Mapped[str] = mapped_column(Text, default="")
    description_fr: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CallStatus] = mapped_column(enum_type(CallStatus), default=CallStatus.DRAFT)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    results_expected_at: Mapped[datetime | None]
    budget_total: Mapped[int] = mapped_column(default=0)
    min_amount: Mapped[int] = mapped_column(default=0)
    max_amount: Mapped[int] = mapped_column(default=0)
    min_cofunding_percent: Mapped[int] = mapped_column(default=0)
    max_duration_months: Mapped[int] = mapped_column(default=12)
    min_years_since_founding: Mapped[int] = mapped_column(default=0)
    max_applications_per_association: Mapped[int] = mapped_column(default=1)
    max_budget_lines: Mapped[int] = mapped_column(default=60)
    word_limits: Mapped[dict] = mapped_column(JSON, default=lambda: dict(DEFAULT_WORD_LIMITS))
    frozen_at: Mapped[datetime | None]
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("call.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    # Review: how many evaluators read each application, their cap, the review deadline,
    # whether evaluators see who applied, and the thresholds of the ranking.
    reviews_per_application: Mapped[int] = mapped_column(default=3)
    max_reviews_per_evaluator: Mapped[int] = mapped_column(default=40)
    review_deadline: Mapped[datetime | None]
    blind_review: Mapped[bool] = mapped_column(default=False)
    disagreement_threshold: Mapped[int] = mapped_column(default=20)
    overall_minimum: Mapped[int] = mapped_column(default=0)
    # Results: how many days after publication an applicant may appeal.
    appeal_days: Mapped[int] = mapped_column(default=15)
    # Renewed whenever what the ranking is computed from changes (portal.review.kept).
    scores_token: Mapped[str] = mapped_column(String(32), default=new_scores_token)

    lots: Mapped[list[Lot]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="Lot.position"
    )
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="Criterion.position"
    )
    documents: Mapped[list[RequiredDocument]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="RequiredDocument.position"
    )
    manual_checks: Mapped[list[ManualCheck]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="ManualCheck.position"
    )
    allowed_regions: Mapped[list[Region]] = relationship(
        secondary=call_region, order_by="Region.position"
    )

    __table_args__ = (
        CheckConstraint("min_amount >= 0 AND max_amount >= min_amount", name="amount_range"),
        CheckConstraint(
            "min_cofunding_percent >= 0 AND min_cofunding_percent <= 100", name="cofunding_share"
        ),
        CheckConstraint("budget_total >= 0", name="budget_positive"),
        CheckConstraint(
            "reviews_per_application >= 1 AND max_reviews_per_evaluator >= 1",
            name="review_counts_positive",
        ),
        CheckConstraint(
            "overall_minimum >= 0 AND overall_minimum <= 100", name="overall_minimum_range"
        ),
        CheckConstraint("appeal_days >= 0 AND appeal_days <= 90", name="appeal_days_range"),
    )

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def is_open_at(self, moment: datetime) -> bool:
        """Tell whether applications may be submitted at this instant."""
        return (
            self.status == CallStatus.PUBLISHED
            and self.opens_at is not None
            and self.closes_at is not None
            and self.opens_at <= moment < self.closes_at
        )

    @property
    def weights_total(self) -> int:
        return sum(criterion.weight for criterion in self.criteria)


class Lot(BilingualMixin, db.Model):
    __tablename__ = "lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    title_ar: Mapped[str] = mapped_column(String(300))
    title_fr: Mapped[str] = mapped_column(String(300))
    description_ar: Mapped[str] = mapped_column(Text, default="")
    description_fr: Mapped[str] = mapped_column(Text, default="")
    budget: Mapped[int] = mapped_column(default=0)

    call: Mapped[Call] = relationship(back_populates="lots")
    axes: Mapped[list[StrategicAxis]] = relationship(
        secondary=lot_axis, order_by="StrategicAxis.number"
    )
    plan_projects: Mapped[list[PlanProject]] = relationship(
        secondary=lot_plan_project, order_by="PlanProject.number"
    )

    __table_args__ = (CheckConstraint("budget >= 0", name="budget_positive"),)


class Criterion(BilingualMixin, db.Model):
    __tablename__ = "criterion"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    title_ar: Mapped[str] = mapped_column(String(300))
    title_fr: Mapped[str] = mapped_column(String(300))
    guidance_ar: Mapped[str] = mapped_column(Text, default="")
    guidance_fr: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[int]
    max_score: Mapped[int] = mapped_column(default=10)
    # The lowest mean score an application may have on this criterion and still be funded.
    minimum_score: Mapped[int | None]

    call: Mapped[Call] = relationship(back_populates="criteria")

    __table_args__ = (
        CheckConstraint("weight > 0 AND weight <= 100", name="weight_range"),
        CheckConstraint("max_score > 0", name="max_score_positive"),
    )


DOCUMENT_TYPES = ("pdf", "docx", "xlsx", "odt", "jpeg", "png")


class RequiredDocument(BilingualMixin, db.Model):
    __tablename__ = "required_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    code: Mapped[str] = mapped_column(String(40))
    name_ar: Mapped[str] = mapped_column(String(300))
    name_fr: Mapped[str] = mapped_column(String(300))
    mandatory: Mapped[bool] = mapped_column(default=True)
    allowed_types: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["pdf"])
    max_size_mb: Mapped[int] = mapped_column(default=10)

    call: Mapped[Call] = relationship(back_populates="documents")

    __table_args__ = (
        UniqueConstraint("call_id", "code"),
        CheckConstraint("max_size_mb > 0 AND max_size_mb <= 25", name="size_range"),
    )


class ManualCheck(BilingualMixin, db.Model):
    """An eligibility rule that staff check by hand (the others are checked by the portal)."""

    __tablename__ = "manual_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    text_ar: Mapped[str] = mapped_column(Text)
    text_fr: Mapped[str] = mapped_column(Text)

    call: Mapped[Call] = relationship(back_populates="manual_checks")


class DeadlineExtension(db.Model):
    """A documented, time-limited exception to the deadline for one association."""

    __tablename__ = "deadline_extension"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"), index=True)
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("call_id", "association_id"),)
