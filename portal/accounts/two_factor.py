"""Two-factor sign-in rules: TOTP codes from an authenticator app and one-time recovery codes.

OWASP ASVS 4.0.3 V2.8 (one-time verifiers): codes follow RFC 6238 (30-second steps, 6 digits),
one step of clock difference is allowed either side, and a code is accepted once only: the step
of the last accepted code is kept and no code of that step or an earlier one is taken again
(2.8.4). Wrong codes at sign-in count toward the same lockout as wrong passwords (2.2.1).

V2.5 (recovery): ten recovery codes of 12 letters, made by `secrets`, shown once, stored as
salted SHA-256 hashes (2.6.2: random, under 112 bits, so each has its own salt), each burned by
its use.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyotp
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts import passwords, services
from portal.accounts.models import RecoveryCode, TwoFactor, User
from portal.audit.services import record_event
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.web.links import external_url

ISSUER = "Shiraka"
CODE_DIGITS = 6
# Steps accepted either side of the server's: a phone clock a little off still works.
CLOCK_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# Lower-case letters without i, l and o, which are mistaken for 1 and 0 when copied by hand.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz"
RECOVERY_GROUPS, RECOVERY_GROUP_LENGTH = 3, 4
SECRET_GROUP_LENGTH = 4

NOT_ENROLLED = _l("Two-factor sign-in is not turned on for this account.")
ALREADY_ENROLLED = _l("Two-factor sign-in is already turned on.")
WRONG_CODE = _l("This code is not correct. Check that your phone shows the right time.")
USED_CODE = _l("This code was already used. Wait for the next one in the app.")


class CodeRefused(services.AccountError):
    """A one-time code or recovery code that is wrong, already used or badly typed."""


@dataclass(frozen=True)
class SecondStep:
    """How the second step of a sign-in was passed."""

    by_recovery_code: bool
    recovery_codes_left: int


def required_for(user: User, required_roles: Iterable[str]) -> bool:
    """Tell whether one of the user's roles must sign in with a second factor."""
    wanted = set(required_roles)
    return any(role.value in wanted for role in user.roles)


def two_factor_of(session: Session, user: User) -> TwoFactor | None:
    """Return the user's authenticator, confirmed or not, if any."""
    return session.scalar(select(TwoFactor).where(TwoFactor.user_id == user.id))


def recovery_codes_left(session: Session, user: User) -> int:
    """Count the user's recovery codes not used yet."""
    return session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def begin_enrolment(session: Session, user: User) -> TwoFactor:
    """Return the user's unconfirmed authenticator, making a new secret the first time."""
    row = two_factor_of(session, user)
    if row is not None and row.is_confirmed:
        raise services.AccountError(ALREADY_ENROLLED)
    if row is None:
        row = TwoFactor(user_id=user.id, secret=pyotp.random_base32())
        session.add(row)
        session.flush()
    return row


def provisioning_uri(user: User, row: TwoFactor, issuer: str = ISSUER) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(row.secret).provisioning_uri(name=user.email, issuer_name=issuer)


def grouped_secret(secret: str) -> str:
    """Return the secret in groups of four characters, to be typed by hand."""
    size = SECRET_GROUP_LENGTH
    return " ".join(secret[start : start + size] for start in range(0, len(secret), size))


def confirm_enrolment(
    session: Session, user: User, code: str, now: datetime | None = None
) -> list[str]:
    """Turn two-factor sign-in on with a current code; return the new recovery codes.

    The user's other sessions end: they were opened without the second factor.
    """
    now = now or utcnow()
    row = two_factor_of(session, user)
    if row is None or row.is_confirmed:
        raise services.AccountError(ALREADY_ENROLLED if row else NOT_ENROLLED)
    _use_code(session, row, code, now)
    row.confirmed_at = now
    codes = _replace_recovery_codes(session, user, now)
    services.end_other_sessions(session, user)
    record_event(session, user, "account.two_factor_enabled", user)
    return codes


def regenerate_recovery_codes(
    session: Session, user: User, code: str, now: datetime | None = None
) -> list[str]:
    """Replace every recovery code of the user, after a current code from the app."""
    now = now or utcnow()
    _use_code(session, _confirmed(session, user), code, now)
    codes = _replace_recovery_codes(session, user, now)
    record_event(session, user, "account.recovery_codes_replaced", user)
    return codes


def disable(
    session: Session, user: User, password: str, code: str, now: datetime | None = None
) -> None:
    """Turn two-factor sign-in off, after the password and a current code."""
    now = now or utcnow()
    row = _confirmed(session, user)
    if not passwords.verify_password(user.password_hash, password):
        raise services.AccountError(
            _l("The current password is not correct."), field="current_password"
        )
    _use_code(session, row, code, now)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.delete(row)
    record_event(session, user, "account.two_factor_disabled", user)


