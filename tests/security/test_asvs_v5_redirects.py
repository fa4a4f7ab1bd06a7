"""Redirects and forwards, OWASP ASVS 4.0.3 5.1.5 (level 1 and 2) — CHECKLIST S18: every place
that reads a `next` (or a page to come back to) sends the browser only to a page of the portal,
whatever an attacker puts there.

The places: sign-in (query and form), the sign-in's code step, the recovery codes shown after
turning two-factor sign-in on (their "continue" link), the language switch, cancelling a training
place, the redirect of a visitor to sign-in and the end of a session past its limit (both take
the page from htmx's HX-Current-URL or the browser's Referer).

tests/accounts/test_sessions.py and tests/accounts/test_two_factor.py hold a few of these values
for sign-in and the code step; here every value goes through every place.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from portal.accounts import session_limits
from portal.db import utcnow
from tests import factories
from tests.accounts.test_two_factor import enrol, enrolment_secret
from tests.conftest import TEST_PASSWORD
from tests.security.conftest import client_as, tags_of

HOSTILE = [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "\\/\\/evil.example",
    "%2F%2Fevil.example",
    " //evil.example",
    "/%09/evil.example",
    "/\t/evil.example",  # what arrives when the link said /%09/evil.example
    "///evil.example",
    "https:/evil.example",
    "/\r\nSet-Cookie: planted=1",
]
HOSTILE_IDS = [repr(value) for value in HOSTILE]
C0_AND_SPACE = "".join(map(chr, range(0x21)))
SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
# Hostile values that are, once a browser has read them, paths on the portal itself.
PATHS_ON_THE_PORTAL = {"%2F%2Fevil.example", "/%09/evil.example", "/\r\nSet-Cookie: planted=1"}


def stays_on_the_portal(target: str | None) -> bool:
    """Tell whether a browser sent to `target` from a page of the portal stays on it.

    Read as browsers read a URL: tabs and line breaks dropped, leading and trailing control
    characters and spaces trimmed, a backslash taken for a slash, any number of leading slashes
    taken for the start of a host. A scheme followed by anything but `//localhost` is refused.
    """
    if target is None:
        return True
    cleaned = re.sub(r"[\t\n\r]", "", target).strip(C0_AND_SPACE).replace("\\", "/")
    if cleaned.startswith("//"):
        return cleaned.lstrip("/").split("/")[0] == "localhost"
    if SCHEME.match(cleaned):
        parts = urlsplit(cleaned)
        after_scheme = cleaned[len(parts.scheme) + 1 :]
        return (
            parts.scheme in ("http", "https")
            and after_scheme.startswith("//")
            and parts.netloc == "localhost"
        )
    return True


def assert_local_redirect(response) -> None:
    """The answer redirects (or tells htmx to go) to a page of the portal; so does its `next`."""
    assert response.status_code in (204, 302, 303, 401), response.status_code
    target = response.headers.get("HX-Redirect") or response.headers["Location"]
    assert stays_on_the_portal(target), target
    for carried in parse_qs(urlsplit(target).query).get("next", []):
        assert stays_on_the_portal(carried), carried


@pytest.fixture
def user(app):
    return factories.UserFactory(email="hind@example.org")


def test_the_check_tells_every_hostile_target_from_a_local_one():
    """The check used below would catch each hostile value, had a place let it through."""
    for value in HOSTILE:
        assert stays_on_the_portal(value) is (value in PATHS_ON_THE_PORTAL), repr(value)
    assert stays_on_the_portal("/account/password?tab=1")
    assert stays_on_the_portal("https://localhost/account")
    assert not stays_on_the_portal("https://localhost@evil.example/")


# --- sign-in and its code step ---------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
@pytest.mark.parametrize("where", ["query", "form"])
def test_sign_in_redirects_only_inside_the_portal(app, user, value, where):
    client = client_as(app, None)
    data = {"email": user.email, "password": TEST_PASSWORD}
    if where == "form":
        response = client.post("/account/sign-in", data={**data, "next": value})
    else:
        response = client.post("/account/sign-in", data=data, query_string={"next": value})

    assert response.status_code == 303
    assert_local_redirect(response)


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_the_code_step_redirects_only_inside_the_portal(app, user, value):
    totp, _codes = enrol(user)
    client = client_as(app, None)
    client.post(
        "/account/sign-in", data={"email": user.email, "password": TEST_PASSWORD, "next": value}
    )

    response = client.post("/account/sign-in/code", data={"code": totp.now(), "next": value})

    assert response.status_code == 303
    assert_local_redirect(response)


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_the_recovery_codes_page_continues_only_inside_the_portal(app, user, value):
    client = client_as(app, user)
    client.get("/account/two-factor", query_string={"next": value})
    code = pyotp.TOTP(enrolment_secret(client)).now()

    page = client.post("/account/two-factor", data={"code": code, "next": value})

    assert page.status_code == 200
    [href] = [
        attrs["href"]
        for tag, attrs, _text in tags_of(page.get_data(as_text=True))
        if tag == "a" and attrs.get("class") == "button"
    ]
    assert stays_on_the_portal(href), href


# --- the language switch and a training place ------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed in"])
def test_the_language_switch_goes_back_only_inside_the_portal(app, user, value, signed_in):
    client = client_as(app, user if signed_in else None)

    response = client.post("/language/fr", data={"next": value})

    assert response.status_code in (302, 303)
    assert_local_redirect(response)


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_cancelling_a_training_place_goes_back_only_inside_the_portal(app, user, value):
    association = factories.AssociationFactory(owner=user)
    enrolment = factories.training_enrolment(factories.training_session(), association)
    client = client_as(app, user)

    response = client.post(f"/training/enrolments/{enrolment.id}/cancel", data={"next": value})

    assert response.status_code == 303
    assert_local_redirect(response)


# --- pages to come back to, read from headers ------------------------------------------------

# What a hostile page could make htmx or the browser send as the page the user is on.
HOSTILE_PAGES = [
    "https://evil.example/account",
    "https://evil.example/localhost//evil.example",
    "https://localhost.evil.example/account",
    "//evil.example",
    "https://localhost//evil.example",
    "https://localhost/\\evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("page", HOSTILE_PAGES)
def test_a_visitor_sent_to_sign_in_by_htmx_comes_back_only_inside_the_portal(app, page):
    client = client_as(app, None)

    response = client.get("/account", headers={"HX-Request": "true", "HX-Current-URL": page})

    assert response.status_code == 401
    assert_local_redirect(response)


@pytest.mark.parametrize("page", HOSTILE_PAGES)
@pytest.mark.parametrize("header", ["HX-Current-URL", "Referer"])
def test_a_session_ended_by_its_limit_comes_back_only_inside_the_portal(
    app, user, monkeypatch, page, header
):
    client = client_as(app, None)
    client.post("/account/sign-in", data={"email": user.email, "password": TEST_PASSWORD})
    later = utcnow() + timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    monkeypatch.setattr(session_limits, "utcnow", lambda: later)
    headers = {header: page}
    if header == "HX-Current-URL":
        headers["HX-Request"] = "true"

    response = client.post("/account/password", headers=headers)

    assert_local_redirect(response)
    assert urlsplit(response.headers.get("HX-Redirect") or response.location).path == (
        "/account/sign-in"
    )
