"""Fixtures for the account tests: every request in its own application context."""

from __future__ import annotations

import pytest

from tests.conftest import CsrfClient


class IsolatedClient(CsrfClient):
    """A CsrfClient whose every request runs in its own application context.

    The shared `app` fixture keeps one application context pushed for the whole test, and a
    request reuses it, so `flask.g` (the signed-in user, the locale, the CSRF token) would leak
    from one request, and one client, to the next. A real server never does that.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        with self.application.app_context():
            return super().csrf_token()


@pytest.fixture
def app_factory(app_factory):
    """Build apps whose test clients run each request in a fresh application context."""

    def build(**overrides):
        """Build an app as the shared factory does, with isolated test clients."""
        built = app_factory(**overrides)
        built.test_client_class = IsolatedClient
        return built

    return build


@pytest.fixture
def token_clock(monkeypatch):
    """Move the clock that signs and checks e-mail link tokens; returns `move(seconds)`."""
    import time

    from itsdangerous.timed import TimestampSigner

    offset = {"seconds": 0}
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: int(time.time()) + offset["seconds"]
    )

    def move(seconds: int) -> None:
        """Move the token clock forward by this many seconds."""
        offset["seconds"] += seconds

    return move


@pytest.fixture
def cheap_hashing(monkeypatch):
    """Hash and verify with argon2id at its lowest cost, so sign-in loops stay fast.

    Still real argon2id through the portal's own functions; only the cost parameters are
    lowered (as the dummy hash for unknown addresses is). Returns `hash(password)`.
    """
    from argon2 import PasswordHasher

    from portal.accounts import passwords

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", hasher.hash("no account has this password"))
    return hasher.hash