def reset_by_admin(session: Session, user: User, *, actor: User, reason: str) -> None:
    """Turn a user's two-factor sign-in off for them, when they lost both their phone and their
    recovery codes. Another administrator does it (never oneself), with a reason kept in the
    audit trail; the user's sessions end and they are told by e-mail. Staff and admin then set
    up a new authenticator at their next sign-in, before they reach anything else."""
    if actor.id == user.id:
        raise services.AccountError(
            _l("Another administrator must reset your own two-factor sign-in."), field="reason"
        )
    row = two_factor_of(session, user)
    if row is None:
        raise services.AccountError(NOT_ENROLLED)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.delete(row)
    services.end_other_sessions(session, user)
    record_event(session, actor, "account.two_factor_reset", user, reason=reason.strip())
    queue_message(
        session,
        user.email,
        user.locale,
        "two_factor_reset",
        user=user,
        sign_in_link=external_url("accounts.sign_in"),
    )


def pass_second_step(
    session: Session,
    user: User,
    policy: services.LockoutPolicy,
    *,
    code: str = "",
    recovery_code: str = "",
    now: datetime | None = None,
) -> SecondStep:
    """Finish a sign-in with a current code or an unused recovery code.

    A wrong code counts as a failed sign-in of the account's address; raise AccountLocked while
    the address is locked, CodeRefused for a wrong or used code.
    """
    now = now or utcnow()
    until = services.locked_until(session, user.email, now)
    if until is not None:
        raise services.AccountLocked(until)
    row = _confirmed(session, user)
    try:
        if recovery_code:
            _burn_recovery_code(session, user, recovery_code, now)
        else:
            _use_code(session, row, code, now)
    except CodeRefused:
        services.count_failure(session, user.email, now, policy)
        raise
    by_recovery_code = bool(recovery_code)
    services.finish_sign_in(
        session, user, now, second_factor="recovery_code" if by_recovery_code else "totp"
    )
    return SecondStep(by_recovery_code, recovery_codes_left(session, user))


def _confirmed(session: Session, user: User) -> TwoFactor:
    row = two_factor_of(session, user)
    if row is None or not row.is_confirmed:
        raise services.AccountError(NOT_ENROLLED)
    return row


def _digits(code: str) -> str:
    # Apps show the code as "123 456"; phones may paste it with spaces or a dash.
    return re.sub(r"[\s-]", "", code or "")


def _use_code(session: Session, row: TwoFactor, code: str, now: datetime) -> None:
    """Accept a current code once: remember its time step, refuse it and older ones after."""
    typed = _digits(code)
    if len(typed) != CODE_DIGITS or not typed.isascii() or not typed.isdigit():
        raise CodeRefused(WRONG_CODE, field="code")
    totp = pyotp.TOTP(row.secret)
    current = totp.timecode(now)
    for step in range(current - CLOCK_DRIFT_STEPS, current + CLOCK_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed):
            _claim_step(session, row, step)
            return
    raise CodeRefused(WRONG_CODE, field="code")


def _claim_step(session: Session, row: TwoFactor, step: int) -> None:
    """Record the step as used, in one conditional update: of two requests sending the same
    code at once, only one is accepted."""
    claimed = session.execute(
        update(TwoFactor)
        .where(
            TwoFactor.id == row.id,
            or_(TwoFactor.last_used_step.is_(None), TwoFactor.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise CodeRefused(USED_CODE, field="code")
    set_committed_value(row, "last_used_step", step)


def new_recovery_code() -> str:
    """Return a random recovery code written like abcd-efgh-jkmn."""
    groups = (
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
        for _ in range(RECOVERY_GROUPS)
    )
    return "-".join(groups)


def _normalised_recovery_code(code: str) -> str:
    return re.sub(r"[^a-z]", "", (code or "").lower())


def _recovery_hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{_normalised_recovery_code(code)}".encode()).hexdigest()


def _replace_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        salt = secrets.token_hex(16)
        session.add(
            RecoveryCode(
                user_id=user.id, salt=salt, code_hash=_recovery_hash(salt, code), created_at=now
            )
        )
    session.flush()
    return codes


def _burn_recovery_code(session: Session, user: User, code: str, now: datetime) -> None:
    """Mark the matching unused recovery code as used, or refuse the code."""
    typed = _normalised_recovery_code(code)
    if len(typed) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH:
        raise CodeRefused(_l("This recovery code is not correct."), field="recovery_code")
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if hmac.compare_digest(row.code_hash, _recovery_hash(row.salt, typed)):
            # Conditional, so that the same code sent twice at once is accepted once.
            burned = session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if burned.rowcount == 1:
                set_committed_value(row, "used_at", now)
                return
    raise CodeRefused(
        _l("This recovery code is not correct, or it was already used."), field="recovery_code"
    )
