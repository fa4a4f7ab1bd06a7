"""Sign-in with lockout, sign-out, fresh sessions, cookie flags and safe redirects."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale, format_time, gettext
from sqlalchemy import select

from portal.accounts.models import SignInThrottle
from portal.db import utcnow
from portal.extensions import db
from tests.accounts.helpers import (
    PRODUCTION,
    events,
    fresh,
    is_signed_in,
    main_of,
    row_counts,
    shows,
    translated,
)
from tests.conftest import sign_in
from tests.factories import TEST_PASSWORD, UserFactory

SIGN_IN = "/account/sign-in"
WRONG = "E-mail address or password is not correct."
LOCKED = "Too many failed attempts. Try again after %(time)s, or reset your password."
NEW_PASSWORD = "a brand new passphrase"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def user(app, cheap_hashing):
    """An account with a known password."""
    return UserFactory(email="nadia@example.org", password_hash=cheap_hashing(TEST_PASSWORD))


def submit_sign_in(client, email="nadia@example.org", password=TEST_PASSWORD, **kwargs):
    """Send the sign-in form."""
    return client.post(SIGN_IN, data={"email": email, "password": password}, **kwargs)


def throttle(email: str) -> SignInThrottle | None:
    """Return the failed sign-in record of an address."""
    db.session.expire_all()
    return db.session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))


def locked_message(until) -> str:
    """Return the lockout message as an Arabic visitor reads it."""
    with force_locale("ar"):
        return gettext(LOCKED, time=format_time(until, "short"))


def copy_session(client, app):
    """Return a second client holding a copy of this client's session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


# --- sign-in --------------------------------------------------------------------------------


def test_correct_credentials_open_a_session(client, user):
    """ASVS 2.1, 3.2.1: the right password signs in and the event is recorded."""
    response = submit_sign_in(client)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert is_signed_in(client)
    assert fresh(user).last_sign_in_at is not None
    [event] = events("account.signed_in")
    assert event.actor_id == user.id


def test_email_is_matched_without_case(client, user):
    """The address typed with capitals reaches the same account."""
    assert submit_sign_in(client, email="Nadia@EXAMPLE.org").status_code == 303


def test_wrong_password_is_refused_with_a_message(client, user):
    """ASVS 2.2.1: 401, a clear message, no session, no sign-in event."""
    response = submit_sign_in(client, password="not the right password")

    assert response.status_code == 401
    assert shows(response, translated("ar", WRONG))
    assert not is_signed_in(client)
    assert events("account.signed_in") == []


def test_unknown_address_gets_the_same_answer_as_a_wrong_password(app, user):
    """ASVS 2.2.1, 3.2 — CHECKLIST S13: the answer does not reveal whether the account exists."""
    known = submit_sign_in(app.test_client(), password="not the right password")
    unknown = submit_sign_in(app.test_client(), email="nobody@example.org")

    assert unknown.status_code == known.status_code == 401
    assert main_of(unknown, "nobody@example.org") == main_of(known, "nadia@example.org")


def test_disabled_account_cannot_sign_in(client, cheap_hashing):
    """ASVS 2.2: a disabled account gets the same refusal as a wrong password."""
    UserFactory(
        email="nadia@example.org", is_enabled=False, password_hash=cheap_hashing(TEST_PASSWORD)
    )

    response = submit_sign_in(client)

    assert response.status_code == 401
    assert shows(response, translated("ar", WRONG))
    assert not is_signed_in(client)


# --- lockout --------------------------------------------------------------------------------


def fail(client, times: int, email="nadia@example.org"):
    """Send wrong passwords; return the status codes."""
    responses = [submit_sign_in(client, email=email, password="wrong guess") for _ in range(times)]
    return [response.status_code for response in responses]


def test_sign_in_is_locked_after_five_failures_even_with_the_right_password(app, client, user):
    """ASVS 2.2.1 — CHECKLIST S13: LOGIN_MAX_FAILURES failures lock the address."""
    assert app.config["LOGIN_MAX_FAILURES"] == 5
    assert fail(client, 5) == [401] * 5
    before = row_counts()

    response = submit_sign_in(client)

    assert response.status_code == 429
    until = throttle("nadia@example.org").locked_until
    assert shows(response, locked_message(until))
    assert not is_signed_in(client)
    assert row_counts() == before


