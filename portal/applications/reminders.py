"""Deadline reminders: associations with an unsubmitted draft hear 7 days and 1 day before."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.applications.models import Application, ApplicationStatus
from portal.calls.models import Call, CallStatus
from portal.notifications.services import queue_message
from portal.organisations.models import Association, MemberRole, Membership
from portal.web.links import external_url

REMINDERS = (("1d", timedelta(days=1)), ("7d", timedelta(days=7)))


def due_reminder(application: Application, now: datetime) -> str | None:
    """Return the reminder due for this draft now ("1d" or "7d"), or None."""
    left = application.call.closes_at - now
    if left <= timedelta(0):
        return None
    for kind, window in REMINDERS:
        if left <= window:
            return None if kind in application.reminders_sent else kind
    return None


def send_deadline_reminders(session: Session, now: datetime) -> int:
    """Queue the reminders due now, in each member's language; return how many were queued."""
    query = (
        select(Application)
        .join(Call, Call.id == Application.call_id)
        .options(
            selectinload(Application.call),
            selectinload(Application.association)
            .selectinload(Association.memberships)
            .selectinload(Membership.user),
        )
        .where(
            Application.status == ApplicationStatus.DRAFT,
            Call.status == CallStatus.PUBLISHED,
            Call.closes_at > now,
            Call.closes_at <= now + REMINDERS[-1][1],
        )
    )
    queued = 0
    for application in session.scalars(query):
        kind = due_reminder(application, now)
        if kind is None:
            continue
        link = external_url("applications.overview", application_id=application.id)
        for membership in application.association.memberships:
            if membership.role in (MemberRole.OWNER, MemberRole.EDITOR):
                user = membership.user
                queue_message(
                    session,
                    user.email,
                    user.locale,
                    "deadline_reminder",
                    application=application,
                    kind=kind,
                    link=link,
                )
                queued += 1
        # A late first run sends only the nearest reminder, never both at once.
        application.reminders_sent = sorted({*application.reminders_sent, "7d", kind})
    session.flush()
    return queued
