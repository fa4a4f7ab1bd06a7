"""Public results: the calls with published results and each call's funded projects with their
totals per lot and per axis, for visitors, showing nothing of reserve or rejected applicants."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from portal.applications.services import start_application
from portal.extensions import db
from portal.kept import Kept, latest_token
from portal.results.kept_results import FIGURES
from portal.results.models import Decision
from portal.results.public import call_results
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
    """Count the queries of a request (after a warm-up); results kept by the warm-up are
    dropped, so that it counts computing them."""
    client.get(url)  # warm up: the first request of a client loads its session and locale
    Kept.forget_all()
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


# --- kept between requests: every write that changes what the results show records a new
# token in its own transaction; a draft's autosave records nothing --------------------------


def results_token() -> str | None:
    return latest_token(db.session, FIGURES)


def test_the_same_results_are_served_while_nothing_changes(world):
    first = call_results(db.session, world.call)

    assert call_results(db.session, world.call) is first


def test_a_changed_award_shows_on_the_kept_results_and_open_data(world, client):
    url = url_for("results.public_call", code=world.call.code)
    client.get(url)
    client.get(url_for("results.open_data", fmt="csv"))
    decision = db.session.scalar(select(Decision).where(Decision.application_id == world.funded.id))

    decision.amount_awarded = 123_456
    db.session.commit()

    assert call_results(db.session, world.call).total == 123_456
    csv_body = client.get(url_for("results.open_data", fmt="csv")).get_data(as_text=True)
    assert "123456" in csv_body


def test_a_renamed_association_shows_on_the_kept_results_and_open_data(world, client):
    client.get(url_for("results.public_call", code=world.call.code))
    client.get(url_for("results.open_data", fmt="json"))

    world.funded.association.name_ar = "جمعية باسم جديد"
    db.session.commit()

    page = client.get(url_for("results.public_call", code=world.call.code)).get_data(as_text=True)
    assert "جمعية باسم جديد" in page
    grants = client.get(url_for("results.open_data", fmt="json")).get_json()["grants"]
    assert grants[0]["recipientOrganization"][0]["name_ar"] == "جمعية باسم جديد"


def test_a_drafts_autosave_records_no_change_to_the_results(world):
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner)
    draft = start_application(db.session, factories.published_call(), association, actor=owner)
    db.session.commit()
    before = results_token()

    draft.title_ar = "عنوان يكتب الآن"
    db.session.commit()

    assert results_token() == before is not None


def test_the_kept_open_data_is_the_computed_open_data(world, client):
    kept = client.get(url_for("results.open_data", fmt="csv")).get_data(as_text=True)
    Kept.forget_all()

    assert client.get(url_for("results.open_data", fmt="csv")).get_data(as_text=True) == kept
    assert world.funded.title_ar in kept
