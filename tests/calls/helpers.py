"""Builders and readers for the call tests: a call complete enough to publish, row counts, the
text of a page as its reader sees it."""

from __future__ import annotations

import html
from datetime import timedelta
from html.parser import HTMLParser

from babel import support
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import func, select
from wtforms.i18n import messages_path

from portal.audit.models import AuditEvent
from portal.calls import services
from portal.db import utcnow
from portal.extensions import db


def shown(message, locale: str = "ar", **values) -> str:
    """Return a message (a source string or a lazy one) as a reader of `locale` sees it."""
    with force_locale(locale):
        return gettext(message, **values) if isinstance(message, str) else str(message)


def plural_shown(singular: str, plural: str, number: int, locale: str = "ar") -> str:
    """Return a message with a number, in the plural form `locale` uses for it."""
    with force_locale(locale):
        return ngettext(singular, plural, number)


def form_shown(message: str, locale: str = "ar") -> str:
    """Return one of WTForms' own messages as a reader of `locale` sees it."""
    return support.Translations.load(messages_path(), [locale], domain="wtforms").ugettext(message)


def text_of(response) -> str:
    """Return the response body with HTML entities decoded (`l&#39;appel` reads `l'appel`)."""
    return html.unescape(response.get_data(as_text=True))


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            self.inputs.append(dict(attrs))


def ticked_boxes(response) -> set[tuple[str, str]]:
    """Return (name, value) of every checkbox the page shows ticked."""
    parser = _Inputs()
    parser.feed(response.get_data(as_text=True))
    return {
        (attrs["name"], attrs["value"])
        for attrs in parser.inputs
        if attrs.get("type") == "checkbox" and "checked" in attrs
    }


def count(model, *conditions) -> int:
    """Count rows of a model, read fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def audit_actions() -> list[str]:
    """Return the actions of every audit event, oldest first."""
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def general_data(**overrides) -> dict:
    """The general fields of a call, as the call form hands them to the services."""
    now = utcnow().replace(second=0, microsecond=0)
    data = {
        "code": "AAP-TEST",
        "title_ar": "طلب عروض تجريبي",
        "title_fr": "Appel à projets d'essai",
        "description_ar": "وصف الطلب",
        "description_fr": "Description de l'appel",
        "opens_at": now - timedelta(days=1),
        "closes_at": now + timedelta(days=30),
        "results_expected_at": now + timedelta(days=90),
        "budget_total": 1_000_000,
        "min_amount": 50_000,
        "max_amount": 300_000,
        "min_cofunding_percent": 10,
        "max_duration_months": 12,
        "min_years_since_founding": 2,
        "max_applications_per_association": 1,
        "max_budget_lines": 60,
        "region_codes": [],
    }
    data.update(overrides)
    return data


def lot_data(**overrides) -> dict:
    data = {
        "title_ar": "الحصة الأولى",
        "title_fr": "Premier lot",
        "description_ar": "",
        "description_fr": "",
        "budget": 400_000,
        "axis_codes": ["axis-1"],
        "project_numbers": [21],
    }
    data.update(overrides)
    return data


def criterion_data(**overrides) -> dict:
    data = {
        "title_ar": "الملاءمة",
        "title_fr": "Pertinence",
        "guidance_ar": "",
        "guidance_fr": "",
        "weight": 100,
        "max_score": 10,
    }
    data.update(overrides)
    return data


def document_data(**overrides) -> dict:
    data = {
        "code": "statutes",
        "name_ar": "القانون الأساسي",
        "name_fr": "Statuts",
        "mandatory": True,
        "allowed_types": ["pdf"],
        "max_size_mb": 10,
    }
    data.update(overrides)
    return data


def check_data(**overrides) -> dict:
    data = {"text_ar": "وضعية جبائية سليمة", "text_fr": "Situation fiscale régulière"}
    data.update(overrides)
    return data


def complete_draft(actor, **overrides):
    """Build, through the services, a draft call with everything publication needs."""
    session = db.session
    call = services.create_call(session, general_data(**overrides), actor=actor)
    services.save_lot(session, call, lot_data(), actor=actor)
    services.save_criterion(session, call, criterion_data(weight=60), actor=actor)
    services.save_criterion(
        session,
        call,
        criterion_data(title_fr="Méthode", title_ar="المنهجية", weight=40),
        actor=actor,
    )
    services.save_document(session, call, document_data(), actor=actor)
    services.save_manual_check(session, call, check_data(), actor=actor)
    session.commit()
    return call
