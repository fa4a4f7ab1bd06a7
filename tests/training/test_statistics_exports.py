"""The statistics' exports: one row per session with its figures, the page's filters, Arabic kept
in CSV and XLSX (right to left in Arabic), formulas made inert (CHECKLIST S04, S20, R15)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from flask import url_for
from openpyxl import load_workbook

from portal.extensions import db
from portal.training.statistics import EXPORT_COLUMNS
from tests import factories
from tests.conftest import shown
from tests.training.conftest import verified_association

ARABIC_MODULE = "الإجراءات الخاصة والبلاغات"


@pytest.fixture
def sessions(make_module):
    """A three-day session in Rabat with marked attendance and one in Oujda, both in 2030."""
    module = make_module(title_ar=ARABIC_MODULE, title_fr="Les procédures spéciales")
    rabat = factories.training_session(
        module=module, starts_on=date(2030, 3, 2), ends_on=date(2030, 3, 4), capacity=10
    )
    oujda = factories.training_session(
        module=module,
        starts_on=date(2030, 10, 5),
        ends_on=date(2030, 10, 5),
        capacity=20,
        region=factories.region("oriental"),
        city="وجدة",
    )
    association, owner = verified_association()
    for status in ("confirmed", "confirmed", "waitlisted", "cancelled"):
        enrolment = factories.training_enrolment(rabat, association, status, created_by_id=owner.id)
        if status == "confirmed":
            for day in range(3):
                factories.training_attendance(
                    enrolment, rabat.starts_on + timedelta(days=day), present=day < 2
                )
    factories.training_enrolment(oujda, association, created_by_id=owner.id)
    return rabat, oujda


def _csv_rows(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def _sheet(response):
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.data)).active


def test_the_csv_has_one_row_per_session_with_its_figures(login_as, sessions):
    rabat, oujda = sessions
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics_export", fmt="csv"))

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="training-statistics.csv"'
    )
    first, second = _csv_rows(response)
    assert list(first) == list(EXPORT_COLUMNS)
    assert first["session_id"] == str(rabat.id) and second["session_id"] == str(oujda.id)
    assert (first["capacity"], first["participants"], first["waitlisted"]) == ("10", "2", "1")
    assert (first["cancelled"], first["fill_rate_percent"], first["days"]) == ("1", "20.0", "3")
    assert (first["days_present"], first["participant_days"]) == ("4", "6")
    assert first["attendance_rate_percent"] == "66.7"
    assert second["attendance_marked"] == "0" and second["attendance_rate_percent"] == ""
    assert first["module_ar"] == ARABIC_MODULE and second["city"] == "وجدة"
    assert first["starts_on"] == "2030-03-02"


def test_the_export_follows_the_pages_filters(login_as, sessions):
    _rabat, oujda = sessions
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics_export", fmt="csv", region="oriental"))

    assert [row["session_id"] for row in _csv_rows(response)] == [str(oujda.id)]


def test_the_xlsx_keeps_the_arabic_and_reads_right_to_left_for_arabic_staff(login_as, sessions):
    client, _user = login_as("staff", locale="ar")

    response = client.get(url_for("training.statistics_export", fmt="xlsx"))

    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = _sheet(response)
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS
    header = {name: index for index, name in enumerate(EXPORT_COLUMNS)}
    assert rows[1][header["module_ar"]] == ARABIC_MODULE
    assert rows[2][header["city"]] == "وجدة"
    assert rows[1][header["participants"]] == 2  # a number, not text
    assert sheet.title == "sessions"
    assert sheet.sheet_view.rightToLeft is True


def test_the_xlsx_reads_left_to_right_for_french_staff(login_as, sessions):
    client, _user = login_as("staff", locale="fr")

    sheet = _sheet(client.get(url_for("training.statistics_export", fmt="xlsx")))

    assert not sheet.sheet_view.rightToLeft


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formulas_typed_into_a_session_are_exported_inert(login_as, sessions, fmt):
    """S20: a city or a title that a spreadsheet would run as a formula is neutralised."""
    rabat, _oujda = sessions
    rabat.city = '=HYPERLINK("http://evil.test","x")'
    rabat.module.title_fr = "+SUM(1,2)"
    db.session.commit()
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics_export", fmt=fmt))

    if fmt == "csv":
        first = _csv_rows(response)[0]
        city, title = first["city"], first["module_fr"]
        assert ",=HYPERLINK" not in response.get_data(as_text=True)
    else:
        sheet = _sheet(response)
        header = {name: index for index, name in enumerate(EXPORT_COLUMNS)}
        row = next(sheet.iter_rows(min_row=2, max_row=2))
        assert row[header["city"]].data_type == "s"
        city, title = row[header["city"]].value, row[header["module_fr"]].value
    assert city == '\'=HYPERLINK("http://evil.test","x")'
    assert title == "'+SUM(1,2)"


def test_a_bad_filter_is_refused_instead_of_exported(login_as, sessions):
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics_export", fmt="csv", date_from="2030-13-01"))

    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert shown("Enter a date as YYYY-MM-DD.") in response.get_data(as_text=True)


def test_an_unknown_export_format_is_not_found(login_as):
    client, _user = login_as("staff")

    assert client.get("/staff/training/statistics.pdf").status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_exports_are_refused_to_whoever_may_not_see_the_page(login_as, client, fmt):
    """S04: an export is checked exactly as its page."""
    applicant, _user = login_as("applicant")
    url = url_for("training.statistics_export", fmt=fmt)

    assert applicant.get(url).status_code == 403
    visitor = client.get(url)
    assert visitor.status_code == 302 and "/account/sign-in" in visitor.headers["Location"]


def test_the_export_runs_the_same_queries_for_few_and_many_sessions(
    login_as, count_queries, make_module
):
    client, _user = login_as("staff")
    url = url_for("training.statistics_export", fmt="csv")
    association, owner = verified_association()

    def add_sessions(how_many: int) -> None:
        module = make_module()
        for _ in range(how_many):
            training = factories.training_session(module=module)
            for _ in range(3):
                factories.training_enrolment(training, association, created_by_id=owner.id)

    def queries() -> int:
        client.get(url).get_data()
        with count_queries() as counter:
            response = client.get(url)
            response.get_data()
        return counter.count

    add_sessions(1)
    with_one = queries()
    add_sessions(10)
    with_many = queries()

    assert with_one == with_many, (with_one, with_many)
