"""Language: Arabic (right to left) by default, French on request, remembered for each person."""

from __future__ import annotations

import re

import pytest

from tests.accounts.helpers import PRODUCTION, fresh, shows, translated
from tests.conftest import sign_in

HOME = "/"


def html_tag(response) -> str:
    """Return the opening <html> tag of a page."""
    return re.search(r"<html[^>]*>", response.get_data(as_text=True)).group(0)


def locale_cookie_header(response) -> str | None:
    """Return the Set-Cookie header of the language cookie, if the response sets it."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("locale=")]
    return headers[0] if headers else None


def switch(client, locale: str, next_url: str = HOME, **kwargs):
    """Press the language switcher."""
    return client.post(f"/language/{locale}", data={"next": next_url}, **kwargs)


def test_default_language_is_arabic_right_to_left(client):
    """Issue 3: Arabic is the default, laid out right to left."""
    page = client.get(HOME)

    assert html_tag(page) == '<html lang="ar" dir="rtl">'
    assert shows(page, translated("ar", "Sign in"))


def test_visitor_switch_is_remembered_in_a_cookie(client):
    """The switcher sets a cookie; the next page is French, left to right."""
    response = switch(client, "fr")

    assert response.status_code == 303
    assert response.headers["Location"] == HOME
    cookie = locale_cookie_header(response)
    assert cookie.startswith("locale=fr;")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    page = client.get(HOME)
    assert html_tag(page) == '<html lang="fr" dir="ltr">'
    assert shows(page, translated("fr", "Sign in"))


def test_visitor_can_switch_back_to_arabic(client):
    """The switcher works both ways."""
    switch(client, "fr")

    switch(client, "ar")

    assert html_tag(client.get(HOME)) == '<html lang="ar" dir="rtl">'


def test_switch_returns_to_the_page_it_was_pressed_on(client):
    """The visitor stays on the page, query string included."""
    response = switch(client, "fr", next_url="/account/sign-in?next=%2Faccount")

    assert response.headers["Location"] == "/account/sign-in?next=%2Faccount"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/"])
def test_switch_redirects_only_inside_the_portal(client, target):
    """ASVS 5.1.5 — CHECKLIST S18."""
    response = switch(client, "fr", next_url=target)

    assert response.headers["Location"] == HOME


def test_signed_in_users_choice_is_saved_on_the_account(app, login_as):
    """The choice follows the user to another device, which has no cookie."""
    client, user = login_as("applicant")

    switch(client, "fr")

    assert fresh(user).locale == "fr"
    other_device = sign_in(app.test_client(), fresh(user))
    assert html_tag(other_device.get(HOME)) == '<html lang="fr" dir="ltr">'


def test_accounts_language_wins_over_a_visitor_cookie(login_as):
    """A signed-in user sees the language saved on the account."""
    client, _user = login_as("applicant", locale="fr")
    client.set_cookie("locale", "ar")

    assert html_tag(client.get("/account")) == '<html lang="fr" dir="ltr">'


@pytest.mark.parametrize("csrf", [False, "forged-token"], ids=["missing", "forged"])
def test_switch_without_a_valid_csrf_token_is_refused_and_changes_nothing(login_as, csrf):
    """ASVS 4.2.2 — CHECKLIST S09: 400; no cookie; the account keeps its language."""
    client, user = login_as("applicant")

    response = switch(client, "fr", csrf=csrf)

    assert response.status_code == 400
    assert locale_cookie_header(response) is None
    assert fresh(user).locale == "ar"
    assert html_tag(client.get(HOME)) == '<html lang="ar" dir="rtl">'


def test_visitor_switch_without_csrf_token_is_refused(client):
    """ASVS 4.2.2 — CHECKLIST S09."""
    response = switch(client, "fr", csrf=False)

    assert response.status_code == 400
    assert locale_cookie_header(response) is None
    assert html_tag(client.get(HOME)) == '<html lang="ar" dir="rtl">'


@pytest.mark.parametrize("locale", ["de", "en", "xx", "ar_MA"])
def test_unknown_language_is_ignored(login_as, locale):
    """Only the languages with a catalogue can be chosen."""
    client, user = login_as("applicant", locale="fr")

    response = switch(client, locale)

    assert response.status_code in {302, 303}
    assert locale_cookie_header(response) is None
    assert fresh(user).locale == "fr"
    assert html_tag(client.get(HOME)) == '<html lang="fr" dir="ltr">'


def test_unknown_language_in_the_cookie_falls_back_to_arabic(client):
    """A hand-edited cookie cannot select a language the portal does not have."""
    client.set_cookie("locale", "de")

    assert html_tag(client.get(HOME)) == '<html lang="ar" dir="rtl">'


def test_language_cookie_is_secure_in_production(app_factory, app):
    """ASVS 3.4.1: in production every cookie the portal sets is Secure."""
    production = app_factory(**PRODUCTION)
    client = production.test_client()

    response = switch(
        client,
        "fr",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/"},
    )

    assert response.status_code == 303
    assert "Secure" in locale_cookie_header(response)
