"""The public list and the staff overview run a fixed number of queries whatever the number of
calls and lots (CHECKLIST P01: equal counts at small and large N, at most 10 per page)."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from portal.calls.models import Lot
from portal.extensions import db
from portal.strategy.models import PlanProject, StrategicAxis
from tests.factories import published_call


def _add_lots(call, how_many: int) -> None:
    axes = list(db.session.scalars(select(StrategicAxis)))
    projects = list(db.session.scalars(select(PlanProject).limit(3)))
    for number in range(how_many):
        call.lots.append(
            Lot(
                position=number + 2,
                title_ar=f"حصة {number}",
                title_fr=f"Lot {number}",
                budget=1_000,
                axes=axes[: 1 + number % 4],
                plan_projects=projects[: number % 3],
            )
        )
    db.session.commit()


def _queries(count_queries, client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client loads its session and locale
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "staff"])
def test_the_public_list_runs_the_same_queries_for_1_and_20_calls(
    app, client, login_as, count_queries, signed_in
):
    reader = login_as("staff")[0] if signed_in else client
    url = url_for("calls.public_list")
    published_call()
    with_one = _queries(count_queries, reader, url)
    for _ in range(19):
        _add_lots(published_call(), 2)
    with_twenty = _queries(count_queries, reader, url)

    assert with_one == with_twenty, (with_one, with_twenty)
    assert with_twenty <= 10, with_twenty


def test_the_staff_overview_runs_the_same_queries_for_1_and_20_lots(app, login_as, count_queries):
    staff, _ = login_as("staff")
    call = published_call()
    url = url_for("calls.overview", call_id=call.id)
    with_one = _queries(count_queries, staff, url)
    _add_lots(call, 19)
    with_twenty = _queries(count_queries, staff, url)

    assert with_one == with_twenty, (with_one, with_twenty)
    assert with_twenty <= 10, with_twenty


def test_the_public_call_page_runs_the_same_queries_for_1_and_20_lots(client, count_queries):
    call = published_call()
    url = url_for("calls.public_page", call_id=call.id)
    with_one = _queries(count_queries, client, url)
    _add_lots(call, 19)
    with_twenty = _queries(count_queries, client, url)

    assert with_one == with_twenty, (with_one, with_twenty)
    assert with_twenty <= 10, with_twenty
