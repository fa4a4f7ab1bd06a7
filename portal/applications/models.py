"""Applications to a call: sections, budget lines, attachments, submissions with receipts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.calls.models import Call, Lot, RequiredDocument
from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.organisations.models import Association
from portal.strategy.models import Sdg, StrategicAxis, UnMechanism


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


application_axis = Table(
    "application_axis",
    db.metadata,
    Column("application_id", ForeignKey("application.id", ondelete="CASCADE"), primary_key=True),
    Column("axis_id", ForeignKey("strategic_axis.id", ondelete="CASCADE"), primary_key=True),
)
application_sdg = Table(
    "application_sdg",
    db.metadata,
    Column("application_id", ForeignKey("application.id", ondelete="CASCADE"), primary_key=True),
    Column("sdg_id", ForeignKey("sdg.id", ondelete="CASCADE"), primary_key=True),
)
application_un_mechanism = Table(
    "application_un_mechanism",
    db.metadata,
    Column("application_id", ForeignKey("application.id", ondelete="CASCADE"), primary_key=True),
    Column("un_mechanism_id", ForeignKey("un_mechanism.id", ondelete="CASCADE"), primary_key=True),
)


class Application(db.Model):
    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    language: Mapped[str] = mapped_column(String(2), default="ar")
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_type(ApplicationStatus), default=ApplicationStatus.DRAFT, index=True
    )
    # Every save increases `version`; each field also keeps the version of its last change,
    # so a save based on an older value of that field is refused instead of overwriting it.
    version: Mapped[int] = mapped_column(default=1)
    field_versions: Mapped[dict] = mapped_column(JSON, default=dict)

    title_ar: Mapped[str] = mapped_column(String(300), default="")
    title_fr: Mapped[str] = mapped_column(String(300), default="")
    duration_months: Mapped[int | None]
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    beneficiaries: Mapped[dict] = mapped_column(JSON, default=dict)

    context: Mapped[str] = mapped_column(Text, default="")
    objectives: Mapped[str] = mapped_column(Text, default="")
    activities: Mapped[str] = mapped_column(Text, default="")
    expected_results: Mapped[str] = mapped_column(Text, default="")
    indicators: Mapped[str] = mapped_column(Text, default="")
    sustainability: Mapped[str] = mapped_column(Text, default="")
    activity_plan: Mapped[list[dict]] = mapped_column(JSON, default=list)
    indicator_targets: Mapped[list[dict]] = mapped_column(JSON, default=list)
    un_recommendations: Mapped[str] = mapped_column(Text, default="")
    # The OECD DAC gender equality marker the association proposes (0 not targeted,
    # 1 significant, 2 principal objective), with its justification; staff confirm it.
    gender_marker: Mapped[int | None]
    gender_justification: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[list[dict]] = mapped_column(JSON, default=list)

    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    # Deadline reminders already queued ("7d", "1d"), so each goes out once.
    reminders_sent: Mapped[list[str]] = mapped_column(JSON, default=list)

    call: Mapped[Call] = relationship()
    association: Mapped[Association] = relationship()
    lot: Mapped[Lot | None] = relationship()
    axes: Mapped[list[StrategicAxis]] = relationship(
        secondary=application_axis, order_by="StrategicAxis.number"
    )
    sdgs: Mapped[list[Sdg]] = relationship(secondary=application_sdg, order_by="Sdg.number")
    un_mechanisms: Mapped[list[UnMechanism]] = relationship(
        secondary=application_un_mechanism, order_by="UnMechanism.position"
    )
    budget_lines: Mapped[list[BudgetLine]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="BudgetLine.position"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    submissions: Mapped[list[Submission]] = relationship(
        back_populates="application", order_by="Submission.number"
    )

    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("language IN ('ar', 'fr')", name="language_known"),
        CheckConstraint(
            "gender_marker IS NULL OR gender_marker IN (0, 1, 2)", name="gender_marker_range"
        ),
    )

    def title_for(self, locale: str) -> str:
        return (
            (self.title_fr if locale == "fr" else self.title_ar) or self.title_ar or self.title_fr
        )


class BudgetLine(db.Model):
    __tablename__ = "budget_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=1)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int] = mapped_column(default=1)
    unit_cost: Mapped[int] = mapped_column(default=0)
    cofunding: Mapped[int] = mapped_column(default=0)

    application: Mapped[Application] = relationship(back_populates="budget_lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_positive"),
        CheckConstraint("cofunding >= 0", name="cofunding_positive"),
    )

    @property
    def total(self) -> int:
        return self.quantity * self.unit_cost

    @property
    def requested(self) -> int:
        return self.total - self.cofunding


class Attachment(db.Model):
    """An uploaded document; a replaced one stays, marked replaced, until submission."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[int] = mapped_column(ForeignKey("required_document.id"))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_at: Mapped[datetime | None]

    application: Mapped[Application] = relationship(back_populates="attachments")
    document: Mapped[RequiredDocument] = relationship()

    __table_args__ = (Index("ix_attachment_current", "application_id", "document_id"),)

    @property
    def is_current(self) -> bool:
        return self.replaced_at is None


class Submission(db.Model):
    """One submitted version of an application, with its receipt."""

    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    number: Mapped[int]
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    submitted_at: Mapped[datetime]
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    application_version: Mapped[int]
    content: Mapped[dict] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    attachment_hashes: Mapped[list[dict]] = mapped_column(JSON, default=list)
    signature: Mapped[str] = mapped_column(String(64))
    late_by_extension: Mapped[bool] = mapped_column(default=False)

    application: Mapped[Application] = relationship(back_populates="submissions")

    __table_args__ = (
        UniqueConstraint("application_id", "number"),
        # One submission per saved state: a double click or a resend finds the existing one.
        UniqueConstraint("application_id", "application_version"),
    )
