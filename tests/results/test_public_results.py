"""Public results: the calls with published results and each call's funded projects with their
totals per lot and per axis, for visitors, showing nothing of reserve or rejected applicants."""

from __future__ import annotations

import pytest
from flask import url_for

from portal.extensions import db
from tests import factories
from tests.conftest import shown
from tests.results.publishing_support import publish_now, published_awards, results_world


@pytest.fixture
def world(app):
    world = results_world("approved")
    publish_now(world)
    return world


def test_a_visitor_sees_the_calls_with_published_results(world, client):
    unpublished = results_world("approved")

    response = client.get(url_for("results.public_list"))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert url_for("results.public_call", code=world.call.code) in page
    assert url_for("results.public_call", code=unpublished.call.code) not in page


def test_a_visitor_sees_the_funded_projects_and_nothing_of_the_others(world, client):
    response = client.get(url_for("results.public_call", code=world.call.code))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="award-{world.funded.id}"' in page
    assert world.funded.title_ar in page and world.funded.association.name_ar in page
    for other in (world.reserve, world.rejected):
        assert f'id="award-{other.id}"' not in page
        assert other.title_ar not in page and other.association.name_ar not in page
    assert world.call.lots[0].title_ar in page
    assert shown("Per strategic axis (a project linked to several axes counts in each)") in page


def test_the_page_is_in_french_too(world, client):
    client.post(url_for("web.switch_language", locale="fr"))

    page = client.get(url_for("results.public_call", code=world.call.code)).get_data(as_text=True)

    assert "Projet financé" in page and 'dir="ltr"' in page


@pytest.mark.parametrize("status", ["draft", "submitted", "approved"])
def test_unpublished_results_are_not_found(app, client, status):
    world = results_world(status)

    assert client.get(url_for("results.public_call", code=world.call.code)).status_code == 404
    assert client.get(url_for("results.public_call", code="NO-SUCH-CALL")).status_code == 404


def test_totals_per_lot_and_per_axis(app, client):
    call = factories.closed_call()
    published_awards(call, 4)  # axes 1-2, 2-3, 3-4, 4

    from portal.results.public import call_results

    results = call_results(db.session, call)

    assert results.total == sum(50_000 + n for n in range(4))
    assert results.count == 4 and len(results.awards.items) == 4
    [lot] = results.by_lot
    assert (lot.count, lot.amount) == (4, results.total)
    by_axis = {total.key.number: (total.count, total.amount) for total in results.by_axis}
    assert by_axis[1] == (1, 50_000)
    assert by_axis[2] == (2, 50_000 + 50_001)
    assert by_axis[4] == (2, 50_002 + 50_003)


def _queries(count_queries, client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client loads its session and locale
    with count_queries() as counter:
        response = client.get(url)
        response.get_data()
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize("endpoint", ["results.public_call", "results.public_list"])
def test_the_public_pages_run_the_same_queries_for_10_and_200_awards(
    app, client, count_queries, endpoint
):
    call = factories.closed_call()
    published_awards(call, 10)
    url = (
        url_for(endpoint, code=call.code)
        if endpoint == "results.public_call"
        else (url_for(endpoint))
    )
    with_ten = _queries(count_queries, client, url)
    published_awards(call, 190, start=10)
    with_two_hundred = _queries(count_queries, client, url)

    assert with_ten == with_two_hundred, (with_ten, with_two_hundred)
    assert with_two_hundred <= 10, with_two_hundred
