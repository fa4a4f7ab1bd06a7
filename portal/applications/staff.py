"""What staff see of a call's applications: a filtered list, counts and totals, exports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, load_only

from portal.applications.kept_totals import kept
from portal.applications.models import Application, ApplicationStatus, BudgetLine, Submission
from portal.organisations.models import Association
from portal.strategy.models import Region

# Cells a spreadsheet would read as a formula (CSV injection): prefixed with an apostrophe.


@dataclass(frozen=True)
class ApplicationFilters:
    lot_id: int | None = None
    region_code: str = ""
    status: str = ""
    text: str = ""


def _requested_amount():
    return (
        select(
            func.coalesce(
                func.sum(BudgetLine.quantity * BudgetLine.unit_cost - BudgetLine.cofunding), 0
            )
        )
        .where(BudgetLine.application_id == Application.id)
        .correlate(Application)
        .scalar_subquery()
    )


def _final_reference():
    return (
        select(Submission.reference)
        .where(Submission.application_id == Application.id)
        .order_by(Submission.number.desc())
        .limit(1)
        .correlate(Application)
        .scalar_subquery()
    )


def _needs_association(filters: ApplicationFilters) -> bool:
    return bool(filters.region_code or filters.text.strip())


def _filtered(
    query: Select, call_id: int, filters: ApplicationFilters, *, with_association: bool = True
) -> Select:
    """Narrow `query` to the call and the filters. Every application has an association, and
    every association a region, so the joins change no count: totals leave them out when no
    filter needs them."""
    query = query.where(Application.call_id == call_id)
    if with_association or _needs_association(filters):
        query = query.join(Association, Association.id == Application.association_id).join(
            Region, Region.id == Association.region_id
        )
    if filters.lot_id:
        query = query.where(Application.lot_id == filters.lot_id)
    if filters.region_code:
        query = query.where(Region.code == filters.region_code)
    if filters.status in {status.value for status in ApplicationStatus}:
        query = query.where(Application.status == ApplicationStatus(filters.status))
    text = filters.text.strip()
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(Application.title_fr).like(pattern),
                Application.title_ar.like(f"%{text}%"),
                func.lower(Association.name_fr).like(pattern),
                Association.name_ar.like(f"%{text}%"),
                func.lower(Association.registration_number).like(pattern),
            )
        )
    return query


# What the list and its exports show: an application's narrative, plan and team (many
# kilobytes a row) and an association's profile are left in the database.
LISTED_COLUMNS = (
    load_only(
        Application.id,
        Application.status,
        Application.lot_id,
        Application.title_ar,
        Application.title_fr,
        Application.language,
        Application.duration_months,
        Application.submitted_at,
    ),
    load_only(
        Association.id,
        Association.name_ar,
        Association.name_fr,
        Association.registration_number,
    ),
)


def staff_query(call_id: int, filters: ApplicationFilters) -> Select:
    """Return rows (application, association, region, requested amount, final reference)."""
    query = (
        select(
            Application,
            Association,
            Region,
            _requested_amount().label("requested"),
            _final_reference().label("reference"),
        )
        .select_from(Application)
        .options(*LISTED_COLUMNS)
    )
    return _filtered(query, call_id, filters).order_by(Application.id.desc())


def totals(session: Session, call_id: int, filters: ApplicationFilters) -> dict:
    """Return how many applications the filtered list has, per status, and the amount asked;
    kept between requests unless a text search is part of the filters (see kept_totals)."""
    if filters.text.strip():
        return _totals(session, call_id, filters)
    return kept(session, (call_id, filters), lambda: _totals(session, call_id, filters))


def _totals(session: Session, call_id: int, filters: ApplicationFilters) -> dict:
    """Count and sum in SQL. The budget lines of the call are summed once, grouped by
    application, and joined: cheaper than the list's per-row subquery when every application of
    a national call is counted."""
    requested = (
        select(
            BudgetLine.application_id,
            func.sum(BudgetLine.quantity * BudgetLine.unit_cost - BudgetLine.cofunding).label(
                "amount"
            ),
        )
        .join(Application, Application.id == BudgetLine.application_id)
        .where(Application.call_id == call_id)
        .group_by(BudgetLine.application_id)
        .subquery()
    )
    query = (
        select(Application.status, func.count(), func.coalesce(func.sum(requested.c.amount), 0))
        .select_from(Application)
        .outerjoin(requested, requested.c.application_id == Application.id)
        .group_by(Application.status)
    )
    counted = session.execute(_filtered(query, call_id, filters, with_association=False)).all()
    by_status = {ApplicationStatus(status): count for status, count, _amount in counted}
    return {
        "count": sum(by_status.values()),
        "by_status": by_status,
        "requested": int(sum(amount for _status, _count, amount in counted)),
    }


EXPORT_COLUMNS = (
    "id",
    "reference",
    "status",
    "association_ar",
    "association_fr",
    "registration_number",
    "region",
    "lot",
    "title_ar",
    "title_fr",
    "language",
    "duration_months",
    "requested_mad",
    "submitted_at",
)


def export_rows(session: Session, query: Select, locale: str) -> Iterator[list]:
    """Yield the export's rows, reading the database in batches."""
    result = session.execute(query.execution_options(yield_per=500))
    for application, association, region, requested, reference in result:
        yield [
            application.id,
            reference or "",
            application.status.value,
            association.name_ar,
            association.name_fr,
            association.registration_number,
            region.text_for("name", locale),
            application.lot_id or "",
            application.title_ar,
            application.title_fr,
            application.language,
            application.duration_months or "",
            int(requested or 0),
            application.submitted_at.isoformat() if application.submitted_at else "",
        ]
