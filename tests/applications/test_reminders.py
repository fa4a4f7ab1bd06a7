"""Deadline reminders reach owners and editors of unsubmitted drafts once, in their language."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.applications.models import Application
from portal.applications.reminders import send_deadline_reminders
from portal.notifications.models import OutboxMessage
from tests import factories


def draft(session, call, *, locale="ar"):
    owner = factories.UserFactory(locale=locale)
    association = factories.AssociationFactory(owner=owner)
    application = Application(call=call, association=association, created_by_id=owner.id)
    session.add(application)
    session.commit()
    return application, owner


def reminders(session):
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.template == "deadline_reminder"))
    )


def test_a_draft_is_reminded_seven_days_then_one_day_before_the_deadline(session, app):
    call = factories.published_call()
    _application, owner = draft(session, call, locale="fr")
    deadline = call.closes_at
    assert send_deadline_reminders(session, deadline - timedelta(days=8)) == 0
    assert send_deadline_reminders(session, deadline - timedelta(days=6, hours=23)) == 1
    assert send_deadline_reminders(session, deadline - timedelta(days=5)) == 0
    assert send_deadline_reminders(session, deadline - timedelta(hours=20)) == 1
    assert send_deadline_reminders(session, deadline - timedelta(hours=2)) == 0
    session.commit()
    sent = reminders(session)
    assert [message.recipient for message in sent] == [owner.email, owner.email]
    assert all(message.locale == "fr" for message in sent)


def test_a_late_first_run_sends_only_the_last_day_reminder(session, app):
    call = factories.published_call()
    draft(session, call)
    assert send_deadline_reminders(session, call.closes_at - timedelta(hours=3)) == 1
    assert send_deadline_reminders(session, call.closes_at - timedelta(hours=2)) == 0


def test_submitted_applications_and_viewers_get_no_reminder(session, app):
    from portal.applications.models import ApplicationStatus

    call = factories.published_call()
    application, _owner = draft(session, call)
    viewer = factories.UserFactory()
    factories.add_member(application.association, viewer, "viewer")
    assert send_deadline_reminders(session, call.closes_at - timedelta(days=2)) == 1
    assert all(message.recipient != viewer.email for message in reminders(session))
    other, _ = draft(session, call)
    other.status = ApplicationStatus.SUBMITTED
    session.commit()
    assert send_deadline_reminders(session, call.closes_at - timedelta(hours=5)) == 1
