"""Signed tokens for e-mail links.

Most are expiring and single-use: a token carries the user id and a fingerprint of the state it
is meant to change (the address still unverified, the current password hash). Once that state
changes the fingerprint no longer matches, so a used link cannot be used again.

Lasting tokens only name a thing to show (a participant's pass, a certificate to download): they
do not expire, and read as None when altered.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer


class TokenExpired(Exception):
    """The link is genuine but too old."""


class TokenInvalid(Exception):
    """The link was altered, belongs to another purpose, or was already used."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"shiraka.{purpose}")


def fingerprint(*parts: object) -> str:
    """Return a short digest of the state a token may act upon."""
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:24]


def make_token(purpose: str, subject_id: int, state: str = "") -> str:
    """Sign a token for `purpose` about `subject_id` in `state`."""
    return _serializer(purpose).dumps({"id": subject_id, "fp": state})


def read_token(purpose: str, token: str, max_age: int) -> tuple[int, str]:
    """Return (subject id, state fingerprint) or raise TokenExpired / TokenInvalid."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as error:
        raise TokenExpired from error
    except BadSignature as error:
        raise TokenInvalid from error
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise TokenInvalid
    return data["id"], str(data.get("fp", ""))


def _lasting_serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"shiraka.{purpose}")


def make_lasting_token(purpose: str, subject_id: int) -> str:
    """Sign `subject_id` for a link that does not expire."""
    return _lasting_serializer(purpose).dumps(subject_id)


def read_lasting_token(purpose: str, token: str) -> int | None:
    """Return the id a lasting token carries, or None when it was altered or forged."""
    try:
        value = _lasting_serializer(purpose).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
