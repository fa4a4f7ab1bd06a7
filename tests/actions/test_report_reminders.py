"""Owners and editors are reminded once, seven days before a report is due, in their language;
not for a report already sent, nor for one due later, nor for a withdrawn action."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.actions.models import ActionStatus, ReportStatus
from portal.actions.reports import send_report_reminders
from portal.db import utcnow
from portal.extensions import db
from tests import factories
from tests.actions.support import due_report, messages, today


@pytest.fixture
def people(app):
    """(owner, editor, viewer, action): an action of an association with three members."""
    owner = factories.UserFactory(locale="ar")
    association = factories.AssociationFactory(owner=owner)
    editor = factories.UserFactory(locale="fr")
    factories.add_member(association, editor, "editor")
    viewer = factories.UserFactory()
    factories.add_member(association, viewer, "viewer")
    return owner, editor, viewer, factories.funded_action(association)


def test_owners_and_editors_are_reminded_once_a_week_before_a_report_is_due(people):
    owner, editor, _viewer, action = people
    report = due_report(action, today() + timedelta(days=7))

    first = send_report_reminders(db.session, utcnow())
    db.session.commit()
    second = send_report_reminders(db.session, utcnow() + timedelta(hours=1))

    assert (first, second) == (2, 0)
    sent = messages("actions_report_reminder")
    assert sorted((m.recipient, m.locale) for m in sent) == sorted(
        [(owner.email, "ar"), (editor.email, "fr")]
    )
    assert f"/actions/{action.id}/reports/{report.id}" in sent[0].body_text
    db.session.refresh(report)
    assert report.reminded_at is not None


@pytest.mark.parametrize(
    ("days", "status", "action_status"),
    [
        (8, ReportStatus.DUE, ActionStatus.NOT_STARTED),
        (-1, ReportStatus.DUE, ActionStatus.IN_PROGRESS),
        (3, ReportStatus.SUBMITTED, ActionStatus.IN_PROGRESS),
        (3, ReportStatus.ACCEPTED, ActionStatus.IN_PROGRESS),
        (3, ReportStatus.DUE, ActionStatus.WITHDRAWN),
    ],
    ids=["due-later", "already-overdue", "sent", "accepted", "withdrawn-action"],
)
def test_no_reminder_when_none_is_needed(people, days, status, action_status):
    _owner, _editor, _viewer, action = people
    action.status = action_status
    due_report(action, today() + timedelta(days=days), status=status)

    assert send_report_reminders(db.session, utcnow()) == 0
    assert messages("actions_report_reminder") == []


def test_a_report_sent_back_for_changes_is_still_reminded(people):
    _owner, _editor, _viewer, action = people
    due_report(action, today() + timedelta(days=2), status=ReportStatus.CHANGES_REQUESTED)

    assert send_report_reminders(db.session, utcnow()) == 2


def test_the_send_reminders_command_queues_the_report_reminders(app, people):
    _owner, _editor, _viewer, action = people
    due_report(action, today() + timedelta(days=5))

    result = app.test_cli_runner().invoke(args=["send-reminders"])

    assert result.exit_code == 0, result.output
    assert len(messages("actions_report_reminder")) == 2
