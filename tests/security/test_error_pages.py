"""Error pages 400, 403, 404, 405, 413, 429 and 500 in Arabic (right to left) and French (left to
right), with their translated titles; htmx gets the same message as a fragment (ASVS 7.4.1)."""

from __future__ import annotations

import pytest
from flask import abort
from markupsafe import escape

from tests.security.conftest import client_as, tags_of, translated

# The English sources of portal/web/errors.py TITLES: the page must show their translation.
TITLES = {
    400: "The request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "This action is not possible here",
    413: "The file is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}
DIRECTIONS = {"ar": "rtl", "fr": "ltr"}
SIGN_IN_LIMIT = 30  # @limiter.limit("30 per minute", methods=["POST"]) on accounts.sign_in


def _visitor(app, locale: str):
    """A visitor's client; French is chosen with the language cookie, Arabic is the default."""
    client = client_as(app, None)
    if locale != "ar":
        client.set_cookie("locale", locale)
    return client


def _raise_in_a_view(app_factory, code: int, **settings):
    """An app with one extra route that fails with `code` (500: an unexpected exception)."""
    app = app_factory(**settings)

    def failing_view():
        if code == 500:
            raise RuntimeError("an unexpected failure")
        abort(code)

    app.add_url_rule("/failing", "failing", failing_view)
    return app, "/failing"


def _error_response(app_factory, code: int, locale: str):
    """Make the portal answer `code` the way it happens for real; return (app, response)."""
    if code == 400:
        app, url = _raise_in_a_view(app_factory, 400)
        return app, _visitor(app, locale).get(url)
    if code == 500:
        app, url = _raise_in_a_view(app_factory, 500, PROPAGATE_EXCEPTIONS=False, TESTING=False)
        return app, _visitor(app, locale).get(url)
    if code == 403:
        from tests import factories

        app = app_factory()
        with app.app_context():
            applicant = factories.UserFactory(roles=("applicant",), locale=locale)
            return app, client_as(app, applicant).get("/staff/associations")
    if code == 404:
        app = app_factory()
        return app, _visitor(app, locale).get("/no-such-page")
    if code == 405:
        app = app_factory()
        return app, _visitor(app, locale).get("/account/sign-out")
    if code == 413:
        app = app_factory(MAX_CONTENT_LENGTH=10)
        return app, _visitor(app, locale).post("/account/sign-in", data={"email": "x" * 50})
    if code == 429:
        app = app_factory(RATELIMIT_ENABLED=True)
        client = _visitor(app, locale)
        for _attempt in range(SIGN_IN_LIMIT):
            assert client.post("/account/sign-in", data={}).status_code != 429
        return app, client.post("/account/sign-in", data={})
    raise AssertionError(code)


@pytest.mark.parametrize("locale", ["ar", "fr"])
@pytest.mark.parametrize("code", sorted(TITLES))
def test_error_page_is_in_the_visitors_language_and_direction(app_factory, code, locale):
    """Each error is a full page with lang, dir and the translated title and heading."""
    app, response = _error_response(app_factory, code, locale)
    assert response.status_code == code
    body = response.get_data(as_text=True)
    with app.app_context():
        title = str(escape(translated(locale, TITLES[code])))
    html = next(attrs for tag, attrs, _text in tags_of(body) if tag == "html")
    assert html == {"lang": locale, "dir": DIRECTIONS[locale]}
    assert f"<h1>{title}</h1>" in body
    assert f"<title>{title}" in body
    assert "Traceback" not in body and "RuntimeError" not in body


def test_method_not_allowed_names_the_allowed_methods(app_factory):
    """A 405 page keeps the Allow header a client needs."""
    app, response = _error_response(app_factory, 405, "ar")
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("locale", ["ar", "fr"])
@pytest.mark.parametrize("code", [403, 404])
def test_htmx_error_is_a_fragment_for_the_alert_region(app_factory, code, locale):
    """htmx gets the message swapped into #htmx-alerts, not a whole page inside a fragment."""
    from tests import factories

    app = app_factory()
    with app.app_context():
        user = factories.UserFactory(roles=("applicant",), locale=locale)
        client = client_as(app, user)
        url = "/staff/associations" if code == 403 else "/associations/999999"
        response = client.get(url, headers={"HX-Request": "true"})
        title = str(escape(translated(locale, TITLES[code])))
    assert response.status_code == code
    assert response.headers["HX-Retarget"] == "#htmx-alerts"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert title in body
    assert 'role="alert"' in body
