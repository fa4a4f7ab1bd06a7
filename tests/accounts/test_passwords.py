"""The password policy, argon2 hashing and e-mail link tokens, as units."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer

from portal.accounts import passwords, tokens
from tests.accounts.helpers import altered, translated
from tests.factories import TEST_PASSWORD

ARABIC_PASSPHRASE = "كلمة سر طويلة بالعربية"
COMMON_LONG_PASSWORD = "qwerty123456"


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("a" * 5 + "-" + "b" * 5, False),
        ("a" * 6 + "-" + "b" * 5, True),
        ("x" * 64 + "y" * 64, True),
        ("x" * 64 + "y" * 65, False),
        (ARABIC_PASSPHRASE, True),
        (COMMON_LONG_PASSWORD, False),
    ],
    ids=["11 chars", "12 chars", "128 chars", "129 chars", "arabic passphrase", "common"],
)
def test_password_policy_follows_the_length_and_common_list_rules(app, password, accepted):
    """ASVS 2.1.1, 2.1.2, 2.1.4, 2.1.7 — CHECKLIST S14."""
    assert (passwords.password_problem(password) is None) is accepted


def test_arabic_passphrase_is_long_enough_in_characters_not_bytes():
    """ASVS 2.1.4: length counts characters, so twelve Arabic letters are enough."""
    assert len("كلمةسرعربية!") == 12
    assert passwords.password_problem("كلمةسرعربية!") is None
    assert passwords.password_problem("كلمةسرعربي!") is not None


@pytest.mark.parametrize(
    ("password", "message", "values"),
    [
        ("short", "Use at least %(n)d characters.", {"n": 12}),
        ("z" * 129, "Use at most %(n)d characters.", {"n": 128}),
        ("twelve chars\x00ok", "Use only printable characters.", {}),
        ("tab\tinside the password", "Use only printable characters.", {}),
        (COMMON_LONG_PASSWORD, "This password is among the most used ones; choose another.", {}),
    ],
    ids=["too short", "too long", "nul", "tab", "common"],
)
def test_refused_password_says_why(app, password, message, values):
    """ASVS 2.1.7: each refusal carries its reason in the user's language."""
    problem = passwords.password_problem(password)
    assert problem is not None
    assert str(problem) == translated("ar", message, **values)


def test_common_password_list_is_kept_in_the_repository_and_loaded():
    """ASVS 2.1.7 — CHECKLIST S14: the list ships with the code and is read whole."""
    text = passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    assert COMMON_LONG_PASSWORD in text.splitlines()
    assert len(passwords.common_passwords()) > 10_000
    assert not any(entry.startswith("#") for entry in passwords.common_passwords())


@pytest.mark.parametrize(
    "variant",
    ["QWERTY123456", "Qwerty123456", "ｑｗｅｒｔｙ１２３４５６"],
    ids=["upper", "title", "fullwidth"],
)
def test_common_password_is_refused_whatever_its_case_or_width(app, variant):
    """ASVS 2.1.7: case and Unicode compatibility forms do not get around the list."""
    assert passwords.password_problem(variant) is not None


def test_password_is_hashed_with_argon2id_and_verified():
    """ASVS 2.4.1: argon2id, salted (two hashes of one password differ)."""
    first = passwords.hash_password(ARABIC_PASSPHRASE)
    second = passwords.hash_password(ARABIC_PASSPHRASE)
    assert first.startswith("$argon2id$")
    assert first != second
    assert ARABIC_PASSPHRASE not in first
    assert passwords.verify_password(first, ARABIC_PASSPHRASE)
    assert not passwords.verify_password(first, ARABIC_PASSPHRASE + " ")
    assert not passwords.needs_rehash(first)


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$broken"])
def test_verification_against_a_missing_or_broken_hash_fails_closed(stored):
    """ASVS 2.4.1: an unknown account (no hash) or a corrupt hash never signs in."""
    assert passwords.verify_password(stored, TEST_PASSWORD) is False


def test_hash_made_with_weaker_parameters_needs_a_rehash():
    """ASVS 2.4.4: old hashes are upgraded on the next sign-in."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(TEST_PASSWORD)
    assert passwords.verify_password(weak, TEST_PASSWORD)
    assert passwords.needs_rehash(weak)


# --- tokens ---------------------------------------------------------------------------------


def test_token_round_trip_returns_subject_and_state(app):
    """ASVS 2.5.1: a link token names its user and the state it may change."""
    state = tokens.fingerprint("user@example.org", True)
    token = tokens.make_token("verify-email", 42, state)
    assert tokens.read_token("verify-email", token, max_age=60) == (42, state)


def test_token_for_one_purpose_is_refused_for_another(app):
    """ASVS 2.5.1: a verification link cannot be used as a reset link."""
    token = tokens.make_token("verify-email", 42, "state")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_token("reset-password", token, max_age=60)


def test_altered_token_is_refused(app):
    """ASVS 2.5.1: one changed character breaks the signature."""
    token = tokens.make_token("verify-email", 42, "state")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_token("verify-email", altered(token), max_age=60)


def test_token_signed_with_another_key_is_refused(app, monkeypatch):
    """ASVS 2.5.1: a token from another installation (another SECRET_KEY) is refused."""
    token = tokens.make_token("verify-email", 42, "state")
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-installation-key")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_token("verify-email", token, max_age=60)


def test_token_expires_after_its_max_age(app, token_clock):
    """ASVS 2.5.1, 2.3.1: links expire; one second before the limit still works."""
    token = tokens.make_token("reset-password", 7, "state")
    token_clock(60)
    assert tokens.read_token("reset-password", token, max_age=60) == (7, "state")
    token_clock(1)
    with pytest.raises(tokens.TokenExpired):
        tokens.read_token("reset-password", token, max_age=60)


@pytest.mark.parametrize("payload", [[42], "42", {"id": "42"}, {"fp": "state"}])
def test_genuine_token_with_an_unexpected_payload_is_refused(app, payload):
    """ASVS 2.5.1: a correctly signed but malformed payload never reaches the database."""
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="shiraka.verify-email")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_token("verify-email", serializer.dumps(payload), max_age=60)


def test_fingerprint_changes_with_the_state_it_describes():
    """A used link stops working because the state behind its fingerprint changed."""
    before = tokens.fingerprint("$argon2id$old", 1)
    assert before == tokens.fingerprint("$argon2id$old", 1)
    assert before != tokens.fingerprint("$argon2id$new", 1)
    assert before != tokens.fingerprint("$argon2id$old", 2)
    assert len(before) == 24
