"""The catalogue, the session page and the staff list run a fixed number of queries whatever the
number of sessions (CHECKLIST P01: equal counts at small and large N, at most 10 per page)."""

from __future__ import annotations

import pytest
from flask import url_for

from tests import factories


def _queries(count_queries, client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client loads its session and locale
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


def _sessions(module, how_many: int) -> None:
    regions = ["oriental", "souss-massa", "fes-meknes", "rabat-sale-kenitra"]
    for number in range(how_many):
        factories.training_session(
            module=module,
            region=factories.region(regions[number % 4]),
            eligible_regions=regions[: number % 3],
            eligible_fields=["womens-rights"],
        )


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "staff"])
def test_the_catalogue_runs_the_same_queries_for_1_and_25_sessions(
    client, login_as, count_queries, make_module, signed_in
):
    reader = login_as("staff")[0] if signed_in else client
    url = url_for("training.catalogue", seats_left="y", language="ar")
    module = make_module()
    _sessions(module, 1)
    with_one = _queries(count_queries, reader, url)
    for _round in range(3):
        _sessions(make_module(), 8)
    with_many = _queries(count_queries, reader, url)

    assert with_one == with_many, (with_one, with_many)
    assert with_many <= 10, with_many


def test_the_session_page_runs_the_same_queries_whatever_its_eligibility(
    client, count_queries, make_module
):
    module = make_module()
    simple = factories.training_session(module=module)
    eligible = ["oriental", "souss-massa", "fes-meknes", "marrakech-safi", "draa-tafilalet"]
    detailed = factories.training_session(
        module=module, eligible_regions=eligible, eligible_fields=["womens-rights", "environment"]
    )

    with_none = _queries(
        count_queries, client, url_for("training.session_page", session_id=simple.id)
    )
    with_five = _queries(
        count_queries, client, url_for("training.session_page", session_id=detailed.id)
    )

    assert with_none == with_five, (with_none, with_five)
    assert with_five <= 10, with_five


def test_the_staff_list_runs_the_same_queries_for_1_and_25_sessions(
    login_as, count_queries, make_module
):
    staff, _ = login_as("staff")
    url = url_for("training.staff_sessions")
    _sessions(make_module(), 1)
    with_one = _queries(count_queries, staff, url)
    for _round in range(3):
        _sessions(make_module(), 8)
    with_many = _queries(count_queries, staff, url)

    assert with_one == with_many, (with_one, with_many)
    assert with_many <= 10, with_many
