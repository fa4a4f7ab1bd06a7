"""Review reminders: 7 and 2 days before the review deadline, once each, only for open reviews."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.reminders import due_reminder, send_review_reminders
from tests import factories


def reminders(session) -> list[OutboxMessage]:
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.template == "review_reminder")
        .order_by(OutboxMessage.id)
    ).all()


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [(10, None), (7, "7d"), (3, "7d"), (2, "2d"), (0.5, "2d"), (-1, None)],
)
def test_the_reminder_due_depends_on_the_time_left(days_left, expected):
    now = utcnow()
    assert due_reminder(now + timedelta(days=days_left), now) == expected


def test_evaluators_with_open_reviews_get_one_mail_per_call_7_then_2_days_before(app, session):
    now = utcnow()
    call = factories.closed_call(review_deadline=now + timedelta(days=6))
    late, done = factories.evaluator(call, locale="fr"), factories.evaluator(call)
    for _ in range(2):
        factories.assign(factories.submitted_application(call), late)
    factories.scored_review(factories.submitted_application(call), done, [1, 2])

    assert send_review_reminders(session, now) == 1
    assert send_review_reminders(session, now + timedelta(hours=1)) == 0
    assert send_review_reminders(session, now + timedelta(days=4, hours=1)) == 1
    assert send_review_reminders(session, now + timedelta(days=5)) == 0
    db.session.commit()
    mails = reminders(session)
    assert [mail.recipient for mail in mails] == [late.email, late.email]
    assert all(mail.locale == "fr" for mail in mails)
    assert "/reviews" in mails[0].body_text


def test_a_late_first_run_sends_only_the_nearest_reminder(app, session):
    now = utcnow()
    call = factories.closed_call(review_deadline=now + timedelta(days=1))
    user = factories.evaluator(call)
    factories.assign(factories.submitted_application(call), user)
    assert send_review_reminders(session, now) == 1
    assert send_review_reminders(session, now + timedelta(hours=2)) == 0


def test_removed_or_submitted_reviews_and_calls_without_deadline_get_no_reminder(app, session):
    now = utcnow()
    call = factories.closed_call(review_deadline=now + timedelta(days=1))
    user = factories.evaluator(call)
    factories.assign(factories.submitted_application(call), user, status="removed")
    undated = factories.closed_call(review_deadline=None)
    factories.assign(factories.submitted_application(undated), factories.evaluator(undated))
    assert send_review_reminders(session, now) == 0


def test_the_send_reminders_command_queues_review_reminders(app, session):
    call = factories.closed_call(review_deadline=utcnow() + timedelta(days=2))
    factories.assign(factories.submitted_application(call), factories.evaluator(call))
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "reminders queued: 1" in result.output
    db.session.expire_all()
    assert len(reminders(session)) == 1
