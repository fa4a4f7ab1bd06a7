"""Rules of funded actions: opening one from a published award, with the application's links;
the lists; staff edits of the agreement, links, payment tranches, milestones and report schedule,
audited; the action's progress by its rule."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import format_date, format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.actions.models import (
    ActionStatus,
    FundedAction,
    Milestone,
    ProgressReport,
    ReportStatus,
    Tranche,
)
from portal.applications.models import Application
from portal.applications.services import is_whole_number
from portal.audit.services import record_event
from portal.calls.models import Call
from portal.db import utcnow
from portal.results.models import Decision, Outcome
from portal.rules import RuleRefused
from portal.strategy.models import PlanProject, Sdg, StrategicAxis, UnMechanism
from portal.timeutil import to_local

# Reports the association still owes: not yet sent, or sent back for changes.
OPEN_REPORT_STATUSES = (ReportStatus.DUE, ReportStatus.CHANGES_REQUESTED)


def open_action(session: Session, decision: Decision) -> FundedAction:
    """Return the funded action of a funded decision, creating it the first time: its amount,
    lot and association from the decision, its links and planned beneficiaries prefilled from
    the application (staff may edit them later)."""
    if decision.outcome != Outcome.FUNDED:
        raise ValueError(f"decision {decision.id} does not fund its application")
    action = session.scalar(
        select(FundedAction).where(FundedAction.application_id == decision.application_id)
    )
    if action is not None:
        action.decision_id = decision.id
        action.amount_awarded = decision.amount_awarded
        return action
    application = decision.application
    action = FundedAction(
        application_id=application.id,
        decision_id=decision.id,
        call_id=decision.call_id,
        lot_id=decision.lot_id,
        association_id=application.association_id,
        amount_awarded=decision.amount_awarded,
        beneficiaries_planned=dict(application.beneficiaries or {}),
        regions=list(application.regions or []),
        un_recommendations=application.un_recommendations,
        gender_marker=(
            decision.gender_marker
            if decision.gender_marker is not None
            else application.gender_marker
        ),
        axes=list(application.axes),
        sdgs=list(application.sdgs),
        un_mechanisms=list(application.un_mechanisms),
        plan_projects=_plan_projects_of(application),
    )
    session.add(action)
    session.flush()
    return action


def _plan_projects_of(application) -> list:
    """Return the action-plan projects the application's lot serves."""
    return list(application.lot.plan_projects) if application.lot is not None else []


# --- reading --------------------------------------------------------------------------------

PAGE_SIZE = 50
MAX_AMOUNT = 10**10  # ten billion dirhams: anything above is a typing mistake
MAX_MILESTONE_TITLE = 200
# A title is one line: tabs, line breaks and other control characters are refused.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ActionError(RuleRefused):
    """A change to a funded action that the rules refuse."""


def load_action(session: Session, action_id: int) -> FundedAction | None:
    """Return the action with what its pages show: application and budget lines, call, lot,
    association, links, tranches, milestones and reports with their files."""
    query = (
        select(FundedAction)
        .options(
            joinedload(FundedAction.application).selectinload(Application.budget_lines),
            joinedload(FundedAction.call),
            joinedload(FundedAction.lot),
            joinedload(FundedAction.association),
            selectinload(FundedAction.axes),
            selectinload(FundedAction.plan_projects),
            selectinload(FundedAction.sdgs),
            selectinload(FundedAction.un_mechanisms),
            selectinload(FundedAction.tranches),
            selectinload(FundedAction.milestones),
            selectinload(FundedAction.reports).selectinload(ProgressReport.attachments),
        )
        .where(FundedAction.id == action_id)
    )
    return session.scalar(query)


@dataclass(frozen=True)
class ActionFilters:
    call_id: int | None = None
    lot_id: int | None = None
    status: str = ""


def _paid_amount():
    return (
        select(func.coalesce(func.sum(Tranche.paid_amount), 0))
        .where(Tranche.action_id == FundedAction.id)
        .correlate(FundedAction)
        .scalar_subquery()
    )


