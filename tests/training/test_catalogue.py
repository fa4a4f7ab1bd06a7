"""The public catalogue and session page: published sessions only, filters without JavaScript,
htmx fragments, pagination, and drafts or cancelled sessions hidden from everyone but staff."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

import pytest
from flask import url_for
from markupsafe import Markup

from portal.db import utcnow
from portal.extensions import db
from portal.organisations.vocabulary import FIELDS_OF_WORK
from portal.training.models import SessionStatus
from tests import factories
from tests.conftest import shown, shown_plural


def test_the_catalogue_lists_published_sessions_to_come_only(client, make_session, make_module):
    module = make_module()
    make_session(module, city="Tanger")
    make_session(module, city="Tétouan", status=SessionStatus.DRAFT)
    make_session(module, city="Nador", status=SessionStatus.CANCELLED)
    past = date.today() - timedelta(days=10)
    make_session(module, city="Safi", starts_on=past, ends_on=past)

    page = client.get(url_for("training.catalogue")).get_data(as_text=True)

    assert "Tanger" in page
    assert not {"Tétouan", "Nador", "Safi"} & set(page.split())


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"language": "fr"}, "Tanger"),
        ({"region": "oriental"}, "Oujda"),
        ({"seats_left": "y"}, "Tanger"),
    ],
)
def test_the_catalogue_filters_by_query_string_without_javascript(
    client, make_session, make_module, arguments, expected
):
    module = make_module()
    make_session(module, city="Tanger", language="fr")
    full = make_session(module, city="Oujda", region=factories.region("oriental"), capacity=2)
    full.seats_taken = 2

    db.session.commit()

    page = client.get(url_for("training.catalogue", **arguments)).get_data(as_text=True)

    others = {"Tanger", "Oujda"} - {expected}
    assert expected in page
    assert not any(city in page for city in others)


def test_the_catalogue_filters_by_module_and_month(client, make_session, make_module):
    first, second = make_module(), make_module(title_fr="Les organes de traités")
    in_three_weeks = make_session(first, city="Tanger")
    later = in_three_weeks.starts_on + timedelta(days=70)
    make_session(second, city="Oujda", starts_on=later, ends_on=later)

    by_module = client.get(url_for("training.catalogue", module=second.id)).get_data(as_text=True)
    by_month = client.get(
        url_for("training.catalogue", month=in_three_weeks.starts_on.strftime("%Y-%m"))
    ).get_data(as_text=True)

    assert "Oujda" in by_module and "Tanger" not in by_module
    assert "Tanger" in by_month and "Oujda" not in by_month


def test_a_malformed_month_is_shown_as_an_error_and_filters_nothing(client, make_session):
    make_session(city="Tanger")

    page = client.get(url_for("training.catalogue", month="2026-13")).get_data(as_text=True)

    assert shown("Enter a month as YYYY-MM.") in page
    assert "Tanger" in page


def test_htmx_receives_only_the_session_list_fragment(client, make_session):
    make_session(city="Tanger")

    response = client.get(url_for("training.catalogue"), headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)

    assert page.lstrip().startswith('<div id="session-list">')
    assert "<html" not in page and "Tanger" in page
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_catalogue_is_paginated_by_ten(client, make_session, make_module):
    module = make_module()
    for number in range(12):
        make_session(module, city=f"Ville{number:02d}")

    first = client.get(url_for("training.catalogue")).get_data(as_text=True)
    second = client.get(url_for("training.catalogue", page=2)).get_data(as_text=True)

    assert shown_plural("%(num)d session", "%(num)d sessions", 12) in first
    assert shown("Page %(n)s of %(total)s", n=1, total=2) in first
    assert sum(f"Ville{number:02d}" in second for number in range(12)) == 2


def test_the_session_page_shows_times_place_seats_window_and_eligibility(app, client, make_session):
    training_session = make_session(
        capacity=20, eligible_fields=["womens-rights"], per_association_cap=3
    )
    training_session.seats_taken = 5

    db.session.commit()

    page = client.get(url_for("training.session_page", session_id=training_session.id)).get_data(
        as_text=True
    )

    assert "09:00–16:30" in page
    assert "Rabat" in page and "Maison des associations" in page
    assert shown_plural("%(num)d seat left", "%(num)d seats left", 15) in page
    assert shown("%(taken)s of %(capacity)s taken", taken=5, capacity=20) in page
    assert shown("Enrolment is open.") in page
    per_association = (
        "At most %(num)d participant per association",
        "At most %(num)d participants per association",
    )
    assert shown_plural(*per_association, 3) in page
    with app.test_request_context():  # the visitor's language: Arabic first
        field_of_work = escape(str(FIELDS_OF_WORK["womens-rights"]))
    assert field_of_work in page


def test_the_session_page_says_when_enrolment_is_closed(client, make_session):
    now = utcnow()
    training_session = make_session(
        enrolment_opens_at=now - timedelta(days=9), enrolment_closes_at=now - timedelta(days=2)
    )

    page = client.get(url_for("training.session_page", session_id=training_session.id)).get_data(
        as_text=True
    )

    assert shown("Enrolment is closed.") in page


@pytest.mark.parametrize("status", [SessionStatus.DRAFT, SessionStatus.CANCELLED])
def test_a_draft_or_cancelled_session_is_not_found_for_visitors_and_applicants(
    client, login_as, make_session, status
):
    training_session = make_session(status=status)
    url = url_for("training.session_page", session_id=training_session.id)
    applicant, _ = login_as("applicant")

    assert client.get(url).status_code == 404
    assert applicant.get(url).status_code == 404


@pytest.mark.parametrize("status", [SessionStatus.DRAFT, SessionStatus.CANCELLED])
def test_staff_see_a_draft_or_cancelled_session(login_as, make_session, status):
    training_session = make_session(status=status)
    staff, _ = login_as("staff")

    response = staff.get(url_for("training.session_page", session_id=training_session.id))

    assert response.status_code == 200
    warning = shown("Only staff see this session: it is %(status)s.", status="|").split("|")[0]
    assert warning in response.get_data(as_text=True)


def test_an_unknown_session_is_not_found(client):
    assert client.get(url_for("training.session_page", session_id=999_999)).status_code == 404


@pytest.mark.parametrize(("locale", "region_name"), [("ar", "الشرق"), ("fr", "L'Oriental")])
def test_a_session_s_region_is_named_in_the_page_s_language(
    client, make_session, locale, region_name
):
    make_session(city="Oujda", region=factories.region("oriental"))
    client.set_cookie("locale", locale)

    page = client.get(url_for("training.catalogue")).get_data(as_text=True)

    assert f"Oujda, Maison des associations ({Markup.escape(region_name)})" in page
