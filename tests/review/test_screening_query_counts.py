"""The screening list, its fragment and the screening page run a fixed number of queries whatever
the number of applications, screeners, checks and budget lines (CHECKLIST P01)."""

from __future__ import annotations

from flask import url_for

from portal.applications.models import BudgetLine
from portal.calls.models import ManualCheck
from portal.extensions import db
from tests import factories

HTMX = {"HX-Request": "true"}


def _queries(count_queries, client, url: str, headers=None) -> int:
    client.get(url, headers=headers or {})  # warm up; the first visit also creates screenings
    with count_queries() as counter:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200
    return counter.count


def _add_applications(call, how_many: int) -> None:
    for _ in range(how_many):
        factories.submitted_application(call, commit=False)
    db.session.commit()


def test_the_screening_list_runs_the_same_queries_for_2_and_80_applications(
    call, staff, login_as, count_queries
):
    client, user = staff
    url = url_for("review.screening_list", call_id=call.id)
    _add_applications(call, 2)
    small = _queries(count_queries, client, url)
    small_fragment = _queries(count_queries, client, url, HTMX)
    _add_applications(call, 78)
    screeners = [user] + [login_as("staff")[1] for _ in range(3)]
    split = client.post(
        url_for("review.split_screening", call_id=call.id),
        data={"staff_ids": [str(screener.id) for screener in screeners]},
    )
    assert split.status_code == 303
    large = _queries(count_queries, client, url)
    large_fragment = _queries(count_queries, client, url, HTMX)

    assert small == large, (small, large)
    assert small_fragment == large_fragment, (small_fragment, large_fragment)
    assert large <= 10, large
    assert large_fragment <= 3, large_fragment


def test_the_screening_page_runs_the_same_queries_for_1_and_20_lines_and_checks(
    call, staff, count_queries
):
    client, _user = staff
    application = factories.submitted_application(call)
    url = url_for("review.screening", application_id=application.id)
    small = _queries(count_queries, client, url)
    for number in range(20):
        application.budget_lines.append(
            BudgetLine(category="travel", description="سفر", quantity=1, unit_cost=100)
        )
        call.manual_checks.append(
            ManualCheck(position=number, text_ar=f"تحقق {number}", text_fr=f"Contrôle {number}")
        )
    db.session.commit()
    large = _queries(count_queries, client, url)

    assert small == large, (small, large)
    assert large <= 10, large