def _overdue_reports(today: date):
    return (
        select(func.count(ProgressReport.id))
        .where(
            ProgressReport.action_id == FundedAction.id,
            ProgressReport.status.in_(OPEN_REPORT_STATUSES),
            ProgressReport.due_on < today,
        )
        .correlate(FundedAction)
        .scalar_subquery()
    )


def _next_due(today: date):
    return (
        select(func.min(ProgressReport.due_on))
        .where(
            ProgressReport.action_id == FundedAction.id,
            ProgressReport.status.in_(OPEN_REPORT_STATUSES),
            ProgressReport.due_on >= today,
        )
        .correlate(FundedAction)
        .scalar_subquery()
    )


def _listing(today: date) -> Select:
    return select(
        FundedAction,
        _paid_amount().label("paid"),
        _overdue_reports(today).label("overdue"),
        _next_due(today).label("next_due"),
    ).options(
        joinedload(FundedAction.application),
        joinedload(FundedAction.association),
        joinedload(FundedAction.call),
        joinedload(FundedAction.lot),
    )


def staff_query(filters: ActionFilters, today: date) -> Select:
    """Return rows (action, amount paid, overdue reports, next due date) for the staff list."""
    query = _listing(today)
    if filters.call_id:
        query = query.where(FundedAction.call_id == filters.call_id)
    if filters.lot_id:
        query = query.where(FundedAction.lot_id == filters.lot_id)
    if filters.status in {status.value for status in ActionStatus}:
        query = query.where(FundedAction.status == ActionStatus(filters.status))
    return query.order_by(FundedAction.id.desc())


def association_actions(session: Session, association_id: int, today: date) -> list[tuple]:
    """Return the association's actions as rows (action, paid, overdue reports, next due)."""
    query = (
        _listing(today)
        .where(FundedAction.association_id == association_id)
        .order_by(FundedAction.id.desc())
    )
    return [tuple(row) for row in session.execute(query).unique()]


def calls_with_actions(session: Session) -> list[Call]:
    """Return the calls that have funded actions, with their lots, for the list's filters."""
    query = (
        select(Call)
        .options(selectinload(Call.lots))
        .where(Call.id.in_(select(FundedAction.call_id)))
        .order_by(Call.id.desc())
    )
    return list(session.scalars(query))


def link_choices(session: Session) -> dict[str, list]:
    """Return every axis, action-plan project, SDG and UN mechanism an action may be linked to."""
    return {
        "axes": list(session.scalars(select(StrategicAxis).order_by(StrategicAxis.number))),
        "plan_projects": list(session.scalars(select(PlanProject).order_by(PlanProject.number))),
        "sdgs": list(session.scalars(select(Sdg).order_by(Sdg.number))),
        "un_mechanisms": list(session.scalars(select(UnMechanism).order_by(UnMechanism.position))),
    }


def is_overdue(report: ProgressReport, today: date) -> bool:
    """Tell whether a report not yet sent (or returned) is past its due date."""
    return report.status in OPEN_REPORT_STATUSES and report.due_on < today


# --- the agreement and the links (staff) ----------------------------------------------------


def _agreement_values(action: FundedAction) -> dict:
    return {
        "agreement_reference": action.agreement_reference,
        "starts_on": action.starts_on.isoformat() if action.starts_on else None,
        "ends_on": action.ends_on.isoformat() if action.ends_on else None,
        "status": action.status.value,
    }


def update_agreement(
    session: Session,
    action: FundedAction,
    *,
    agreement_reference: str,
    starts_on: date | None,
    ends_on: date | None,
    status: str,
    actor,
) -> None:
    """Set the agreement reference, the dates and the status; audit the change."""
    reference = (agreement_reference or "").strip()
    if len(reference) > 60:
        raise ActionError(
            _l("Give the reference in at most 60 characters."), field="agreement_reference"
        )
    if starts_on and ends_on and ends_on < starts_on:
        raise ActionError(_l("The action cannot end before it starts."), field="ends_on")
    if status not in {item.value for item in ActionStatus}:
        raise ActionError(_l("Choose a status from the list."), field="status")
    before = _agreement_values(action)
    action.agreement_reference = reference
    action.starts_on = starts_on
    action.ends_on = ends_on
    action.status = ActionStatus(status)
    after = _agreement_values(action)
    if before != after:
        session.flush()
        record_event(session, actor, "action.agreement_updated", action, before=before, after=after)


