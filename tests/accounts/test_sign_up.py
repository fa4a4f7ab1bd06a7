"""Sign-up: an unverified applicant, a verification e-mail, and every refusal clean."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts import passwords
from portal.accounts.models import Role, User
from portal.extensions import db
from tests.accounts.helpers import events, outbox, row_counts, shows, translated
from tests.factories import UserFactory

SIGN_UP = "/account/sign-up"
STRONG = "a long enough passphrase"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def sign_up_form(email="amina@example.org", password=STRONG, confirm=None, name="Amina Alaoui"):
    """Return the fields of the sign-up form."""
    return {
        "full_name": name,
        "email": email,
        "password": password,
        "confirm": password if confirm is None else confirm,
    }


def user_with(email: str) -> User | None:
    """Return the account registered with this address, read afresh."""
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_sign_up_creates_an_unverified_applicant_and_queues_a_verification_email(client):
    """ASVS 2.1.1, 2.4.1: the account waits for its address to be confirmed."""
    response = client.post(SIGN_UP, data=sign_up_form(email="Amina@Example.org"))

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/account")
    user = user_with("amina@example.org")
    assert user is not None
    assert user.full_name == "Amina Alaoui"
    assert user.email_verified_at is None
    assert user.roles == {Role.APPLICANT}
    assert user.locale == "ar"
    assert user.password_hash.startswith("$argon2id$")
    assert passwords.verify_password(user.password_hash, STRONG)
    [message] = outbox()
    assert message.recipient == "amina@example.org"
    assert message.template == "verify_email"
    assert message.locale == "ar"
    assert message.subject == translated("ar", "Confirm your e-mail address")
    assert "/account/verify/" in message.body_text
    [event] = events("account.registered")
    assert event.object_id == user.id


def test_sign_up_signs_the_new_user_in(client):
    """The new applicant lands on their account page, which asks to confirm the address."""
    client.post(SIGN_UP, data=sign_up_form())

    page = client.get("/account")

    assert page.status_code == 200
    assert shows(
        page,
        translated(
            "ar",
            "Your e-mail address is not confirmed yet. Open the link we sent to %(email)s.",
            email="amina@example.org",
        ),
    )


def test_sign_up_in_french_writes_the_account_and_email_in_french(client):
    """The visitor's language becomes the account's, and its e-mails use it."""
    client.set_cookie("locale", "fr")

    client.post(SIGN_UP, data=sign_up_form())

    assert user_with("amina@example.org").locale == "fr"
    [message] = outbox()
    assert message.locale == "fr"
    assert message.subject == translated("fr", "Confirm your e-mail address")
    assert translated("fr", "Hello %(name)s,", name="Amina Alaoui") in message.body_text


@pytest.mark.parametrize("typed", ["amina@example.org", "AMINA@example.ORG"])
def test_sign_up_with_a_used_email_is_refused_whatever_its_case(client, typed):
    """ASVS 2.1 — one account per address, compared without case; nothing is written."""
    UserFactory(email="amina@example.org")
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(email=typed))

    assert response.status_code == 422
    assert shows(response, translated("ar", "An account already uses this e-mail address."))
    assert row_counts() == before


@pytest.mark.parametrize(
    ("password", "message", "values"),
    [
        ("elevenchars", "Use at least %(n)d characters.", {"n": 12}),
        ("p" * 129, "Use at most %(n)d characters.", {"n": 128}),
        ("qwerty123456", "This password is among the most used ones; choose another.", {}),
    ],
    ids=["11 chars", "129 chars", "common"],
)
def test_sign_up_with_a_weak_password_is_refused_and_writes_nothing(
    client, password, message, values
):
    """ASVS 2.1.1, 2.1.2, 2.1.7 — CHECKLIST S14: refused with the reason; no row, event, e-mail."""
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(password=password))

    assert response.status_code == 422
    assert shows(response, translated("ar", message, **values))
    assert row_counts() == before
    assert user_with("amina@example.org") is None


@pytest.mark.parametrize(
    "password",
    ["twelve chars", "p" * 128, "كلمة سر طويلة بالعربية"],
    ids=["12 chars", "128 chars", "arabic passphrase"],
)
def test_sign_up_accepts_long_and_unicode_passwords(client, password):
    """ASVS 2.1.1, 2.1.2, 2.1.4 — CHECKLIST S14: 12 to 128 printable characters, any script."""
    response = client.post(SIGN_UP, data=sign_up_form(password=password))

    assert response.status_code == 303
    user = user_with("amina@example.org")
    assert passwords.verify_password(user.password_hash, password)


def test_sign_up_with_two_different_passwords_is_refused(client):
    """A typing mistake is caught before the account exists."""
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(confirm=STRONG + "!"))

    assert response.status_code == 422
    assert shows(response, translated("ar", "The two passwords differ."))
    assert row_counts() == before


def test_sign_up_with_an_invalid_email_is_refused(client):
    """ASVS 5.1.3: the address is validated on the server."""
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(email="not-an-address"))

    assert response.status_code == 422
    assert shows(response, translated("ar", "Enter a valid e-mail address."))
    assert row_counts() == before


@pytest.mark.parametrize("csrf", [False, "forged-token"], ids=["missing", "forged"])
def test_sign_up_without_a_valid_csrf_token_is_refused(client, csrf):
    """ASVS 4.2.2 — CHECKLIST S09: 400 and nothing written."""
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(), csrf=csrf)

    assert response.status_code == 400
    assert row_counts() == before
