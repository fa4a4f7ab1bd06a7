"""Account rules: sign-up, verification, sign-in with lockout, password reset, roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.accounts import passwords, tokens
from portal.accounts.models import Role, SignInThrottle, TwoFactor, User, UserRole
from portal.audit.services import record_event
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.rules import RuleRefused
from portal.web.links import external_url

VERIFY_PURPOSE = "verify-email"
RESET_PURPOSE = "reset-password"


class AccountError(RuleRefused):
    """A request about an account that the rules refuse; the message is shown to the user."""


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    lock_minutes: int


def normalise_email(email: str) -> str:
    """Return the address as stored: trimmed and lower-case."""
    return email.strip().lower()


def find_user_by_email(session: Session, email: str) -> User | None:
    """Return the account registered with this address, if any."""
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def register_user(
    session: Session, *, email: str, password: str, full_name: str, locale: str
) -> User | None:
    """Create an unverified applicant account and queue its verification e-mail.

    An address that already has an account gets nothing new: its owner is told by e-mail that
    someone tried, and None is returned. The password is hashed either way, so neither the
    answer nor the time it takes tells whether the address is known.
    """
    problem = passwords.password_problem(password)
    if problem:
        raise AccountError(problem, field="password")
    email = normalise_email(email)
    password_hash = passwords.hash_password(password)
    existing = find_user_by_email(session, email)
    if existing is not None:
        _tell_owner_of_sign_up_attempt(session, existing)
        return None
    user = User(
        email=email,
        password_hash=password_hash,
        full_name=full_name.strip(),
        locale=locale,
    )
    user.role_rows.append(UserRole(role=Role.APPLICANT))
    try:
        with session.begin_nested():
            # Added inside the savepoint, so that its rollback takes the new rows away too.
            session.add(user)
            session.flush()
    except IntegrityError:
        # Another sign-up took the address between the check and the insert.
        existing = find_user_by_email(session, email)
        if existing is not None:
            _tell_owner_of_sign_up_attempt(session, existing)
        return None
    record_event(session, user, "account.registered", user)
    send_verification(session, user)
    return user


def _tell_owner_of_sign_up_attempt(session: Session, user: User) -> None:
    """Queue an e-mail telling the owner that someone tried to sign up with their address."""
    if not user.is_enabled:
        return  # as for a reset request: a disabled account gets no mail that invites in
    queue_message(
        session,
        user.email,
        user.locale,
        "sign_up_attempt",
        user=user,
        sign_in_link=external_url("accounts.sign_in"),
        reset_link=external_url("accounts.forgot_password"),
    )


def _verification_state(user: User) -> str:
    return tokens.fingerprint(user.email, user.email_verified_at is None)


def send_verification(session: Session, user: User) -> None:
    """Queue a verification link for the user's address."""
    token = tokens.make_token(VERIFY_PURPOSE, user.id, _verification_state(user))
    link = external_url("accounts.verify_email", token=token)
    queue_message(session, user.email, user.locale, "verify_email", user=user, link=link)


def verify_email(session: Session, token: str, max_age: int) -> User:
    """Mark the address as verified; a used, altered or expired link is refused."""
    user_id, state = tokens.read_token(VERIFY_PURPOSE, token, max_age)
    user = session.get(User, user_id)
    if user is None or state != _verification_state(user):
        raise tokens.TokenInvalid
    user.email_verified_at = utcnow()
    record_event(session, user, "account.email_verified", user)
    return user


def _throttle_row(session: Session, email: str) -> SignInThrottle:
    row = session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))
    if row is not None:
        return row
    row = SignInThrottle(email=email, failures=0)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))
    return row


def locked_until(session: Session, email: str, now: datetime | None = None) -> datetime | None:
    """Return until when sign-in is locked for this address, or None."""
    row = session.scalar(
        select(SignInThrottle).where(SignInThrottle.email == normalise_email(email))
    )
    now = now or utcnow()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


class AccountLocked(Exception):
    """Too many failed sign-ins for this address; try again later."""

    def __init__(self, until: datetime):
        super().__init__(until.isoformat())
        self.until = until


def authenticate(session: Session, email: str, password: str, policy: LockoutPolicy) -> User | None:
    """Return the user for these credentials, None when wrong; raise AccountLocked when locked.

    The answer and the time it takes are the same whether or not the address has an account.
    A user with two-factor sign-in is returned with the sign-in not yet finished: the failures
    counted so far stay until the second step succeeds, so that a known password cannot be used
    to reset the count between guesses of the code.
    """
    email = normalise_email(email)
    now = utcnow()
    until = locked_until(session, email, now)
    user = find_user_by_email(session, email)
    correct = passwords.verify_password(user.password_hash if user else None, password)
    if until is not None:
        raise AccountLocked(until)
    if correct and user is not None and user.is_enabled:
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        if not has_two_factor(session, user):
            finish_sign_in(session, user, now)
        return user
    count_failure(session, email, now, policy)
    return None


