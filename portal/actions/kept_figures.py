"""The dashboards' figures kept between requests, and the writes that make them out of date.

Adding up 2,000 funded actions with their links, payments and reports takes a few hundred
milliseconds that every look at the dashboards would pay again. Each worker keeps the figures
under a key holding the latest token of the "actions" figures, the filters and the reference
lists that name the groups. Every flush that changes what the figures are computed from (a
funded action or its links, a tranche's payment, an accepted report, a decision's funders, a
committee's publication) records a new token in the same transaction. Before any change is
recorded nothing is kept.

A write that bypasses the unit of work (a Core statement) and changes what the figures are
computed from must call `actions_changed` itself.
"""

from __future__ import annotations

from portal.actions.models import FundedAction, ProgressReport, ReportStatus, Tranche
from portal.kept import KeptFigures, value_before
from portal.results.models import Committee, DecisionFunder

# Per worker: the default view, a few years and calls, in each language's reference names.
KEPT_DASHBOARDS = 16

# What an update of each watched model changes in the figures (None: any column or link); a new
# or deleted row always counts, except a report that is not accepted.
WATCHED_COLUMNS = {
    FundedAction: None,
    Tranche: ("paid_amount", "action_id"),
    ProgressReport: ("status", "beneficiaries_reached", "due_on", "action_id"),
    DecisionFunder: None,
    Committee: ("status", "published_at", "call_id"),
}


def _accepted_reports_only(_session, instance, _state: str) -> bool | None:
    """A report counts only when it is, or was before this flush, accepted."""
    if not isinstance(instance, ProgressReport):
        return None
    if ReportStatus.ACCEPTED not in (instance.status, value_before(instance, "status")):
        return False
    return None


figures = KeptFigures("actions", KEPT_DASHBOARDS, WATCHED_COLUMNS, _accepted_reports_only)
FIGURES = figures.name
actions_changed = figures.changed
kept_figures = figures.kept
