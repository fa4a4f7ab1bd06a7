"""Decisions on a call's applications, the committee that takes them, their publication and the
appeals that may follow.

A decision is never edited once its committee has approved it: a correction (after an appeal, a
withdrawal, a mistake) is a new decision that supersedes the old one, both kept and audited.
The current decision of an application is the one not superseded; a partial unique index keeps
it single.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.applications.models import Application
from portal.calls.models import Call, Lot
from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.strategy.models import FundingPartner


class Outcome(enum.StrEnum):
    FUNDED = "funded"
    RESERVE = "reserve"
    REJECTED = "rejected"


class CommitteeStatus(enum.StrEnum):
    DRAFT = "draft"  # decisions are being recorded
    SUBMITTED = "submitted"  # waiting for a second staff member's approval
    APPROVED = "approved"  # approved, not yet published
    PUBLISHED = "published"  # applicants notified, results public


class AppealStatus(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    DISMISSED = "dismissed"


class LotFunder(db.Model):
    """A partner's share of a lot's envelope, in percent."""

    __tablename__ = "lot_funder"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("funding_partner.id"), primary_key=True)
    share_percent: Mapped[int]

    lot: Mapped[Lot] = relationship()
    partner: Mapped[FundingPartner] = relationship()

    __table_args__ = (
        CheckConstraint("share_percent > 0 AND share_percent <= 100", name="share_range"),
    )


class Committee(db.Model):
    """The committee decision of a call: its sitting, minutes, approval and publication."""

    __tablename__ = "committee"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), unique=True)
    status: Mapped[CommitteeStatus] = mapped_column(
        enum_type(CommitteeStatus), default=CommitteeStatus.DRAFT
    )
    held_on: Mapped[date | None]
    members_present: Mapped[str] = mapped_column(Text, default="")
    # The minutes, stored like any upload: by random key, with their fingerprint.
    minutes_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    minutes_name: Mapped[str] = mapped_column(String(255), default="")
    minutes_type: Mapped[str] = mapped_column(String(100), default="")
    minutes_size: Mapped[int] = mapped_column(default=0)
    minutes_sha256: Mapped[str] = mapped_column(String(64), default="")
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    call: Mapped[Call] = relationship()

    __table_args__ = (
        # Four eyes: whoever submitted the decisions cannot approve them.
        CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> submitted_by_id", name="four_eyes"
        ),
    )


class Decision(db.Model):
    """What the committee decided for one application; superseded, never edited, once approved."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committee.id"), index=True)
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome))
    amount_awarded: Mapped[int | None]
    reserve_rank: Mapped[int | None]
    motivation_ar: Mapped[str] = mapped_column(Text, default="")
    motivation_fr: Mapped[str] = mapped_column(Text, default="")
    # What the funding proposal said, and why the committee departed from it (required then).
    proposed_outcome: Mapped[Outcome | None] = mapped_column(enum_type(Outcome))
    deviation_reason: Mapped[str] = mapped_column(Text, default="")
    # The OECD DAC gender equality marker as staff confirm it (0, 1 or 2).
    gender_marker: Mapped[int | None]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"))
    superseded_at: Mapped[datetime | None]
    # Why a correction was made (an appeal granted, a withdrawal, an error).
    correction_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]

    application: Mapped[Application] = relationship()
    call: Mapped[Call] = relationship()
    lot: Mapped[Lot | None] = relationship()
    committee: Mapped[Committee] = relationship()
    funders: Mapped[list[DecisionFunder]] = relationship(
        back_populates="decision",
        cascade="all, delete-orphan",
        order_by="DecisionFunder.partner_id",
    )

    __table_args__ = (
        CheckConstraint(
            "(outcome = 'FUNDED' AND amount_awarded IS NOT NULL AND amount_awarded > 0)"
            " OR (outcome <> 'FUNDED' AND amount_awarded IS NULL)",
            name="amount_only_when_funded",
        ),
        CheckConstraint(
            "(outcome = 'RESERVE' AND reserve_rank IS NOT NULL AND reserve_rank > 0)"
            " OR (outcome <> 'RESERVE' AND reserve_rank IS NULL)",
            name="rank_only_when_reserve",
        ),
        CheckConstraint(
            "gender_marker IS NULL OR gender_marker IN (0, 1, 2)", name="gender_marker_range"
        ),
        # One current decision per application.
        Index(
            "uq_decision_current",
            "application_id",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    def motivation_for(self, locale: str) -> str:
        return (self.motivation_fr if locale == "fr" else self.motivation_ar) or (
            self.motivation_ar or self.motivation_fr
        )


class DecisionFunder(db.Model):
    """A partner's share of one award (360Giving's Funding Org)."""

    __tablename__ = "decision_funder"

    decision_id: Mapped[int] = mapped_column(
        ForeignKey("decision.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("funding_partner.id"), primary_key=True)
    share_percent: Mapped[int]

    decision: Mapped[Decision] = relationship(back_populates="funders")
    partner: Mapped[FundingPartner] = relationship()

    __table_args__ = (
        CheckConstraint("share_percent > 0 AND share_percent <= 100", name="share_range"),
    )


class Appeal(db.Model):
    """An applicant's appeal against a published decision, and the staff's answer."""

    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    motivation: Mapped[str] = mapped_column(Text)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[AppealStatus] = mapped_column(
        enum_type(AppealStatus), default=AppealStatus.PENDING
    )
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[datetime | None]
    # The decision a granted appeal led to.
    new_decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"))

    decision: Mapped[Decision] = relationship(foreign_keys=[decision_id])
    application: Mapped[Application] = relationship()

    __table_args__ = (
        # One appeal per decision: an applicant appeals once against each decision.
        UniqueConstraint("decision_id", name="uq_appeal_decision"),
    )
