"""What the browser's session holds about signing in: a fresh session for each sign-in (with the
times its limits count from, see session_limits), the sign-in waiting for its second step, and
the mark that the second factor was passed."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, session
from flask_login import login_user

from portal.accounts import services, session_limits
from portal.accounts.models import User
from portal.db import utcnow
from portal.extensions import db

# Set when the session's user passed the second factor (or enrolled one in this session).
SECOND_FACTOR_KEY = "mfa"
PENDING_KEY = "two_factor_pending"
# A correct password waits this long for its code; then the sign-in starts again.
PENDING_MAX_AGE = timedelta(minutes=5)


def lockout_policy() -> services.LockoutPolicy:
    """Return the sign-in lockout settings."""
    config = current_app.config
    return services.LockoutPolicy(config["LOGIN_MAX_FAILURES"], config["LOGIN_LOCK_MINUTES"])


def required_roles() -> frozenset[str]:
    """Return the roles that must sign in with a second factor (TWO_FACTOR_REQUIRED_ROLES)."""
    return frozenset(current_app.config["TWO_FACTOR_REQUIRED_ROLES"])


def start_session(user: User, *, second_factor: bool = False) -> None:
    """Begin a fresh session for the user: nothing from the visitor's session survives, and its
    idle and absolute limits count from now."""
    session.clear()
    login_user(user)
    session.permanent = True
    session_limits.stamp_new_session()
    if second_factor:
        session[SECOND_FACTOR_KEY] = True


def second_factor_passed() -> bool:
    """Tell whether this session's user passed the second factor."""
    return session.get(SECOND_FACTOR_KEY) is True


def hold_for_second_step(user: User) -> None:
    """Remember a correct password, without signing in, while the code is asked for."""
    session.clear()
    session[PENDING_KEY] = {
        "user_id": user.id,
        "version": user.session_version,
        "since": int(utcnow().timestamp()),
    }


def has_pending() -> bool:
    """Tell whether a sign-in waits for its second step (expired or not)."""
    return PENDING_KEY in session


def pending_user() -> User | None:
    """Return the user whose sign-in waits for its second step; None once it has expired."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    since = pending.get("since")
    age = utcnow().timestamp() - since if isinstance(since, int) else None
    if age is None or not 0 <= age <= PENDING_MAX_AGE.total_seconds():
        end_pending()
        return None
    user = db.session.get(User, pending.get("user_id"))
    if user is None or not user.is_active or user.session_version != pending.get("version"):
        end_pending()
        return None
    return user


def end_pending() -> None:
    """Forget the sign-in waiting for its second step."""
    session.pop(PENDING_KEY, None)
