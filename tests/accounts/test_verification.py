"""E-mail verification by a signed, expiring, single-use link built from the trusted host."""

from __future__ import annotations

import pytest

from portal.accounts import services
from portal.extensions import db
from tests.accounts.helpers import (
    altered,
    events,
    fresh,
    link_in,
    outbox,
    path_of,
    post_with_host,
    shows,
    translated,
)
from tests.conftest import sign_in
from tests.factories import UserFactory

INVALID = "This link is not valid or was already used."
EXPIRED = "This link has expired. Sign in and ask for a new one."

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def unverified():
    """An account whose address is not confirmed yet, with its link in the outbox."""
    user = UserFactory(email="karim@example.org", email_verified_at=None)
    services.send_verification(db.session, user)
    db.session.commit()
    return user


def verification_path(user) -> str:
    """Return the path of the latest verification link sent to the user."""
    return path_of(link_in(outbox(user.email)[-1]))


def test_link_from_the_sign_up_email_verifies_the_address_then_the_newcomer_signs_in(client):
    """ASVS 2.5.1: the whole flow — sign up, open the e-mailed link, the address is confirmed,
    and sign-in, with the address already written in, opens the account."""
    client.post(
        "/account/sign-up",
        data={
            "full_name": "Salma",
            "email": "salma@example.org",
            "password": "a long enough passphrase",
            "confirm": "a long enough passphrase",
        },
    )
    [message] = outbox("salma@example.org")

    response = client.get(path_of(link_in(message)))

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/sign-in")
    sign_in_page = client.get("/account/sign-in")
    assert shows(sign_in_page, translated("ar", "Your e-mail address is confirmed."))
    assert 'value="salma@example.org"' in sign_in_page.get_data(as_text=True)
    user = services.find_user_by_email(db.session, "salma@example.org")
    assert user.is_verified
    [event] = events("account.email_verified")
    assert event.object_id == user.id

    signed_in = client.post(
        "/account/sign-in",
        data={"email": "salma@example.org", "password": "a long enough passphrase"},
    )

    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].endswith("/account")
    account_page = client.get("/account")
    assert account_page.status_code == 200
    assert not shows(
        account_page,
        translated(
            "ar",
            "Your e-mail address is not confirmed yet. Open the link we sent to %(email)s.",
            email="salma@example.org",
        ),
    )


def test_the_address_is_written_into_sign_in_once(client, unverified):
    """The confirmed address fills the next sign-in form only; a later visit starts empty."""
    client.get(verification_path(unverified))

    first = client.get("/account/sign-in").get_data(as_text=True)
    second = client.get("/account/sign-in").get_data(as_text=True)

    assert 'value="karim@example.org"' in first
    assert "karim@example.org" not in second


def test_link_opened_by_a_visitor_verifies_and_leads_to_sign_in(client, unverified):
    """Opening the link in another browser (no session) confirms the address too."""
    response = client.get(verification_path(unverified))

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/sign-in")
    assert fresh(unverified).is_verified


def test_link_used_twice_is_refused_the_second_time(client, unverified):
    """ASVS 2.5.1: single use; the second visit changes nothing."""
    path = verification_path(unverified)
    client.get(path)
    verified_at = fresh(unverified).email_verified_at

    response = client.get(path)

    assert response.status_code == 400
    assert shows(response, translated("ar", INVALID))
    assert fresh(unverified).email_verified_at == verified_at
    assert len(events("account.email_verified")) == 1


@pytest.mark.parametrize(
    "alter",
    [
        altered,
        lambda token: token[:10] + token[11:],
        lambda token: "x" + token,
    ],
    ids=["signature changed", "char removed", "char added"],
)
def test_altered_link_is_refused(client, unverified, alter):
    """ASVS 2.5.1: the signature covers the whole token."""
    path = verification_path(unverified)
    prefix, token = path.rsplit("/", 1)

    response = client.get(f"{prefix}/{alter(token)}")

    assert response.status_code == 400
    assert shows(response, translated("ar", INVALID))
    assert not fresh(unverified).is_verified
    assert events("account.email_verified") == []


def test_expired_link_is_refused_with_the_expired_message(app, client, unverified, token_clock):
    """ASVS 2.5.1, 2.3.1: the link lives EMAIL_TOKEN_MAX_AGE seconds, not one more."""
    path = verification_path(unverified)
    token_clock(app.config["EMAIL_TOKEN_MAX_AGE"] + 1)

    response = client.get(path)

    assert response.status_code == 400
    assert shows(response, translated("ar", EXPIRED))
    assert not fresh(unverified).is_verified
    assert events("account.email_verified") == []


def test_link_still_works_just_before_it_expires(app, client, unverified, token_clock):
    """The expiry is not shorter than announced in the e-mail (48 hours)."""
    path = verification_path(unverified)
    token_clock(app.config["EMAIL_TOKEN_MAX_AGE"] - 60)

    assert client.get(path).status_code == 302
    assert fresh(unverified).is_verified


def test_expired_message_is_shown_in_the_visitors_language(app, client, unverified, token_clock):
    """A French visitor reads the refusal in French."""
    path = verification_path(unverified)
    token_clock(app.config["EMAIL_TOKEN_MAX_AGE"] + 1)
    client.set_cookie("locale", "fr")

    response = client.get(path)

    assert 'lang="fr"' in response.get_data(as_text=True)
    assert shows(response, translated("fr", EXPIRED))


def test_reset_link_cannot_verify_an_address(client, unverified):
    """ASVS 2.5.1: tokens are bound to their purpose."""
    services.request_password_reset(db.session, unverified.email)
    db.session.commit()
    reset_token = link_in(outbox(unverified.email)[-1]).rsplit("/", 1)[1]

    response = client.get(f"/account/verify/{reset_token}")

    assert response.status_code == 400
    assert not fresh(unverified).is_verified


def test_signed_in_user_can_ask_for_a_new_link(app, unverified):
    """A lost e-mail is not a dead end: the account page sends the link again."""
    client = sign_in(app.test_client(), unverified)

    response = client.post("/account/verify/resend")

    assert response.status_code == 303
    assert len(outbox(unverified.email)) == 2
    assert client.get(verification_path(unverified)).status_code == 302
    assert fresh(unverified).is_verified


def test_verification_link_uses_the_configured_host_not_the_request_host(client):
    """ASVS 5.1.5 — CHECKLIST S19: a forged Host header cannot redirect the link."""
    response = post_with_host(
        client,
        "evil.example",
        "/account/sign-up",
        data={
            "full_name": "Salma",
            "email": "salma@example.org",
            "password": "a long enough passphrase",
            "confirm": "a long enough passphrase",
        },
    )

    assert response.status_code == 200

    [message] = outbox("salma@example.org")
    assert link_in(message).startswith("https://shiraka.test/account/verify/")
    assert "evil.example" not in message.body_text
    assert "evil.example" not in message.body_html


def test_resent_link_uses_the_configured_host_not_the_request_host(app, unverified):
    """ASVS 5.1.5 — CHECKLIST S19."""
    client = sign_in(app.test_client(), unverified)

    response = post_with_host(client, "evil.example", "/account/verify/resend")

    assert response.status_code == 303

    message = outbox(unverified.email)[-1]
    assert link_in(message).startswith("https://shiraka.test/account/verify/")
    assert "evil.example" not in message.body_html
