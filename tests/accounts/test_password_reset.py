"""Password reset by e-mail: the same answer for every address, a single-use expiring link."""

from __future__ import annotations

import logging

import pytest

from portal.accounts import passwords, services
from portal.extensions import db
from tests.accounts.helpers import (
    altered,
    events,
    fresh,
    is_signed_in,
    link_in,
    main_of,
    outbox,
    path_of,
    post_with_host,
    row_counts,
    shows,
    translated,
)
from tests.conftest import sign_in
from tests.factories import TEST_PASSWORD, UserFactory

FORGOT = "/account/forgot-password"
NEW_PASSWORD = "a brand new passphrase"
INVALID = "This link is not valid or was already used."
EXPIRED = "This link has expired. Ask for a new one."

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def user(app, cheap_hashing):
    """An account with a known password."""
    return UserFactory(email="yasmine@example.org", password_hash=cheap_hashing(TEST_PASSWORD))


@pytest.fixture
def reset_path(client, user):
    """Ask for a reset link through the form and return its path."""
    client.post(FORGOT, data={"email": user.email})
    return path_of(link_in(outbox(user.email)[-1]))


def choose(client, path, password=NEW_PASSWORD, confirm=None):
    """Send the new-password form of a reset link."""
    return client.post(
        path, data={"password": password, "confirm": password if confirm is None else confirm}
    )


def sign_in_with(app, password, email="yasmine@example.org") -> int:
    """Send the sign-in form from a new browser; return the status."""
    response = app.test_client().post(
        "/account/sign-in", data={"email": email, "password": password}
    )
    return response.status_code


def test_known_and_unknown_addresses_get_the_same_page(app, user):
    """ASVS 2.5.7, 3.2 — CHECKLIST S13: the answer never tells whether an account exists."""
    known = app.test_client().post(FORGOT, data={"email": user.email})
    unknown = app.test_client().post(FORGOT, data={"email": "nobody@example.org"})

    assert known.status_code == unknown.status_code == 200
    assert main_of(known, user.email) == main_of(unknown, "nobody@example.org")
    [message] = outbox()
    assert message.recipient == user.email
    assert message.template == "reset_password"
    assert len(events("account.reset_requested")) == 1


def test_reset_email_is_written_in_the_users_language(client, cheap_hashing):
    """The message follows the account's language, not the visitor's."""
    UserFactory(email="luc@example.org", locale="fr")

    client.post(FORGOT, data={"email": "LUC@example.org"})

    [message] = outbox("luc@example.org")
    assert message.locale == "fr"
    assert message.subject == translated("fr", "Choose a new password")


def test_disabled_account_gets_no_reset_email(client):
    """A disabled account cannot be reopened through a reset link."""
    UserFactory(email="off@example.org", is_enabled=False)

    response = client.post(FORGOT, data={"email": "off@example.org"})

    assert response.status_code == 200
    assert outbox() == []


def test_reset_link_sets_the_new_password_and_signs_in(app, client, user, reset_path):
    """ASVS 2.5.1, 2.5.6: the e-mailed link lets the owner choose a new password."""
    assert client.get(reset_path).status_code == 200

    response = choose(client, reset_path)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert shows(page, translated("ar", "Your password is changed."))
    assert passwords.verify_password(fresh(user).password_hash, NEW_PASSWORD)
    [event] = events("account.password_reset")
    assert event.object_id == user.id


def test_old_password_stops_working_after_a_reset(app, client, user, reset_path):
    """ASVS 2.5.6: only the new password opens the account."""
    choose(client, reset_path)

    assert sign_in_with(app, TEST_PASSWORD) == 401
    assert sign_in_with(app, NEW_PASSWORD) == 303


def test_reset_link_works_once(app, client, user, reset_path):
    """ASVS 2.5.1: a used link is refused, on the page and on the form."""
    choose(client, reset_path)
    hash_after_reset = fresh(user).password_hash

    page = app.test_client().get(reset_path)
    again = choose(app.test_client(), reset_path, password="yet another passphrase")

    assert page.status_code == again.status_code == 400
    assert shows(page, translated("ar", INVALID))
    assert fresh(user).password_hash == hash_after_reset
    assert len(events("account.password_reset")) == 1


def test_older_link_stops_working_once_a_newer_one_is_used(client, user):
    """Every link sent before a reset is dead after it."""
    client.post(FORGOT, data={"email": user.email})
    client.post(FORGOT, data={"email": user.email})
    older, newer = (path_of(link_in(message)) for message in outbox(user.email))

    choose(client, newer)

    assert client.get(older).status_code == 400


def test_reset_ends_every_other_session(app, user, reset_path):
    """ASVS 3.3.3 — CHECKLIST S12: a thief's copied session ends with the reset."""
    thief = sign_in(app.test_client(), user)
    assert is_signed_in(thief)

    choose(app.test_client(), reset_path)

    assert not is_signed_in(thief)


