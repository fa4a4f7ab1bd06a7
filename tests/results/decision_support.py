"""Builders and fixtures the decision tests share: a closed call, reviewed applications with the
scores and amounts a test needs, staff clients, and counters of what was written."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.applications.models import BudgetLine
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.results.models import Committee, Decision
from portal.review.models import Screening, ScreeningDecision
from portal.web.formatting import format_mad
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def call(app):
    """A closed call: envelope 1,000,000 MAD, one lot of 500,000, awards 50,000 to 300,000."""
    return factories.closed_call()


@pytest.fixture
def staff(login_as):
    """(client, user): a signed-in staff member."""
    return login_as("staff")


@pytest.fixture
def other_staff(login_as):
    """(client, user): a second staff member, for four eyes."""
    return login_as("staff")


def reviewed(call, score: int, *, asked: int = 100_000, evaluator=None, **fields):
    """Return an application screened eligible, asking `asked` MAD, reviewed with `score` (0 to
    10) on every criterion (so its final score on 100 is score × 10)."""
    application = factories.submitted_application(call, **fields)
    line = application.budget_lines[0]
    line.quantity, line.unit_cost = 1, asked
    db.session.add(
        Screening(
            application_id=application.id,
            call_id=call.id,
            decision=ScreeningDecision.ELIGIBLE,
        )
    )
    db.session.commit()
    factories.scored_review(
        application, evaluator or factories.evaluator(call), [score] * len(call.criteria)
    )
    return application


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def written() -> tuple[int, int, int, int]:
    """Decisions, committees, audit events and outbox messages: to show nothing was written."""
    return count(Decision), count(Committee), count(AuditEvent), count(OutboxMessage)


def money(amount: int, locale: str = "ar") -> str:
    with force_locale(locale):
        return format_mad(amount)


def decision_fields(application, outcome="funded", **values) -> dict:
    """The form fields of an application's decision card, with its prefix."""
    data = {
        "outcome": outcome,
        "motivation_ar": "تعليل",
        "motivation_fr": "",
        "gender_marker": "1",
    }
    data.update(values)
    return {f"a{application.id}-{name}": value for name, value in data.items()}


def budget_line_count(application) -> int:
    return db.session.scalar(
        select(func.count(BudgetLine.id)).where(BudgetLine.application_id == application.id)
    )
