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

from collections.abc import Callable
from itertools import chain

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from portal.actions.models import FundedAction, ProgressReport, ReportStatus, Tranche
from portal.kept import Kept, latest_token, renew_token
from portal.results.models import Committee, DecisionFunder

FIGURES = "actions"
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

kept_dashboards = Kept(KEPT_DASHBOARDS)


def _accepted(report: ProgressReport) -> bool:
    """Tell whether the report is, or was before this flush, accepted."""
    before = inspect(report).attrs.status.history.deleted or ()
    return ReportStatus.ACCEPTED in (report.status, *before)


def _changes_the_figures(session: Session, instance, state: str) -> bool:
    kind = type(instance)
    if kind not in WATCHED_COLUMNS:
        return False
    if isinstance(instance, ProgressReport) and not _accepted(instance):
        return False
    if state in ("new", "deleted"):
        return True
    columns = WATCHED_COLUMNS[kind]
    if columns is None:
        return session.is_modified(instance)
    attributes = inspect(instance).attrs
    return any(attributes[name].history.has_changes() for name in columns)


def actions_changed(session: Session) -> None:
    """Record that the dashboards' figures changed, in the caller's transaction."""
    renew_token(session, FIGURES)


@event.listens_for(Session, "after_flush")
def _renew_token(session: Session, _context) -> None:
    states = chain(
        ((instance, "new") for instance in session.new),
        ((instance, "dirty") for instance in session.dirty),
        ((instance, "deleted") for instance in session.deleted),
    )
    if any(_changes_the_figures(session, instance, state) for instance, state in states):
        actions_changed(session)


def kept_figures(session: Session, key: tuple, compute: Callable):
    """Return the figures kept under `key` and the current token, computing them if missing."""
    token = latest_token(session, FIGURES)
    if token is None:
        return compute()
    return kept_dashboards.get_or_compute((token, *key), compute)