def has_two_factor(session: Session, user: User) -> bool:
    """Tell whether the user signs in with a confirmed second factor."""
    return (
        session.scalar(
            select(TwoFactor.id).where(
                TwoFactor.user_id == user.id, TwoFactor.confirmed_at.is_not(None)
            )
        )
        is not None
    )


def finish_sign_in(session: Session, user: User, now: datetime, **details) -> None:
    """Record a completed sign-in: the failures are forgotten and the event is written."""
    clear_failures(session, user.email)
    user.last_sign_in_at = now
    record_event(session, user, "account.signed_in", user, **details)


def count_failure(session: Session, email: str, now: datetime, policy: LockoutPolicy) -> None:
    """Count a failed sign-in attempt for the address; lock it when there were too many."""
    row = _throttle_row(session, email)
    if row.locked_until is not None and row.locked_until <= now:
        row.failures = 0
        row.locked_until = None
    # Counted in SQL so parallel failures all count.
    session.execute(
        SignInThrottle.__table__.update()
        .where(SignInThrottle.id == row.id)
        .values(failures=SignInThrottle.failures + 1, last_failure_at=now)
    )
    session.refresh(row)
    if row.failures >= policy.max_failures:
        row.locked_until = now + timedelta(minutes=policy.lock_minutes)
        row.failures = 0


def clear_failures(session: Session, email: str) -> None:
    """Forget the failed sign-ins of the address and lift its lock."""
    row = session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))
    if row is not None:
        row.failures = 0
        row.locked_until = None


def end_other_sessions(session: Session, user: User) -> None:
    """Invalidate every session of the user by moving to a new session version."""
    user.session_version = (user.session_version or 1) + 1


def sign_out(session: Session, user: User) -> None:
    """End this and every other session of the user."""
    end_other_sessions(session, user)
    record_event(session, user, "account.signed_out", user)


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Replace the password after checking the current one; other sessions end."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError(_l("The current password is not correct."), field="current_password")
    _set_password(session, user, new)
    record_event(session, user, "account.password_changed", user)


def _set_password(session: Session, user: User, new: str) -> None:
    problem = passwords.password_problem(new)
    if problem:
        raise AccountError(problem, field="password")
    user.password_hash = passwords.hash_password(new)
    end_other_sessions(session, user)


def _reset_state(user: User) -> str:
    return tokens.fingerprint(user.password_hash, user.session_version)


def request_password_reset(session: Session, email: str) -> None:
    """Queue a reset link if the address has an account; say nothing either way."""
    user = find_user_by_email(session, email)
    if user is None or not user.is_enabled:
        return
    token = tokens.make_token(RESET_PURPOSE, user.id, _reset_state(user))
    link = external_url("accounts.reset_password", token=token)
    queue_message(session, user.email, user.locale, "reset_password", user=user, link=link)
    record_event(session, None, "account.reset_requested", user)


def user_for_reset(session: Session, token: str, max_age: int) -> User:
    """Return the user a reset link is for, refusing used, altered or expired links."""
    user_id, state = tokens.read_token(RESET_PURPOSE, token, max_age)
    user = session.get(User, user_id)
    if user is None or not user.is_enabled or state != _reset_state(user):
        raise tokens.TokenInvalid
    return user


def reset_password(session: Session, token: str, new: str, max_age: int) -> User:
    """Set a new password from a reset link; the link then stops working."""
    user = user_for_reset(session, token, max_age)
    _set_password(session, user, new)
    clear_failures(session, user.email)
    if user.email_verified_at is None:
        # The link reached the inbox, which proves the address.
        user.email_verified_at = utcnow()
    record_event(session, user, "account.password_reset", user)
    return user


def set_locale(session: Session, user: User, locale: str) -> None:
    """Remember the user's language."""
    user.locale = locale


def grant_role(session: Session, user: User, role: Role, *, actor: User) -> None:
    """Give the user a role (nothing happens if the user already has it)."""
    if user.has_role(role):
        return
    user.role_rows.append(UserRole(role=role))
    record_event(session, actor, "account.role_granted", user, role=role.value)


def remove_role(session: Session, user: User, role: Role, *, actor: User) -> None:
    """Take a role away; the last administrator keeps theirs."""
    if not user.has_role(role):
        return
    if role == Role.ADMIN and count_admins(session) <= 1:
        raise AccountError(_l("The portal needs at least one administrator."))
    for row in list(user.role_rows):
        if row.role == role:
            user.role_rows.remove(row)
    record_event(session, actor, "account.role_removed", user, role=role.value)


def count_admins(session: Session) -> int:
    """Return how many accounts hold the administrator role."""
    return session.scalar(
        select(func.count()).select_from(UserRole).where(UserRole.role == Role.ADMIN)
    )
