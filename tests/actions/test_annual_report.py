"""The annual report of the funded actions: the dashboards' figures for one year as a workbook
(one sheet per breakdown, Arabic kept, formulas made inert) and as a PDF in Arabic or French."""

from __future__ import annotations

import io

import openpyxl
import pytest
from flask import url_for

from portal.db import utcnow
from portal.extensions import db
from tests.actions.test_dashboards import axis, world  # noqa: F401 (a fixture)
from tests.pdf import pdf_text, squeezed


def report(client, lang: str, fmt: str, year: int | None = None):
    year = year or utcnow().year
    return client.get(url_for("actions.annual_report", year=year, lang=lang, fmt=fmt))


def workbook(response):
    return openpyxl.load_workbook(io.BytesIO(response.data))


def test_the_workbook_has_one_sheet_per_breakdown_with_the_figures(world, login_as):  # noqa: F811
    client, _staff = login_as("staff")

    response = report(client, "ar", "xlsx")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    book = workbook(response)
    assert len(book.sheetnames) == 7  # axes, lots, regions, SDGs, mechanisms, marker, funders
    axes = book.worksheets[0]
    assert axes.sheet_view.rightToLeft
    rows = {row[0]: row for row in axes.iter_rows(min_row=2, values_only=True)}
    first = rows[f"1. {axis('axis-1').title_ar}"]
    assert first[1:8] == (2, 300_000, 110_000, 50, 50, 30, 12)
    assert first[10] == 30.0
    funders = {row[0]: row[1] for row in book.worksheets[6].iter_rows(min_row=2, values_only=True)}
    assert sum(funders.values()) == 350_000


def test_the_french_workbook_reads_left_to_right_with_french_names(world, login_as):  # noqa: F811
    client, _staff = login_as("staff")

    book = workbook(report(client, "fr", "xlsx"))

    axes = book.worksheets[0]
    assert not axes.sheet_view.rightToLeft
    assert f"1. {axis('axis-1').title_fr}" in [row[0] for row in axes.iter_rows(values_only=True)]


def test_a_lot_title_written_as_a_formula_is_made_inert(world, login_as):  # noqa: F811
    """Checklist S20: a cell a spreadsheet would run as a formula is made inert."""
    world["call"].lots[1].title_ar = '=HYPERLINK("http://x","y")'
    db.session.commit()
    client, _staff = login_as("staff")

    book = workbook(report(client, "ar", "xlsx"))

    lots = [row[0] for row in book.worksheets[1].iter_rows(min_row=2, values_only=True)]
    assert any(name.endswith('=HYPERLINK("http://x","y")') for name in lots)
    assert not any(name.startswith("=") for name in lots)
    assert all(cell.data_type != "f" for row in book.worksheets[1].iter_rows() for cell in row)


def test_a_year_without_results_gives_a_workbook_of_zeros(world, login_as):  # noqa: F811
    client, _staff = login_as("staff")

    book = workbook(report(client, "ar", "xlsx", year=2001))

    totals = [row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert totals and set(totals) == {0}


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_the_pdf_gives_the_axes_in_the_chosen_language(world, login_as, tmp_path, lang):  # noqa: F811
    client, _staff = login_as("staff")

    response = report(client, lang, "pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    text = squeezed(pdf_text(tmp_path, response.data, f"report-{lang}"))
    # A long title wraps inside its table cell, its lines interleaved with the next columns:
    # its beginning is enough to know it is there.
    assert squeezed(axis("axis-1").text_for("title", lang))[:30] in text
    assert squeezed(axis("axis-2").text_for("title", lang))[:30] in text


@pytest.mark.parametrize("year", [1999, 2101])
def test_a_year_out_of_range_is_not_found(app, login_as, year):
    client, _staff = login_as("staff")

    assert report(client, "ar", "xlsx", year=year).status_code == 404


def test_an_unknown_language_or_format_is_not_found(app, login_as):
    client, _staff = login_as("staff")

    assert client.get("/staff/dashboards/annual-report-2025-en.xlsx").status_code == 404
    assert client.get("/staff/dashboards/annual-report-2025-ar.csv").status_code == 404
