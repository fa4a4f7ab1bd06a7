"""Published results kept between requests, and the writes that make them out of date.

A call's public results page adds up its awards per lot and per axis, and the open-data exports
write every award: the same answer for every visitor, asked for by many once results are out.
Each worker keeps them under a key holding the latest token of the "results" figures. Every
flush that changes what they show (a decision, a committee, a decision's funders, the names of
an association, a call, a lot, a region, an axis or a funder, or an application that is no
longer a draft: its title, regions, lot or axes) records a new token in the same transaction.
Drafts are left out: they have no decision, and an autosave must not renew anything.

A write that bypasses the unit of work (a Core statement) and changes what the results show
must call `results_changed` itself.
"""

from __future__ import annotations

from portal.applications.models import Application, ApplicationStatus
from portal.calls.models import Call, Lot
from portal.kept import KeptFigures, any_changed, value_before
from portal.organisations.models import Association
from portal.results.models import Committee, Decision, DecisionFunder
from portal.strategy.models import FundingPartner, Region, StrategicAxis

# Per worker: pages of the results of a few calls, and the open-data files (CSV and JSON, whole
# and per call), about a megabyte each at national scale.
KEPT_RESULTS = 32

# What an update of each model changes in the results (None: any column); a new or deleted row
# counts too, except an application's (a new one is a draft, and only a draft can be deleted).
WATCHED_COLUMNS = {
    Decision: None,
    Committee: None,
    DecisionFunder: None,
    Region: None,
    StrategicAxis: None,
    FundingPartner: None,
    Association: ("name_ar", "name_fr"),
    Call: ("code", "title_ar", "title_fr"),
    Lot: ("title_ar", "title_fr", "position"),
    Application: ("title_ar", "title_fr", "regions", "lot_id", "association_id", "axes"),
}


def _drafts_left_out(_session, instance, state: str) -> bool | None:
    if not isinstance(instance, Application):
        return None
    was_draft = value_before(instance, "status") == ApplicationStatus.DRAFT
    return (
        state == "dirty" and not was_draft and any_changed(instance, WATCHED_COLUMNS[Application])
    )


figures = KeptFigures("results", KEPT_RESULTS, WATCHED_COLUMNS, _drafts_left_out)
FIGURES = figures.name
results_changed = figures.changed
kept = figures.kept