def test_lock_lasts_login_lock_minutes(app, client, user):
    """ASVS 2.2.1: the lock ends LOGIN_LOCK_MINUTES after the last failure."""
    started = utcnow()
    fail(client, 5)

    until = throttle("nadia@example.org").locked_until

    minutes = timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"])
    assert started + minutes <= until <= utcnow() + minutes


def test_lock_lifts_once_its_time_has_passed(client, user):
    """ASVS 2.2.1: after the lock, the right password works again and the count restarts."""
    fail(client, 5)
    row = throttle("nadia@example.org")
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert fail(client, 1) == [401]
    assert submit_sign_in(client).status_code == 303
    assert is_signed_in(client)


def test_unknown_address_is_locked_like_a_known_one(app, user):
    """CHECKLIST S13: locking only real accounts would reveal which ones exist."""
    assert fail(app.test_client(), 6, email="nobody@example.org")[-1] == 429
    assert fail(app.test_client(), 6)[-1] == 429


def test_successful_sign_in_resets_the_failure_count(client, user):
    """Four mistakes, a success, then four more: never locked."""
    fail(client, 4)
    assert submit_sign_in(client).status_code == 303

    assert fail(client, 4) == [401] * 4


def test_lock_of_one_address_does_not_lock_another(app, user):
    """The lock is per address: an attacker cannot lock everybody out at once."""
    UserFactory(email="omar@example.org", password_hash=user.password_hash)
    fail(app.test_client(), 5)

    assert submit_sign_in(app.test_client(), email="omar@example.org").status_code == 303


# --- sessions -------------------------------------------------------------------------------


def test_sign_in_starts_a_fresh_session(client, user):
    """ASVS 3.2.1 — CHECKLIST S12: nothing planted in the visitor's session survives sign-in."""
    with client.session_transaction() as stored:
        stored["planted"] = "by an attacker"
    before = client.get_cookie("session").value

    submit_sign_in(client)

    assert client.get_cookie("session").value != before
    with client.session_transaction() as stored:
        assert "planted" not in stored
        assert "_user_id" in stored


def test_sign_out_ends_every_copy_of_the_session(app, login_as):
    """ASVS 3.3.1 — CHECKLIST S12: a cookie copied before sign-out stops working."""
    client, user = login_as("applicant")
    copy = copy_session(client, app)
    assert is_signed_in(copy)

    response = client.post("/account/sign-out")

    assert response.status_code == 303
    assert not is_signed_in(client)
    replayed = copy.get("/account")
    assert replayed.status_code == 302
    assert urlsplit(replayed.headers["Location"]).path == SIGN_IN
    assert fresh(user).session_version == 2
    [event] = events("account.signed_out")
    assert event.actor_id == user.id


def test_sign_out_without_csrf_token_is_refused(login_as):
    """ASVS 4.2.2 — CHECKLIST S09: a forged sign-out link cannot end the session."""
    client, user = login_as("applicant")

    assert client.post("/account/sign-out", csrf=False).status_code == 400
    assert is_signed_in(client)
    assert fresh(user).session_version == 1


def test_password_change_ends_other_sessions_but_keeps_this_one(app, login_as, cheap_hashing):
    """ASVS 3.3.3 — CHECKLIST S12: other devices are signed out after a password change."""
    client, user = login_as("applicant", password_hash=cheap_hashing(TEST_PASSWORD))
    other_device = sign_in(app.test_client(), user)

    response = client.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert response.status_code == 303
    page = client.get("/account")
    assert page.status_code == 200
    assert not is_signed_in(other_device)
    assert shows(page, translated("ar", "Your password is changed. Other sessions are signed out."))
    [event] = events("account.password_changed")
    assert event.object_id == user.id


