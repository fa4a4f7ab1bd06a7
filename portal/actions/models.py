"""Funded actions: what a funded application becomes once its results are published, with its
agreement, payment tranches, milestones, links to the action plan and its progress reports."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.applications.models import Application
from portal.calls.models import Call, Lot
from portal.db import enum_type, utcnow
from portal.extensions import db
from portal.organisations.models import Association
from portal.results.models import Decision
from portal.strategy.models import PlanProject, Sdg, StrategicAxis, UnMechanism


class ActionStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class ReportStatus(enum.StrEnum):
    DUE = "due"  # expected, not yet sent
    SUBMITTED = "submitted"  # sent, waiting for staff
    CHANGES_REQUESTED = "changes_requested"
    ACCEPTED = "accepted"


def _link_table(name: str, column: str, target: str) -> Table:
    return Table(
        name,
        db.metadata,
        Column("action_id", ForeignKey("funded_action.id", ondelete="CASCADE"), primary_key=True),
        Column(column, ForeignKey(f"{target}.id", ondelete="CASCADE"), primary_key=True),
    )


action_axis = _link_table("action_axis", "axis_id", "strategic_axis")
action_plan_project = _link_table("action_plan_project", "plan_project_id", "plan_project")
action_sdg = _link_table("action_sdg", "sdg_id", "sdg")
action_un_mechanism = _link_table("action_un_mechanism", "un_mechanism_id", "un_mechanism")


class FundedAction(db.Model):
    """A funded application being carried out."""

    __tablename__ = "funded_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"))
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("association.id"), index=True)
    agreement_reference: Mapped[str] = mapped_column(String(60), default="")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    amount_awarded: Mapped[int]
    status: Mapped[ActionStatus] = mapped_column(
        enum_type(ActionStatus), default=ActionStatus.NOT_STARTED
    )
    # How far the action has come, 0 to 100: the higher of the last accepted report's figure and
    # the share of milestones done (`progress_by_rule`), stored for the dashboards and kept up to
    # date by portal.actions.services.refresh_progress.
    progress_percent: Mapped[int] = mapped_column(default=0)
    # Beneficiaries planned, by sex × age group, copied from the application at funding.
    beneficiaries_planned: Mapped[dict] = mapped_column(JSON, default=dict)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    un_recommendations: Mapped[str] = mapped_column(Text, default="")
    gender_marker: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship()
    decision: Mapped[Decision] = relationship()
    call: Mapped[Call] = relationship()
    lot: Mapped[Lot | None] = relationship()
    association: Mapped[Association] = relationship()
    axes: Mapped[list[StrategicAxis]] = relationship(
        secondary=action_axis, order_by="StrategicAxis.number"
    )
    plan_projects: Mapped[list[PlanProject]] = relationship(
        secondary=action_plan_project, order_by="PlanProject.number"
    )
    sdgs: Mapped[list[Sdg]] = relationship(secondary=action_sdg, order_by="Sdg.number")
    un_mechanisms: Mapped[list[UnMechanism]] = relationship(
        secondary=action_un_mechanism, order_by="UnMechanism.position"
    )
    tranches: Mapped[list[Tranche]] = relationship(
        back_populates="action", cascade="all, delete-orphan", order_by="Tranche.position"
    )
    reports: Mapped[list[ProgressReport]] = relationship(
        back_populates="action", cascade="all, delete-orphan", order_by="ProgressReport.due_on"
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="action",
        cascade="all, delete-orphan",
        order_by=lambda: (Milestone.due_on, Milestone.position),
    )

    __table_args__ = (
        CheckConstraint("amount_awarded > 0", name="amount_positive"),
        CheckConstraint("progress_percent >= 0 AND progress_percent <= 100", name="progress"),
        CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates_ordered"
        ),
    )

    @property
    def milestones_done(self) -> int:
        """Count the milestones reached."""
        return sum(1 for milestone in self.milestones if milestone.is_done)

    @property
    def milestone_percent(self) -> int | None:
        """Return the share of milestones done, rounded down to a whole percent (None without
        milestones)."""
        if not self.milestones:
            return None
        return self.milestones_done * 100 // len(self.milestones)

    @property
    def reported_percent(self) -> int | None:
        """Return the progress of the last accepted report that gives one (None before)."""
        accepted = [
            report
            for report in self.reports
            if report.status == ReportStatus.ACCEPTED and report.progress_percent is not None
        ]
        if not accepted:
            return None
        return max(accepted, key=_report_recency).progress_percent

    @property
    def progress_by_rule(self) -> int:
        """Return the progress the rule gives: the higher of the last accepted report's figure
        and the share of milestones done."""
        return max(self.reported_percent or 0, self.milestone_percent or 0)


def _report_recency(report: ProgressReport) -> tuple:
    reviewed = report.reviewed_at.timestamp() if report.reviewed_at is not None else 0.0
    return report.due_on, reviewed, report.id or 0


class Tranche(db.Model):
    """A planned payment of an action, and when and how much was paid."""

    __tablename__ = "tranche"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("funded_action.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=1)
    planned_on: Mapped[date]
    amount: Mapped[int]
    paid_on: Mapped[date | None]
    paid_amount: Mapped[int | None]

    action: Mapped[FundedAction] = relationship(back_populates="tranches")

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid_amount IS NULL OR paid_amount >= 0", name="paid_not_negative"),
    )


class Milestone(db.Model):
    """A step the action is to reach by a date, and the date it was reached."""

    __tablename__ = "milestone"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("funded_action.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date]
    done_on: Mapped[date | None]

    action: Mapped[FundedAction] = relationship(back_populates="milestones")

    __table_args__ = (CheckConstraint("title <> ''", name="title_not_empty"),)

    @property
    def is_done(self) -> bool:
        """Tell whether the milestone is reached."""
        return self.done_on is not None

    def is_overdue(self, today: date) -> bool:
        """Tell whether the milestone is not reached and its due date has passed."""
        return self.done_on is None and self.due_on < today


class ProgressReport(db.Model):
    """A report an action owes on a date: narrative, figures, spending, attachments."""

    __tablename__ = "progress_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("funded_action.id", ondelete="CASCADE"), index=True
    )
    due_on: Mapped[date]
    final: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ReportStatus] = mapped_column(enum_type(ReportStatus), default=ReportStatus.DUE)
    activities_done: Mapped[str] = mapped_column(Text, default="")
    # Per indicator of the application (by its index): the value reached.
    indicator_results: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # Beneficiaries reached, by sex × age group (the application's keys).
    beneficiaries_reached: Mapped[dict] = mapped_column(JSON, default=dict)
    # Per budget line of the application (by id): the amount spent.
    spending: Mapped[dict] = mapped_column(JSON, default=dict)
    progress_percent: Mapped[int | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reminded_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    action: Mapped[FundedAction] = relationship(back_populates="reports")
    attachments: Mapped[list[ReportAttachment]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportAttachment.id"
    )

    __table_args__ = (
        CheckConstraint(
            "progress_percent IS NULL OR (progress_percent >= 0 AND progress_percent <= 100)",
            name="progress",
        ),
    )


class ReportAttachment(db.Model):
    """A file sent with a report, stored by random key with its fingerprint."""

    __tablename__ = "report_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("progress_report.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[ProgressReport] = relationship(back_populates="attachments")