def _link_values(action: FundedAction) -> dict:
    return {
        "axes": [axis.code for axis in action.axes],
        "plan_projects": [project.number for project in action.plan_projects],
        "sdgs": [sdg.number for sdg in action.sdgs],
        "un_mechanisms": sorted(mechanism.code for mechanism in action.un_mechanisms),
        "un_recommendations": action.un_recommendations,
    }


def update_links(
    session: Session,
    action: FundedAction,
    *,
    axes: list[str],
    plan_projects: list[int],
    sdgs: list[int],
    un_mechanisms: list[str],
    un_recommendations: str,
    actor,
) -> None:
    """Link the action to axes, action-plan projects, SDGs and UN mechanisms; audit the change."""
    choices = link_choices(session)
    chosen = {
        "axes": [axis for axis in choices["axes"] if axis.code in set(axes)],
        "plan_projects": [p for p in choices["plan_projects"] if p.number in set(plan_projects)],
        "sdgs": [sdg for sdg in choices["sdgs"] if sdg.number in set(sdgs)],
        "un_mechanisms": [m for m in choices["un_mechanisms"] if m.code in set(un_mechanisms)],
    }
    for name, wanted in (
        ("axes", axes),
        ("plan_projects", plan_projects),
        ("sdgs", sdgs),
        ("un_mechanisms", un_mechanisms),
    ):
        if len(chosen[name]) != len(set(wanted)):
            raise ActionError(_l("Choose from the list."), field=name)
    text = (un_recommendations or "").strip()
    if len(text) > 5000:
        raise ActionError(_l("At most 5,000 characters."), field="un_recommendations")
    before = _link_values(action)
    for name, rows in chosen.items():
        setattr(action, name, rows)
    action.un_recommendations = text
    after = _link_values(action)
    if before != after:
        session.flush()
        record_event(session, actor, "action.links_updated", action, before=before, after=after)


# --- payment tranches (staff) ---------------------------------------------------------------


def clean_amount(raw, field: str, *, required: bool = True) -> int | None:
    """Read a whole, non-negative number of dirhams typed in a form (None when left empty)."""
    text = str(raw if raw is not None else "").strip().replace(" ", "").replace("\u202f", "")
    if not text and not required:
        return None
    if text.startswith("-") and text[1:].isdigit():
        raise ActionError(_l("Enter an amount that is not negative."), field=field)
    if not is_whole_number(text):
        raise ActionError(
            _l("Enter a whole number of dirhams, without signs or decimals."), field=field
        )
    value = int(text)
    if value > MAX_AMOUNT:
        raise ActionError(_l("This amount is not realistic."), field=field)
    return value


def _tranche_values(tranche: Tranche) -> dict:
    return {
        "position": tranche.position,
        "planned_on": tranche.planned_on.isoformat(),
        "amount": tranche.amount,
        "paid_on": tranche.paid_on.isoformat() if tranche.paid_on else None,
        "paid_amount": tranche.paid_amount,
    }


def _clean_tranche(action: FundedAction, data: dict, tranche: Tranche | None) -> dict:
    if data.get("planned_on") is None:
        raise ActionError(_l("Enter a date."), field="planned_on")
    amount = clean_amount(data.get("amount"), "amount")
    if amount == 0:
        raise ActionError(_l("Enter an amount above zero."), field="amount")
    others = sum(item.amount for item in action.tranches if item is not tranche)
    if others + amount > action.amount_awarded:
        raise ActionError(
            _l(
                "The planned tranches would total more than the awarded amount; at most "
                "%(left)s is left to plan.",
                left=format_decimal(max(0, action.amount_awarded - others)),
            ),
            field="amount",
        )
    paid_on = data.get("paid_on")
    paid_amount = clean_amount(data.get("paid_amount"), "paid_amount", required=False)
    if (paid_on is None) != (paid_amount is None):
        field = "paid_amount" if paid_amount is None else "paid_on"
        raise ActionError(_l("Give both the date and the amount paid, or neither."), field=field)
    if paid_amount is not None and paid_amount > amount:
        raise ActionError(
            _l("The amount paid cannot exceed the tranche's planned amount."), field="paid_amount"
        )
    return {
        "planned_on": data["planned_on"],
        "amount": amount,
        "paid_on": paid_on,
        "paid_amount": paid_amount,
    }