@pytest.mark.parametrize(
    ("password", "confirm", "message", "values"),
    [
        ("too short", None, "Use at least %(n)d characters.", {"n": 12}),
        ("r" * 129, None, "Use at most %(n)d characters.", {"n": 128}),
        ("qwerty123456", None, "This password is among the most used ones; choose another.", {}),
        (NEW_PASSWORD, NEW_PASSWORD + "?", "The two passwords differ.", {}),
    ],
    ids=["11 chars", "129 chars", "common", "differ"],
)
def test_weak_new_password_is_refused_and_the_link_stays_usable(
    client, user, reset_path, password, confirm, message, values
):
    """ASVS 2.1.1, 2.1.7 — CHECKLIST S14: refused with its reason; hash unchanged."""
    old_hash = user.password_hash
    before = row_counts()

    response = choose(client, reset_path, password=password, confirm=confirm)

    assert response.status_code == 422
    assert shows(response, translated("ar", message, **values))
    assert fresh(user).password_hash == old_hash
    assert row_counts() == before
    assert not is_signed_in(client)
    assert choose(client, reset_path).status_code == 303


def test_expired_link_is_refused(app, client, user, reset_path, token_clock):
    """ASVS 2.5.1, 2.3.1: a reset link lives RESET_TOKEN_MAX_AGE seconds (one hour)."""
    token_clock(app.config["RESET_TOKEN_MAX_AGE"] + 1)
    before = row_counts()

    page = client.get(reset_path)
    sent = choose(client, reset_path)

    assert page.status_code == sent.status_code == 400
    assert shows(page, translated("ar", EXPIRED))
    assert shows(sent, translated("ar", EXPIRED))
    assert fresh(user).password_hash == user.password_hash
    assert row_counts() == before


def test_altered_link_is_refused(client, user, reset_path):
    """ASVS 2.5.1: the token's signature covers every character."""
    prefix, token = reset_path.rsplit("/", 1)

    response = choose(client, f"{prefix}/{altered(token)}")

    assert response.status_code == 400
    assert shows(response, translated("ar", INVALID))
    assert fresh(user).password_hash == user.password_hash


def test_verification_link_cannot_reset_a_password(client, user):
    """ASVS 2.5.1: a token for one purpose is refused for another."""
    services.send_verification(db.session, user)
    db.session.commit()
    token = link_in(outbox(user.email)[-1]).rsplit("/", 1)[1]

    assert choose(client, f"/account/reset/{token}").status_code == 400
    assert fresh(user).password_hash == user.password_hash


def test_reset_confirms_an_unverified_address(client, cheap_hashing):
    """The link reached the inbox, which proves the address."""
    user = UserFactory(email="new@example.org", email_verified_at=None)
    client.post(FORGOT, data={"email": user.email})

    choose(client, path_of(link_in(outbox(user.email)[-1])))

    assert fresh(user).is_verified


def test_reset_lifts_a_sign_in_lock(app, client, user, reset_path):
    """A locked-out owner gets back in through the e-mail, as the lock message suggests."""
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        sign_in_with(app, "a wrong guess!")
    assert sign_in_with(app, TEST_PASSWORD) == 429

    choose(client, reset_path)

    assert sign_in_with(app, NEW_PASSWORD) == 303


def test_reset_link_uses_the_configured_host_not_the_request_host(client, user):
    """ASVS 5.1.5 — CHECKLIST S19: `Host: evil.example` does not reach the e-mail."""
    response = post_with_host(client, "evil.example", FORGOT, data={"email": user.email})

    assert response.status_code == 200
    [message] = outbox(user.email)
    assert link_in(message).startswith("https://shiraka.test/account/reset/")
    assert "evil.example" not in message.body_text
    assert "evil.example" not in message.body_html


def test_forgot_password_without_csrf_token_sends_nothing(client, user):
    """ASVS 4.2.2 — CHECKLIST S09."""
    response = client.post(FORGOT, data={"email": user.email}, csrf=False)

    assert response.status_code == 400
    assert outbox() == []


def test_logs_of_a_reset_hold_no_token_and_no_password(client, user, caplog):
    """ASVS 7.1.1 — CHECKLIST S21: reset links and passwords are never logged."""
    caplog.set_level(logging.DEBUG)

    client.post(FORGOT, data={"email": user.email})
    path = path_of(link_in(outbox(user.email)[-1]))
    token = path.rsplit("/", 1)[1]
    choose(client, path, password="short")
    choose(client, path)
    client.get(path)

    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert token not in logged
    assert NEW_PASSWORD not in logged
    assert TEST_PASSWORD not in logged
