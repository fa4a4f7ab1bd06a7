"""Staff see a call's applications: filters, totals, a fixed number of queries, exports."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from portal.applications.models import Application, BudgetLine
from portal.organisations.models import Association
from tests import factories


def add_applications(session, call, count: int, *, name_ar: str = "جمعية") -> None:
    """Insert `count` applications of distinct associations, each with one budget line."""
    owner = factories.UserFactory()
    region = factories.region()
    for number in range(count):
        association = Association(
            name_ar=f"{name_ar} {number}",
            name_fr=f"Association {number}",
            legal_form="association",
            registration_number=f"BULK-{call.id}-{number:05d}",
            founded_on=date(2015, 1, 1),
            region=region,
            city="Rabat",
            email=f"bulk{number}@example.org",
        )
        application = Application(
            call=call, association=association, created_by_id=owner.id, title_ar=f"مشروع {number}"
        )
        application.budget_lines.append(
            BudgetLine(category="activities", description="x", quantity=1, unit_cost=1000)
        )
        session.add(application)
    session.commit()


@pytest.fixture
def staff_client(login_as):
    client, _user = login_as("staff")
    return client


def test_staff_list_shows_counts_and_the_amount_requested(staff_client, session):
    call = factories.published_call()
    add_applications(session, call, 3)
    page = staff_client.get(f"/staff/calls/{call.id}/applications").get_data(as_text=True)
    assert "مشروع 2" in page
    assert "3,000" in page or "3 000" in page or "3٬000" in page


def queries_and_body(client, count_queries, url: str) -> tuple[int, bytes]:
    """Request `url` (200 expected) and return its statements and body; a streamed export runs
    its queries while it is read, so the body is read inside the count."""
    with count_queries() as counter:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data()
    return counter.count, body


def test_staff_list_keeps_a_fixed_number_of_queries(staff_client, session, count_queries):
    """P01: the same number of statements with 10 and with 2,000 applications."""
    small, large = factories.published_call(), factories.published_call()
    add_applications(session, small, 10)
    add_applications(session, large, 2000)
    counts = [
        queries_and_body(staff_client, count_queries, f"/staff/calls/{call.id}/applications")[0]
        for call in (small, large)
    ]
    assert counts[0] == counts[1], counts
    assert counts[0] <= 10, counts


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_keep_a_fixed_number_of_queries_and_every_column(
    staff_client, session, count_queries, fmt
):
    """The list loads only the columns it shows; the exports read no column it left out, so
    no row costs a statement of its own."""
    from portal.applications.staff import EXPORT_COLUMNS

    small, large = factories.published_call(), factories.published_call()
    add_applications(session, small, 3)
    add_applications(session, large, 60)
    (few, _body), (many, body) = (
        queries_and_body(staff_client, count_queries, f"/staff/calls/{call.id}/applications.{fmt}")
        for call in (small, large)
    )
    assert few == many, (few, many)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
        assert len(rows) == 60 and list(rows[0]) == list(EXPORT_COLUMNS)
        assert rows[0]["registration_number"].startswith("BULK-")


def test_applicants_cannot_see_the_staff_list_or_its_exports(login_as, session):
    client, _user = login_as("applicant")
    call = factories.published_call()
    for path in ("applications", "applications.csv", "applications.xlsx"):
        assert client.get(f"/staff/calls/{call.id}/{path}").status_code == 403


def test_csv_export_keeps_arabic_and_neutralises_formulas(staff_client, session):
    """R15/S20: UTF-8 with a byte-order mark; a cell starting with = is made inert."""
    call = factories.published_call()
    add_applications(session, call, 2, name_ar='=HYPERLINK("http://x")')
    response = staff_client.get(f"/staff/calls/{call.id}/applications.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 2
    assert {row["title_ar"] for row in rows} == {"مشروع 0", "مشروع 1"}
    assert all(row["association_ar"].startswith("'=HYPERLINK") for row in rows)


def test_xlsx_export_keeps_arabic_right_to_left(staff_client, session):
    call = factories.published_call()
    add_applications(session, call, 2)
    response = staff_client.get(f"/staff/calls/{call.id}/applications.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "id"
    assert {row[8] for row in values[1:]} == {"مشروع 0", "مشروع 1"}
    assert sheet.sheet_view.rightToLeft


def test_filters_narrow_the_list(staff_client, session):
    call = factories.published_call()
    add_applications(session, call, 3)
    page = staff_client.get(
        f"/staff/calls/{call.id}/applications", query_string={"q": "مشروع 1"}
    ).get_data(as_text=True)
    assert "مشروع 1" in page
    assert "مشروع 2" not in page
