"""Sign-up: an unverified applicant, a verification e-mail, and every refusal clean.

Whether an address already has an account never shows in the answer: its owner is told by
e-mail instead (the whole answer is compared in tests/security/test_asvs_v2_enumeration.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts import passwords, services
from portal.accounts.models import Role, User
from portal.extensions import db
from tests.accounts.helpers import LINK, events, outbox, row_counts, shows, translated
from tests.factories import UserFactory

SIGN_UP = "/account/sign-up"
STRONG = "a long enough passphrase"
SENT = "We sent a link to %(email)s. Open it to confirm your address, then sign in."

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

    assert response.status_code == 200
    assert shows(response, translated("ar", SENT, email="Amina@Example.org"))
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


def test_sign_up_signs_nobody_in_before_the_address_is_confirmed(client):
    """CHECKLIST S13: a session at once would tell a new address from a used one; the
    newcomer signs in after opening the link (tests/accounts/test_verification.py)."""
    client.post(SIGN_UP, data=sign_up_form())

    with client.session_transaction() as session:
        assert "_user_id" not in session
    page = client.get("/account")
    assert page.status_code == 302
    assert "/account/sign-in" in page.headers["Location"]


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
def test_sign_up_with_a_used_email_changes_nothing_and_tells_its_owner(client, typed):
    """ASVS 2.1 — CHECKLIST S13: one account per address, compared without case. The visitor
    sees the page a new address gets; the account stays as it was; only its owner learns of
    the attempt, by e-mail, in the owner's language, with the ways back in."""
    owner = UserFactory(email="amina@example.org", full_name="Amina Owner", locale="fr")
    password_hash = owner.password_hash
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form(email=typed, name="Someone Else"))

    assert response.status_code == 200
    assert shows(response, translated("ar", SENT, email=typed))
    assert row_counts() == {**before, "OutboxMessage": before["OutboxMessage"] + 1}
    assert events("account.registered") == []
    owner = user_with("amina@example.org")
    assert (owner.full_name, owner.password_hash, owner.locale) == (
        "Amina Owner",
        password_hash,
        "fr",
    )
    [message] = outbox()
    assert message.recipient == "amina@example.org"
    assert message.template == "sign_up_attempt"
    assert message.locale == "fr"
    assert message.subject == translated(
        "fr", "Someone tried to create an account with your address"
    )
    assert translated("fr", "Hello %(name)s,", name="Amina Owner") in message.body_text
    assert LINK.findall(message.body_text) == [
        "https://shiraka.test/account/sign-in",
        "https://shiraka.test/account/forgot-password",
    ]
    assert "/account/verify/" not in message.body_text


def test_sign_up_with_the_address_of_a_disabled_account_writes_nothing(client):
    """As for a reset request, a disabled account gets no e-mail inviting its owner in; the
    visitor still sees the page every address gets."""
    UserFactory(email="amina@example.org", is_enabled=False)
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form())

    assert response.status_code == 200
    assert shows(response, translated("ar", SENT, email="amina@example.org"))
    assert row_counts() == before


def test_an_address_taken_by_a_parallel_sign_up_gets_the_same_answer(client, monkeypatch):
    """A sign-up that loses the race for an address (the row appears between the check and the
    insert) answers as any sign-up does: no error page, no second account, the owner told."""
    UserFactory(email="amina@example.org")
    find = services.find_user_by_email
    looked_up = []

    def not_there_yet(session, email):
        looked_up.append(email)
        return None if len(looked_up) == 1 else find(session, email)

    monkeypatch.setattr(services, "find_user_by_email", not_there_yet)
    before = row_counts()

    response = client.post(SIGN_UP, data=sign_up_form())

    assert len(looked_up) == 2  # the insert was tried and refused by the unique constraint
    assert response.status_code == 200
    assert shows(response, translated("ar", SENT, email="amina@example.org"))
    assert row_counts() == {**before, "OutboxMessage": before["OutboxMessage"] + 1}
    assert [message.template for message in outbox("amina@example.org")] == ["sign_up_attempt"]


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

    assert response.status_code == 200
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
