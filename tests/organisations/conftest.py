"""Helpers for the association tests: the page text of a message, row counts, a full profile."""

from __future__ import annotations

import pytest
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db


def shown(message: str, locale: str = "ar", **values) -> str:
    """Return the message as a page in `locale` shows it: translated, then HTML-escaped."""
    with force_locale(locale):
        return str(escape(gettext(message, **values)))


def count(model, *conditions) -> int:
    """Count the rows of a model (optionally matching conditions), read fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def audit_actions() -> list[str]:
    """Return the actions of every audit event, oldest first."""
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def profile_form():
    """Every field of the registration form, filled with valid values (a fresh dict each test)."""
    return {
        "name_ar": "جمعية النور للدفاع عن حقوق الإنسان",
        "name_fr": "Association Annour pour la défense des droits de l'Homme",
        "acronym": "AADDH",
        "legal_form": "association",
        "registration_number": "AG-2014-0093",
        "founded_on": "2014-06-21",
        "region": "souss-massa",
        "city": "Agadir",
        "address": "5, avenue Hassan II",
        "email": "Contact@Annour.example.ma",
        "phone": "+212 528 00 00 00",
        "website": "https://annour.example.ma",
        "fields_of_work": ["womens-rights", "un-mechanisms"],
        "target_groups": ["women", "children"],
        "description_ar": "جمعية تعمل في جهة سوس ماسة.",
        "description_fr": "Association active dans la région Souss-Massa.",
    }