def add_tranche(session: Session, action: FundedAction, data: dict, *, actor) -> Tranche:
    """Plan a payment (date, amount; paid date and amount once paid), within the award."""
    values = _clean_tranche(action, data, None)
    position = max((item.position for item in action.tranches), default=0) + 1
    tranche = Tranche(position=position, **values)
    action.tranches.append(tranche)
    session.flush()
    record_event(
        session, actor, "action.tranche_added", action, before=None, after=_tranche_values(tranche)
    )
    return tranche


def update_tranche(
    session: Session, action: FundedAction, tranche: Tranche, data: dict, *, actor
) -> None:
    """Change a tranche's plan or record its payment, within the award."""
    values = _clean_tranche(action, data, tranche)
    before = _tranche_values(tranche)
    for name, value in values.items():
        setattr(tranche, name, value)
    after = _tranche_values(tranche)
    if before != after:
        session.flush()
        record_event(session, actor, "action.tranche_updated", action, before=before, after=after)


def remove_tranche(session: Session, action: FundedAction, tranche: Tranche, *, actor) -> None:
    """Remove a tranche not yet paid."""
    if tranche.paid_on is not None:
        raise ActionError(_l("A tranche already paid cannot be removed."))
    before = _tranche_values(tranche)
    action.tranches.remove(tranche)
    session.flush()
    record_event(session, actor, "action.tranche_removed", action, before=before, after=None)


# --- progress -------------------------------------------------------------------------------


def local_today() -> date:
    """Return today's date in the portal's time zone (Morocco's, by default)."""
    return to_local(utcnow()).date()


def refresh_progress(session: Session, action: FundedAction, *, actor) -> bool:
    """Set the action's stored progress by its rule — the higher of the last accepted report's
    figure and the share of milestones done — and audit a change; tell whether it changed."""
    before = action.progress_percent
    after = action.progress_by_rule
    if before == after:
        return False
    action.progress_percent = after
    session.flush()
    record_event(
        session,
        actor,
        "action.progress_updated",
        action,
        before={"progress_percent": before},
        after={"progress_percent": after},
    )
    return True


# --- milestones (staff) ---------------------------------------------------------------------


def _milestone_values(milestone: Milestone) -> dict:
    return {
        "id": milestone.id,
        "position": milestone.position,
        "title": milestone.title,
        "due_on": milestone.due_on.isoformat(),
        "done_on": milestone.done_on.isoformat() if milestone.done_on else None,
    }


def _clean_milestone_title(raw) -> str:
    title = str(raw if raw is not None else "").strip()
    if not title:
        raise ActionError(_l("Give the milestone a title."), field="title")
    if CONTROL_CHARACTERS.search(title):
        raise ActionError(
            _l("Write the title on one line, without tabs or other control characters."),
            field="title",
        )
    if len(title) > MAX_MILESTONE_TITLE:
        raise ActionError(
            _l("Give the title in at most %(n)d characters.", n=MAX_MILESTONE_TITLE),
            field="title",
        )
    return title


def _check_done_on(action: FundedAction, done_on: date | None, today: date) -> None:
    if done_on is None:
        return
    if done_on > today:
        raise ActionError(
            _l("A milestone cannot be reached in the future: give today's date or an earlier one."),
            field="done_on",
        )
    if action.starts_on is not None and done_on < action.starts_on:
        raise ActionError(
            _l(
                "A milestone cannot be reached before the action starts, on %(date)s.",
                date=format_date(action.starts_on, "long"),
            ),
            field="done_on",
        )


