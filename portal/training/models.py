"""The capacity-building programme: modules, sessions with seats, enrolments and waitlist,
attendance and certificates (action-plan project 22)."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.organisations.models import Association
from portal.strategy.models import BilingualMixin, Region


class Programme(BilingualMixin, db.Model):
    __tablename__ = "training_programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    title_ar: Mapped[str] = mapped_column(String(300))
    title_fr: Mapped[str] = mapped_column(String(300))
    objectives_ar: Mapped[str] = mapped_column(Text, default="")
    objectives_fr: Mapped[str] = mapped_column(Text, default="")
    # Share of the session's days a participant must attend to receive a certificate.
    attendance_threshold_percent: Mapped[int] = mapped_column(default=80)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    modules: Mapped[list[Module]] = relationship(
        back_populates="programme", order_by="Module.position"
    )

    __table_args__ = (
        CheckConstraint(
            "attendance_threshold_percent > 0 AND attendance_threshold_percent <= 100",
            name="threshold_range",
        ),
    )


class Module(BilingualMixin, db.Model):
    __tablename__ = "training_module"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("training_programme.id"), index=True)
    position: Mapped[int] = mapped_column(default=1)
    title_ar: Mapped[str] = mapped_column(String(300))
    title_fr: Mapped[str] = mapped_column(String(300))
    description_ar: Mapped[str] = mapped_column(Text, default="")
    description_fr: Mapped[str] = mapped_column(Text, default="")

    programme: Mapped[Programme] = relationship(back_populates="modules")


class SessionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class TrainingSession(db.Model):
    """One run of a module: dates and daily times (Africa/Casablanca), place, seats."""

    __tablename__ = "training_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("training_module.id"), index=True)
    status: Mapped[SessionStatus] = mapped_column(
        enum_type(SessionStatus), default=SessionStatus.DRAFT
    )
    language: Mapped[str] = mapped_column(String(2), default="ar")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    # Local wall-clock times of each day, in Africa/Casablanca.
    daily_start: Mapped[time]
    daily_end: Mapped[time]
    online: Mapped[bool] = mapped_column(default=False)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    city: Mapped[str] = mapped_column(String(120), default="")
    venue: Mapped[str] = mapped_column(String(300), default="")
    capacity: Mapped[int]
    # Confirmed places; changed only by a conditional UPDATE inside the enrolment transaction,
    # and held below capacity by the check constraint as the last guard.
    seats_taken: Mapped[int] = mapped_column(default=0)
    enrolment_opens_at: Mapped[datetime]
    enrolment_closes_at: Mapped[datetime]
    per_association_cap: Mapped[int] = mapped_column(default=2)
    verified_only: Mapped[bool] = mapped_column(default=True)
    # Empty: open to every region / field of work.
    eligible_regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    module: Mapped[Module] = relationship()
    region: Mapped[Region | None] = relationship()

    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within"),
        CheckConstraint("per_association_cap > 0", name="cap_positive"),
        CheckConstraint("ends_on >= starts_on", name="dates_ordered"),
        CheckConstraint("daily_end > daily_start", name="times_ordered"),
        CheckConstraint("enrolment_closes_at > enrolment_opens_at", name="window_ordered"),
    )

    @property
    def seats_left(self) -> int:
        return self.capacity - self.seats_taken


class SeatReservation(db.Model):
    """Seats held for one association (funded under a call, or invited) until a date."""

    __tablename__ = "seat_reservation"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id"), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"))
    seats: Mapped[int]
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    association: Mapped[Association] = relationship()

    __table_args__ = (
        UniqueConstraint("session_id", "association_id"),
        CheckConstraint("seats > 0", name="seats_positive"),
    )


class EnrolmentStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class Enrolment(db.Model):
    """A participant an association enrols in a session: confirmed, waitlisted or cancelled."""

    __tablename__ = "enrolment"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id"))
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"), index=True)
    status: Mapped[EnrolmentStatus] = mapped_column(enum_type(EnrolmentStatus))
    full_name: Mapped[str] = mapped_column(String(120))
    sex: Mapped[str] = mapped_column(String(10))
    role: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(30), default="")
    locale: Mapped[str] = mapped_column(String(2), default="ar")
    accessibility_needs: Mapped[str] = mapped_column(Text, default="")
    # Given to confirmed participants: typed or scanned at the door.
    registration_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checked_in_at: Mapped[datetime | None]
    # When the satisfaction survey was e-mailed; set in the transaction that queues the e-mail.
    survey_sent_at: Mapped[datetime | None]

    session: Mapped[TrainingSession] = relationship()
    association: Mapped[Association] = relationship()

    __table_args__ = (
        # The same person (by e-mail) holds at most one live place in a session.
        Index(
            "uq_enrolment_live_email",
            "session_id",
            "email",
            unique=True,
            postgresql_where=text("status != 'CANCELLED'"),
            sqlite_where=text("status != 'CANCELLED'"),
        ),
        Index("ix_enrolment_session_status", "session_id", "status", "id"),
    )


class Attendance(db.Model):
    """Whether a confirmed participant was present on one day of the session."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), index=True)
    day: Mapped[date]
    present: Mapped[bool] = mapped_column(default=True)
    marked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("enrolment_id", "day"),)


class Certificate(db.Model):
    """A certificate of attendance, checkable by anyone through its verification code."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    enrolment: Mapped[Enrolment] = relationship()


SURVEY_QUESTIONS = ("content", "trainers", "organisation", "usefulness")


class SurveyResponse(db.Model):
    """A participant's answers to the satisfaction survey after a session: one per enrolment,
    each question rated from 1 to 5, and an optional comment."""

    __tablename__ = "survey_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    content: Mapped[int]
    trainers: Mapped[int]
    organisation: Mapped[int]
    usefulness: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)

    enrolment: Mapped[Enrolment] = relationship()

    __table_args__ = (
        *(
            CheckConstraint(f"{question} >= 1 AND {question} <= 5", name=f"{question}_range")
            for question in SURVEY_QUESTIONS
        ),
        CheckConstraint("length(comment) <= 2000", name="comment_length"),
    )
