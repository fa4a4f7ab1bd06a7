"""Account enumeration — CHECKLIST S13; OWASP WSTG-IDNT-04 (ASVS 4.0.3 has no numbered
requirement of its own for it; it serves 2.2.1 and 2.5.x): whether an address has an account must
not show in the answer to sign-in, to a password reset request or to sign-up.

Proved elsewhere: tests/accounts/test_sessions.py (an unknown address gets the same status and
<main> as a wrong password; it is locked like a known one; a disabled account gets the wrong
password's message) and tests/accounts/test_password_reset.py (known and unknown addresses get
the same status and <main>; only the account's owner gets an e-mail; a disabled account gets
none), tests/accounts/test_sign_up.py (a used address changes nothing and its owner is told by
e-mail, even when a parallel sign-up took the address first).

Proved here, over the whole answer (status, headers, cookies and what the session keeps, the
whole page without its CSRF token) and over more kinds of accounts (two-factor, disabled,
unverified): sign-in, the reset request and sign-up answer alike, whether the form is accepted
or refused; sign-in spends the same password check on an unknown address, sign-up the same
password hash on a used one. The typed addresses have the same length, so even Content-Length
must match.
"""

from __future__ import annotations

import re

import pytest

from portal.accounts import passwords
from tests import factories
from tests.accounts.helpers import outbox
from tests.accounts.test_two_factor import enrol
from tests.conftest import TEST_PASSWORD
from tests.security.conftest import client_as

KNOWN = "nadia@example.org"
UNKNOWN = "nobod@example.org"  # as long as KNOWN
NEW_PASSWORD = "a long enough passphrase"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
VARYING_HEADERS = {"Date", "Set-Cookie"}


def account(kind: str):
    """Make the account behind KNOWN: plain, with two-factor sign-in, disabled or unverified."""
    fields = {
        "disabled": {"is_enabled": False},
        "unverified": {"email_verified_at": None},
    }.get(kind, {})
    user = factories.UserFactory(email=KNOWN, **fields)
    if kind == "two-factor":
        enrol(user)
    return user


def answer(client, response, typed: str) -> dict:
    """Everything the requester can see of an answer, the CSRF token and typed address blanked."""
    page = response.get_data(as_text=True)
    for match in TOKEN.finditer(page):
        page = page.replace(match.group(1) or match.group(2), "TOKEN")
    cookies = [
        (header.split("=", 1)[0], sorted(part.split("=")[0].strip() for part in header.split(";")))
        for header in response.headers.getlist("Set-Cookie")
    ]
    with client.session_transaction() as session:
        kept = sorted(session)
    return {
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS},
        "cookies": cookies,
        "session keys": kept,
        "page": page.replace(typed, "TYPED"),
    }


def sign_in_answer(app, email: str, password: str) -> dict:
    client = client_as(app, None)
    client.get("/account/sign-in")
    response = client.post("/account/sign-in", data={"email": email, "password": password})
    return answer(client, response, email)


def reset_answer(app, email: str) -> dict:
    client = client_as(app, None)
    client.get("/account/forgot-password")
    response = client.post("/account/forgot-password", data={"email": email})
    return answer(client, response, email)


def sign_up_answer(app, email: str, password: str = NEW_PASSWORD) -> dict:
    client = client_as(app, None)
    client.get("/account/sign-up")
    form = {"full_name": "Nadia", "email": email, "password": password, "confirm": password}
    response = client.post("/account/sign-up", data=form)
    return answer(client, response, email)


# --- sign-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "password"),
    [
        ("plain", "not the right password"),
        ("two-factor", "not the right password"),
        ("unverified", "not the right password"),
        ("disabled", "not the right password"),
        ("disabled", TEST_PASSWORD),
    ],
    ids=["wrong password", "two-factor", "unverified", "disabled", "disabled, right password"],
)
def test_sign_in_answers_an_unknown_address_exactly_as_a_refused_known_one(app, kind, password):
    """CHECKLIST S13: nor the page, nor a header, nor a cookie, nor the session tells them apart;
    a two-factor account does not show it has one before its password is right."""
    account(kind)

    known = sign_in_answer(app, KNOWN, password)
    unknown = sign_in_answer(app, UNKNOWN, password)

    assert known["status"] == 401
    assert unknown == known