def _clean_milestone(action: FundedAction, data: dict, today: date) -> dict:
    title = _clean_milestone_title(data.get("title"))
    due_on = data.get("due_on")
    if not isinstance(due_on, date):
        raise ActionError(_l("Enter a date."), field="due_on")
    done_on = data.get("done_on")
    if done_on is not None and not isinstance(done_on, date):
        raise ActionError(_l("Enter a real date, such as 2026-03-31."), field="done_on")
    _check_done_on(action, done_on, today)
    return {"title": title, "due_on": due_on, "done_on": done_on}


def add_milestone(
    session: Session, action: FundedAction, data: dict, *, actor, today: date | None = None
) -> Milestone:
    """Add a milestone (title, due date; done date if already reached); refresh the progress."""
    values = _clean_milestone(action, data, today or local_today())
    position = max((item.position for item in action.milestones), default=0) + 1
    milestone = Milestone(position=position, **values)
    action.milestones.append(milestone)
    session.flush()
    record_event(
        session,
        actor,
        "action.milestone_added",
        action,
        before=None,
        after=_milestone_values(milestone),
    )
    refresh_progress(session, action, actor=actor)
    return milestone


def update_milestone(
    session: Session,
    action: FundedAction,
    milestone: Milestone,
    data: dict,
    *,
    actor,
    today: date | None = None,
) -> None:
    """Change a milestone's title, due date or done date; refresh the progress."""
    values = _clean_milestone(action, data, today or local_today())
    _change_milestone(session, action, milestone, values, actor=actor)


def set_milestone_done(
    session: Session,
    action: FundedAction,
    milestone: Milestone,
    done_on: date | None,
    *,
    actor,
    today: date | None = None,
) -> None:
    """Mark a milestone reached on a date, or not reached (None); refresh the progress."""
    _check_done_on(action, done_on, today or local_today())
    _change_milestone(session, action, milestone, {"done_on": done_on}, actor=actor)


def _change_milestone(
    session: Session, action: FundedAction, milestone: Milestone, values: dict, *, actor
) -> None:
    before = _milestone_values(milestone)
    for name, value in values.items():
        setattr(milestone, name, value)
    after = _milestone_values(milestone)
    if before == after:
        return
    session.flush()
    record_event(session, actor, "action.milestone_updated", action, before=before, after=after)
    refresh_progress(session, action, actor=actor)


def remove_milestone(
    session: Session, action: FundedAction, milestone: Milestone, *, actor
) -> None:
    """Remove a milestone; refresh the progress."""
    before = _milestone_values(milestone)
    action.milestones.remove(milestone)
    session.flush()
    record_event(session, actor, "action.milestone_removed", action, before=before, after=None)
    refresh_progress(session, action, actor=actor)


# --- the report schedule (staff) ------------------------------------------------------------


def schedule_report(
    session: Session, action: FundedAction, due_on: date | None, final: bool, *, actor
) -> ProgressReport:
    """Ask the association for a report on a date (the final one, if so marked)."""
    if due_on is None:
        raise ActionError(_l("Enter a date."), field="due_on")
    if any(report.due_on == due_on for report in action.reports):
        raise ActionError(_l("A report is already due on that date."), field="due_on")
    if final and any(report.final for report in action.reports):
        raise ActionError(_l("The action already has a final report."), field="final")
    report = ProgressReport(due_on=due_on, final=final)
    action.reports.append(report)
    session.flush()
    record_event(
        session,
        actor,
        "action.report_scheduled",
        action,
        report_id=report.id,
        due_on=due_on.isoformat(),
        final=final,
    )
    return report


def unschedule_report(
    session: Session, action: FundedAction, report: ProgressReport, *, actor
) -> None:
    """Remove a report date the association has not started writing for."""
    if report.status != ReportStatus.DUE or report.version > 1 or report.attachments:
        raise ActionError(_l("The association has started this report: it stays."))
    due_on = report.due_on.isoformat()
    action.reports.remove(report)
    session.flush()
    record_event(
        session, actor, "action.report_unscheduled", action, due_on=due_on, final=report.final
    )
