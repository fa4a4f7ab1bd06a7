"""Progress reports: the association writes (draft, then sends) what the action did — narrative,
indicator results, beneficiaries reached, spending per budget line, files; staff accept it or ask
for changes; owners and editors are reminded a week before one is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from portal.actions.models import (
    ActionStatus,
    FundedAction,
    ProgressReport,
    ReportAttachment,
    ReportStatus,
)
from portal.actions.services import MAX_AMOUNT, OPEN_REPORT_STATUSES, refresh_progress
from portal.applications.services import BENEFICIARY_GROUPS, is_whole_number
from portal.audit.services import record_event
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.organisations.models import Association, MemberRole, Membership
from portal.organisations.services import writers_of
from portal.rules import RuleRefused
from portal.timeutil import to_local
from portal.web.links import external_url

REMINDER_WINDOW = timedelta(days=7)
MAX_NARRATIVE = 20_000
MAX_INDICATOR_RESULT = 200
MAX_PEOPLE = 10_000_000
# Files sent with a report: the kinds and size an application's documents may have.
ATTACHMENT_TYPES = ["pdf", "docx", "xlsx", "odt", "jpeg", "png"]
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20


class ReportError(RuleRefused):
    """A change to a progress report that the rules refuse."""


class ReportInvalid(ReportError):
    """Figures or texts the report cannot take, with one message per field."""

    def __init__(self, errors: dict):
        super().__init__(_l("Please correct the fields marked below."))
        self.errors = errors


class ReportConflict(ReportError):
    """Someone saved the report after the user opened it: nothing of this save was written."""

    def __init__(self):
        super().__init__(
            _l(
                "Someone else saved this report after you opened it. Nothing of your changes "
                "was written: open the report again to see its current content."
            )
        )


# --- the report's fields --------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    index: int
    name: str
    target: str
    field: str


def indicators(action: FundedAction) -> list[Indicator]:
    """Return the application's indicators, each with the name of its field in the form."""
    return [
        Indicator(index, row.get("indicator", ""), row.get("target", ""), f"indicator_{index}")
        for index, row in enumerate(action.application.indicator_targets or [])
    ]


def beneficiary_field(group: str) -> str:
    return f"beneficiaries_{group}"


def spending_field(line_id: int) -> str:
    return f"spent_{line_id}"


def report_values(action: FundedAction, report: ProgressReport) -> dict[str, str]:
    """Return the report's content as the form shows it (every figure as text)."""
    values = {
        "activities_done": report.activities_done,
        "progress_percent": "" if report.progress_percent is None else str(report.progress_percent),
    }
    results = {row.get("index"): row.get("reached", "") for row in report.indicator_results}
    for indicator in indicators(action):
        values[indicator.field] = results.get(indicator.index, "")
    for group in BENEFICIARY_GROUPS:
        reached = report.beneficiaries_reached.get(group)
        values[beneficiary_field(group)] = "" if reached is None else str(reached)
    for line in action.application.budget_lines:
        spent = report.spending.get(str(line.id))
        values[spending_field(line.id)] = "" if spent is None else str(spent)
    return values


def _whole(raw, maximum: int, errors: dict, field: str) -> int | None:
    text = str(raw if raw is not None else "").strip().replace(" ", "").replace("\u202f", "")
    if not text:
        return None
    if text.startswith("-") and is_whole_number(text[1:]):
        errors[field] = _l("Enter a number that is not negative.")
    elif not is_whole_number(text):
        errors[field] = _l("Enter a whole number with the digits 0 to 9, without signs.")
    elif int(text) > maximum:
        errors[field] = _l("Enter at most %(n)s.", n=f"{maximum:,}")
    else:
        return int(text)
    return None