@pytest.mark.parametrize(
    ("current", "new", "message", "values"),
    [
        ("not my password", NEW_PASSWORD, "The current password is not correct.", {}),
        (TEST_PASSWORD, "too short", "Use at least %(n)d characters.", {"n": 12}),
        (
            TEST_PASSWORD,
            "qwerty123456",
            "This password is among the most used ones; choose another.",
            {},
        ),
    ],
    ids=["wrong current", "too short", "common"],
)
def test_refused_password_change_changes_nothing(
    app, login_as, cheap_hashing, current, new, message, values
):
    """ASVS 2.1.6: the current password is required; the new one follows the policy."""
    client, user = login_as("applicant", password_hash=cheap_hashing(TEST_PASSWORD))
    other_device = sign_in(app.test_client(), user)
    old_hash = user.password_hash
    before = row_counts()

    response = client.post(
        "/account/password", data={"current_password": current, "password": new, "confirm": new}
    )

    assert response.status_code == 422
    assert shows(response, translated("ar", message, **values))
    assert fresh(user).password_hash == old_hash
    assert row_counts() == before
    assert is_signed_in(other_device)


# --- cookies --------------------------------------------------------------------------------


def session_cookie_header(response, name: str) -> str:
    """Return the Set-Cookie header of the named cookie."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    return header


def test_session_cookie_is_httponly_and_samesite_lax(client, user):
    """ASVS 3.4.2, 3.4.3 — CHECKLIST S11."""
    header = session_cookie_header(submit_sign_in(client), "session")

    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_session_cookie_is_secure_with_host_prefix_in_production(app_factory, user):
    """ASVS 3.4.1, 3.4.4 — CHECKLIST S11: Secure, `__Host-` prefix, path /, no domain."""
    production = app_factory(**PRODUCTION)
    client = production.test_client()

    response = client.post(
        SIGN_IN,
        data={"email": "nadia@example.org", "password": TEST_PASSWORD},
        base_url="https://localhost",
        # Flask-WTF checks the referrer of HTTPS form posts, as a browser sends it.
        headers={"Referer": "https://localhost/account/sign-in"},
    )

    assert response.status_code == 303
    header = session_cookie_header(response, "__Host-session")
    attributes = {part.strip().split("=")[0] for part in header.split(";")}
    assert {"Secure", "HttpOnly", "Path"} <= attributes
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Domain" not in attributes


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
    ],
)
@pytest.mark.parametrize("where", ["query", "form"])
def test_sign_in_redirects_only_inside_the_portal(client, user, target, where):
    """ASVS 5.1.5 — CHECKLIST S18: an open redirect after sign-in is not possible."""
    if where == "query":
        response = submit_sign_in(client, query_string={"next": target})
    else:
        response = client.post(
            SIGN_IN,
            data={"email": "nadia@example.org", "password": TEST_PASSWORD, "next": target},
        )

    location = response.headers["Location"]
    assert response.status_code == 303
    assert location == "/account"


def test_sign_in_follows_a_local_next_page(client, user):
    """The page that asked for sign-in is where the user lands."""
    response = submit_sign_in(client, query_string={"next": "/account/password"})

    assert response.headers["Location"] == "/account/password"


def test_sign_in_page_keeps_a_local_next_in_its_form(client):
    """Anonymous visitors sent to sign-in come back to the page they wanted."""
    redirected = client.get("/account/password")
    sign_in_page = client.get(redirected.headers["Location"])

    assert 'name="next" value="/account/password"' in sign_in_page.get_data(as_text=True)


# --- logs -----------------------------------------------------------------------------------


def test_logs_of_sign_in_hold_no_password(client, user, caplog):
    """ASVS 7.1.1 — CHECKLIST S21: neither a right nor a wrong password reaches the logs."""
    caplog.set_level(logging.DEBUG)

    submit_sign_in(client, password="a wrong secret guess")
    submit_sign_in(client)
    fail(client, 6)

    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert TEST_PASSWORD not in logged
    assert "a wrong secret guess" not in logged
    assert "wrong guess" not in logged
