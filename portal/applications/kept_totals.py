"""A call's application totals kept between requests, and the writes that make them out of date.

The staff list heads every page with the count of applications per status and the amount they
ask, which reads every application and budget line of the call (about 20 ms at national scale)
for each page and each filter. Each worker keeps those totals under a key holding the latest
token of the "applications" figures; every flush that changes them (a new or deleted
application or budget line, a status, lot or call, an amount, an association's region) records
a new token in the same transaction, so a page never shows totals older than what it can read.
An autosave of a draft's text renews nothing. Totals under a text search are computed each time:
they depend on titles and names, which drafts change as they are typed.

A write that bypasses the unit of work (a Core statement) and changes these totals must call
`applications_changed` itself.
"""

from __future__ import annotations

from portal.applications.models import Application, BudgetLine
from portal.kept import KeptFigures
from portal.organisations.models import Association
from portal.strategy.models import Region

# Per worker: the totals of a few calls under a few filters, a few hundred bytes each.
KEPT_TOTALS = 256

WATCHED_COLUMNS = {
    Application: ("status", "lot_id", "call_id", "association_id"),
    BudgetLine: ("application_id", "quantity", "unit_cost", "cofunding"),
    Association: ("region_id",),
    Region: ("code",),
}

figures = KeptFigures("applications", KEPT_TOTALS, WATCHED_COLUMNS)
FIGURES = figures.name
applications_changed = figures.changed
kept = figures.kept
