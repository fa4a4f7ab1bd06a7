"""Spreadsheet exports shared by the staff lists: streamed CSV and XLSX, formulas made inert."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from flask import Response, stream_with_context

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """Return a cell's text, made inert if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_chunks(columns: Sequence[str], rows: Iterator[list]) -> Iterator[str]:
    """Stream CSV text (UTF-8 with a byte-order mark, so spreadsheets keep the Arabic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_bytes(
    columns: Sequence[str], rows: Iterator[list], *, sheet: str, right_to_left: bool
) -> bytes:
    """Build an XLSX workbook of the rows (right to left for Arabic), in constant memory."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    worksheet = workbook.add_worksheet(sheet)
    if right_to_left:
        worksheet.right_to_left()
    bold = workbook.add_format({"bold": True})
    worksheet.write_row(0, 0, columns, bold)
    for number, row in enumerate(rows, start=1):
        worksheet.write_row(
            number, 0, [neutralise(cell) if isinstance(cell, str) else cell for cell in row]
        )
    workbook.close()
    return output.getvalue()


def download(
    fmt: str,
    columns: Sequence[str],
    rows: Iterator[list],
    *,
    name: str,
    sheet: str,
    right_to_left: bool,
) -> Response:
    """Answer with the rows as an attachment `name.fmt`: CSV streamed, or an XLSX workbook."""
    if fmt == "csv":
        response = Response(
            stream_with_context(csv_chunks(columns, rows)), mimetype="text/csv; charset=utf-8"
        )
    else:
        body = xlsx_bytes(columns, rows, sheet=sheet, right_to_left=right_to_left)
        response = Response(body, mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