def clean_report(action: FundedAction, data: dict, *, complete: bool = False) -> dict:
    """Check the typed report; return its values, or raise ReportInvalid naming every field
    that is wrong. `complete` also asks for what a sent report must have."""
    errors: dict = {}
    narrative = str(data.get("activities_done") or "").strip()
    if len(narrative) > MAX_NARRATIVE:
        errors["activities_done"] = _l("At most %(n)s characters.", n=f"{MAX_NARRATIVE:,}")
    elif complete and not narrative:
        errors["activities_done"] = _l("Describe the activities done before sending the report.")
    percent = _whole(data.get("progress_percent"), 100, errors, "progress_percent")
    if "progress_percent" in errors:
        errors["progress_percent"] = _l("Enter a percentage from 0 to 100.")
    elif complete and percent is None:
        errors["progress_percent"] = _l("Give the progress before sending the report.")
    results = []
    for indicator in indicators(action):
        reached = str(data.get(indicator.field) or "").strip()
        if len(reached) > MAX_INDICATOR_RESULT:
            errors[indicator.field] = _l("At most %(n)s characters.", n=MAX_INDICATOR_RESULT)
        elif reached:
            results.append({"index": indicator.index, "reached": reached})
    reached_people = {}
    for group in BENEFICIARY_GROUPS:
        field = beneficiary_field(group)
        value = _whole(data.get(field), MAX_PEOPLE, errors, field)
        if value is not None:
            reached_people[group] = value
    spending = {}
    for line in action.application.budget_lines:
        field = spending_field(line.id)
        value = _whole(data.get(field), MAX_AMOUNT, errors, field)
        if value is not None:
            spending[str(line.id)] = value
    if errors:
        raise ReportInvalid(errors)
    return {
        "activities_done": narrative,
        "progress_percent": percent,
        "indicator_results": results,
        "beneficiaries_reached": reached_people,
        "spending": spending,
    }


# --- writing and sending (association) ------------------------------------------------------


def ensure_editable(report: ProgressReport) -> None:
    """Refuse a change to a report that is sent (waiting for staff) or accepted."""
    if report.status == ReportStatus.ACCEPTED:
        raise ReportError(_l("This report was accepted: it can no longer change."))
    if report.status == ReportStatus.SUBMITTED:
        raise ReportError(_l("This report was sent and waits for staff: it cannot change now."))


