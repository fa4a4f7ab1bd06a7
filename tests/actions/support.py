"""Builders shared by the funded actions' tests: an action of a signed-in member's association,
a report due on it, counts of rows, audit events and messages."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from portal.actions.models import ProgressReport
from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.timeutil import to_local
from tests import factories


def today() -> date:
    return to_local(utcnow()).date()


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


def messages(template: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == template)
            .order_by(OutboxMessage.id)
        )
    )


def action_with_indicators(association=None, **overrides):
    """Return a funded action whose application has two indicators and planned beneficiaries."""
    application = factories.submitted_application(
        factories.closed_call(),
        association,
        indicator_targets=[
            {"indicator": "ورشات منظمة", "target": "6"},
            {"indicator": "مستفيدات مكوَّنات", "target": "120"},
        ],
        beneficiaries={"women_18_35": 80, "men_18_35": 40},
    )
    return factories.funded_action(application=application, **overrides)


def due_report(action, due_on: date | None = None, **fields) -> ProgressReport:
    """Add a report due on a date (in 30 days by default) to the action."""
    report = ProgressReport(
        action_id=action.id, due_on=due_on or today() + timedelta(days=30), **fields
    )
    db.session.add(report)
    db.session.commit()
    return report


def filled(action, **overrides) -> dict:
    """Return a complete report as the form sends it."""
    line = action.application.budget_lines[0]
    data = {
        "version": "1",
        "activities_done": "نظمنا ثلاث ورشات في الرباط",
        "progress_percent": "40",
        "indicator_0": "3",
        "indicator_1": "55",
        "beneficiaries_women_18_35": "35",
        "beneficiaries_men_18_35": "20",
        f"spent_{line.id}": "30000",
    }
    data.update(overrides)
    return data
