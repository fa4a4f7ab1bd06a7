"""Helpers for the association tests: the page text of a message, fresh row counts."""

from __future__ import annotations

import html

from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db


def shown(message: str, locale: str = "ar", **values) -> str:
    """Return the message as a user of `locale` reads it (compare with `text_of(response)`)."""
    with force_locale(locale):
        return gettext(message, **values)


def text_of(response) -> str:
    """Return the response body with HTML entities decoded (`l&#39;une` reads `l'une`)."""
    return html.unescape(response.get_data(as_text=True))


def count(model, *conditions) -> int:
    """Count the rows of a model (optionally matching conditions), read fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def audit_actions() -> list[str]:
    """Return the actions of every audit event, oldest first."""
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
