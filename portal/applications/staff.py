"""What staff see of a call's applications: a filtered list, counts and totals, exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.applications.models import Application, ApplicationStatus, BudgetLine, Submission
from portal.organisations.models import Association
from portal.strategy.models import Region

# Cells a spreadsheet would read as a formula (CSV injection): prefixed with an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def _filtered(query: Select, call_id: int, filters: ApplicationFilters) -> Select:
    query = (
        query.join(Association, Association.id == Application.association_id)
        .join(Region, Region.id == Association.region_id)
        .where(Application.call_id == call_id)
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


def staff_query(call_id: int, filters: ApplicationFilters) -> Select:
    """Return rows (application, association, region, requested amount, final reference)."""
    query = select(
        Application,
        Association,
        Region,
        _requested_amount().label("requested"),
        _final_reference().label("reference"),
    ).select_from(Application)
    return _filtered(query, call_id, filters).order_by(Application.id.desc())


def totals(session: Session, call_id: int, filters: ApplicationFilters) -> dict:
    """Return how many applications the filtered list has, per status, and the amount asked."""
    query = select(
        Application.status.label("status"), _requested_amount().label("requested")
    ).select_from(Application)
    rows = _filtered(query, call_id, filters).subquery()
    counted = session.execute(
        select(rows.c.status, func.count(), func.coalesce(func.sum(rows.c.requested), 0)).group_by(
            rows.c.status
        )
    ).all()
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


def neutralise(value) -> str:
    """Return a cell's text, made inert if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


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


def csv_chunks(rows: Iterator[list]) -> Iterator[str]:
    """Stream CSV text (UTF-8 with a byte-order mark, so spreadsheets keep the Arabic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_bytes(rows: Iterator[list], right_to_left: bool) -> bytes:
    """Build an XLSX workbook of the rows (right to left for Arabic)."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = workbook.add_worksheet("applications")
    if right_to_left:
        sheet.right_to_left()
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, EXPORT_COLUMNS, bold)
    for number, row in enumerate(rows, start=1):
        sheet.write_row(
            number, 0, [neutralise(cell) if isinstance(cell, str) else cell for cell in row]
        )
    workbook.close()
    return output.getvalue()