class CountingHasher:
    """Wraps the password hasher and notes the parameters of every hash it verifies or makes."""

    def __init__(self, hasher):
        self.hasher = hasher
        self.verified: list[str] = []
        self.hashed: list[str] = []

    def verify(self, password_hash: str, password: str):
        self.verified.append(password_hash.rsplit("$", 2)[0])  # $argon2id$v=…$m=…,t=…,p=…
        return self.hasher.verify(password_hash, password)

    def hash(self, password: str, **kwargs) -> str:
        password_hash = self.hasher.hash(password, **kwargs)
        self.hashed.append(password_hash.rsplit("$", 2)[0])
        return password_hash

    def __getattr__(self, name):
        return getattr(self.hasher, name)


def test_an_unknown_address_costs_the_same_password_check_as_a_known_one(app, monkeypatch):
    """ASVS 2.2.1 — CHECKLIST S13: the time of the answer does not tell an account exists; a hash
    of the same cost is verified either way."""
    account("plain")
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)
    current = passwords.hash_password("any password at all").rsplit("$", 2)[0]

    sign_in_answer(app, KNOWN, "not the right password")
    sign_in_answer(app, UNKNOWN, "not the right password")

    assert counting.verified == [current, current]


# --- password reset --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "two-factor", "unverified", "disabled"])
def test_a_reset_request_answers_an_unknown_address_exactly_as_a_known_one(app, kind):
    """ASVS 2.5.x — CHECKLIST S13: the requester sees the same answer; only an account that may
    reset its password gets an e-mail, in its owner's inbox."""
    account(kind)

    known = reset_answer(app, KNOWN)
    unknown = reset_answer(app, UNKNOWN)

    assert known["status"] == 200
    assert unknown == known
    recipients = [message.recipient for message in outbox()]
    assert recipients == ([] if kind == "disabled" else [KNOWN])
    assert UNKNOWN not in recipients


# --- sign-up ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "two-factor", "unverified", "disabled"])
def test_sign_up_answers_a_used_address_exactly_as_a_new_one(app, kind):
    """CHECKLIST S13: the same page, status, headers, cookies and session, and nobody signed in;
    the new address gets its verification link, the used one a note to its owner (none for a
    disabled account, as for a reset)."""
    account(kind)

    known = sign_up_answer(app, KNOWN)
    unknown = sign_up_answer(app, UNKNOWN)

    assert known["status"] == 200
    assert "_user_id" not in known["session keys"]
    assert unknown == known
    sent = [(message.recipient, message.template) for message in outbox()]
    owner_told = [] if kind == "disabled" else [(KNOWN, "sign_up_attempt")]
    assert sent == [*owner_told, (UNKNOWN, "verify_email")]


@pytest.mark.parametrize(
    "password",
    ["elevenchars", "qwerty123456"],
    ids=["too short", "common"],
)
def test_a_refused_sign_up_answers_a_used_address_exactly_as_a_new_one(app, password):
    """ASVS 2.1.1, 2.1.7 — CHECKLIST S13: a weak password is refused beside its field, and that
    answer says nothing of the address either; nobody is mailed."""
    account("plain")

    known = sign_up_answer(app, KNOWN, password)
    unknown = sign_up_answer(app, UNKNOWN, password)

    assert known["status"] == 422
    assert unknown == known
    assert outbox() == []


def test_a_used_address_costs_the_same_password_hash_as_a_new_one(app, monkeypatch):
    """ASVS 2.2.1 — CHECKLIST S13: the time of the sign-up answer does not tell an account
    exists; the typed password is hashed at the same cost either way."""
    account("plain")
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)
    current = passwords.hash_password("any password at all").rsplit("$", 2)[0]
    counting.hashed.clear()

    sign_up_answer(app, KNOWN)
    sign_up_answer(app, UNKNOWN)

    assert counting.hashed == [current, current]


def test_the_addresses_compared_have_the_same_length():
    """Otherwise Content-Length alone would differ, and the tests above could not compare it."""
    assert len(KNOWN) == len(UNKNOWN)