def _take_version(session: Session, report: ProgressReport, version: int | None) -> None:
    """Move the report to its next version if it is still at `version`, else ReportConflict.

    A conditional update, so that two saves from the same version can never both pass."""
    if version is None or version != report.version:
        raise ReportConflict()
    taken = session.execute(
        update(ProgressReport)
        .where(ProgressReport.id == report.id, ProgressReport.version == version)
        .values(version=version + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise ReportConflict()
    report.version = version + 1


def save_report(
    session: Session, report: ProgressReport, data: dict, version: int | None, *, actor
) -> None:
    """Save the report as a draft, refusing a save based on an older version."""
    ensure_editable(report)
    values = clean_report(report.action, data)
    _take_version(session, report, version)
    for name, value in values.items():
        setattr(report, name, value)
    session.flush()
    record_event(session, actor, "report.saved", report, version=report.version)


def submit_report(
    session: Session, report: ProgressReport, data: dict, version: int | None, *, actor
) -> None:
    """Save the report and send it to staff: it must have its narrative and progress."""
    ensure_editable(report)
    values = clean_report(report.action, data, complete=True)
    _take_version(session, report, version)
    for name, value in values.items():
        setattr(report, name, value)
    report.status = ReportStatus.SUBMITTED
    report.submitted_by_id = actor.id
    report.submitted_at = utcnow()
    session.flush()
    record_event(
        session,
        actor,
        "report.submitted",
        report,
        version=report.version,
        progress_percent=report.progress_percent,
    )


def attach_file(
    session: Session, report: ProgressReport, stored, checked, *, actor
) -> ReportAttachment:
    """Record a file sent with the report (stored by key, with its sha256)."""
    ensure_editable(report)
    if len(report.attachments) >= MAX_ATTACHMENTS:
        raise ReportError(_l("At most %(n)d files per report.", n=MAX_ATTACHMENTS), field="file")
    attachment = ReportAttachment(
        storage_key=stored.key,
        original_name=checked.clean_name,
        content_type=checked.content_type,
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by_id=actor.id,
    )
    report.attachments.append(attachment)
    session.flush()
    record_event(
        session,
        actor,
        "report.file_attached",
        report,
        attachment_id=attachment.id,
        sha256=stored.sha256,
        size=stored.size,
    )
    return attachment


# --- staff review ---------------------------------------------------------------------------


def _ensure_waiting(report: ProgressReport) -> None:
    if report.status != ReportStatus.SUBMITTED:
        raise ReportError(_l("Only a report sent and waiting for staff can be reviewed."))


def _notify_members(session: Session, action: FundedAction, template: str, **context) -> int:
    """Mail the association's owners and editors, each in their language."""
    link = external_url("actions.action_page", action_id=action.id)
    writers = writers_of(session, action.association_id)
    for writer in writers:
        queue_message(
            session, writer.email, writer.locale, template, action=action, link=link, **context
        )
    return len(writers)


def accept_report(session: Session, report: ProgressReport, *, actor) -> None:
    """Accept a sent report: the action's progress follows its rule (the higher of this report's
    figure and the share of milestones done) and the action is under way (completed when the
    report is the final one); the association is told."""
    _ensure_waiting(report)
    action = report.action
    status_before = action.status.value
    report.status = ReportStatus.ACCEPTED
    report.reviewed_by_id = actor.id
    report.reviewed_at = utcnow()
    report.version += 1
    action.status = ActionStatus.COMPLETED if report.final else ActionStatus.IN_PROGRESS
    session.flush()
    record_event(
        session,
        actor,
        "report.accepted",
        report,
        action_id=action.id,
        progress_percent=report.progress_percent,
        action_status={"before": status_before, "after": action.status.value},
    )
    refresh_progress(session, action, actor=actor)
    _notify_members(session, action, "actions_report_accepted", report=report)


def request_changes(session: Session, report: ProgressReport, comment: str, *, actor) -> None:
    """Send a report back to the association with what to change; they are told by e-mail."""
    _ensure_waiting(report)
    comment = (comment or "").strip()
    if not comment:
        raise ReportError(_l("Say what the association should change."), field="comment")
    if len(comment) > 5000:
        raise ReportError(_l("At most 5,000 characters."), field="comment")
    report.status = ReportStatus.CHANGES_REQUESTED
    report.review_comment = comment
    report.reviewed_by_id = actor.id
    report.reviewed_at = utcnow()
    report.version += 1
    session.flush()
    record_event(session, actor, "report.changes_requested", report, comment=comment)
    _notify_members(session, report.action, "actions_report_changes", report=report)


# --- reminders ------------------------------------------------------------------------------


def send_report_reminders(session: Session, now: datetime) -> int:
    """Remind owners and editors, once, of each report due within seven days; return how many
    messages were queued."""
    today = to_local(now).date()
    query = (
        select(ProgressReport)
        .join(FundedAction, FundedAction.id == ProgressReport.action_id)
        .options(
            joinedload(ProgressReport.action).joinedload(FundedAction.application),
            joinedload(ProgressReport.action)
            .joinedload(FundedAction.association)
            .selectinload(Association.memberships)
            .selectinload(Membership.user),
        )
        .where(
            ProgressReport.status.in_(OPEN_REPORT_STATUSES),
            ProgressReport.reminded_at.is_(None),
            ProgressReport.due_on >= today,
            ProgressReport.due_on <= today + REMINDER_WINDOW,
            FundedAction.status.not_in((ActionStatus.WITHDRAWN, ActionStatus.COMPLETED)),
        )
        .order_by(ProgressReport.id)
    )
    queued = 0
    for report in session.scalars(query).unique():
        action = report.action
        link = external_url("actions.report_page", action_id=action.id, report_id=report.id)
        for membership in action.association.memberships:
            if membership.role in (MemberRole.OWNER, MemberRole.EDITOR):
                user = membership.user
                queue_message(
                    session,
                    user.email,
                    user.locale,
                    "actions_report_reminder",
                    action=action,
                    report=report,
                    link=link,
                )
                queued += 1
        report.reminded_at = now
    session.flush()
    return queued


def load_report(session: Session, action: FundedAction, report_id: int) -> ProgressReport | None:
    """Return one of the action's reports (None if the id names another action's report)."""
    return next((report for report in action.reports if report.id == report_id), None)
