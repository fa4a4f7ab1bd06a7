"""Submitting: on the server's clock, all or nothing, idempotent, versioned, with a receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.applications import services
from portal.applications.models import Application, ApplicationStatus, Submission
from portal.audit.models import AuditEvent
from portal.calls.models import DeadlineExtension
from portal.notifications.models import OutboxMessage
from tests import factories


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


@pytest.fixture
def clock(monkeypatch):
    """Freeze the database clock the submission services read."""

    def freeze(moment: datetime) -> None:
        monkeypatch.setattr(services, "database_now", lambda session: moment)

    return freeze


def submit(client, application):
    return client.post(f"/applications/{application.id}/submit")


def test_complete_application_is_submitted_with_a_receipt(complete_application, session):
    client, user, application = complete_application
    response = submit(client, application)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/applications/{application.id}/submissions/1")
    session.expire_all()
    submission = session.scalar(select(Submission))
    assert submission.reference.startswith("SHK-")
    assert len(submission.content_sha256) == 64
    assert submission.attachment_hashes[0]["document"] == "statutes"
    assert session.get(Application, application.id).status == ApplicationStatus.SUBMITTED
    assert count(session, OutboxMessage, OutboxMessage.template == "submission_receipt") == 1
    page = client.get(response.headers["Location"])
    assert submission.reference in page.get_data(as_text=True)


def test_submitting_twice_gives_one_submission_one_event_one_email(complete_application, session):
    """R03: a double click or a resend gives the same result and one receipt."""
    client, _user, application = complete_application
    first, second = submit(client, application), submit(client, application)
    assert first.headers["Location"] == second.headers["Location"]
    assert count(session, Submission) == 1
    assert count(session, AuditEvent, AuditEvent.action == "application.submitted") == 1
    assert count(session, OutboxMessage, OutboxMessage.template == "submission_receipt") == 1


def test_incomplete_application_is_refused_and_nothing_is_written(member, call, session):
    client, user, association = member
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    response = submit(client, application)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/completeness")
    assert count(session, Submission) == 0
    session.expire_all()
    assert session.get(Application, application.id).status == ApplicationStatus.DRAFT


def test_submission_after_the_deadline_is_refused_with_the_time_and_the_draft_is_kept(
    complete_application, session, clock
):
    """R07/R09: a page loaded before the deadline and sent after it is refused."""
    client, _user, application = complete_application
    clock(application.call.closes_at + timedelta(seconds=1))
    response = submit(client, application)
    assert response.status_code == 409
    assert "UTC+0" in response.get_data(as_text=True)
    assert count(session, Submission) == 0
    session.expire_all()
    kept = session.get(Application, application.id)
    assert kept.status == ApplicationStatus.DRAFT
    assert kept.context == "سياق"


@pytest.mark.parametrize(
    ("deadline", "label"),
    [
        (datetime(2026, 12, 15, 22, 59, tzinfo=UTC), "winter, UTC+1: 23:59 local"),
        (datetime(2027, 2, 20, 23, 59, tzinfo=UTC), "Ramadan 2027, UTC+0: 23:59 local"),
        (datetime(2027, 2, 7, 2, 0, tzinfo=UTC), "night of the switch to UTC+0"),
        (datetime(2027, 3, 14, 2, 0, tzinfo=UTC), "night of the switch back to UTC+1"),
    ],
)
def test_deadline_cuts_off_at_the_right_utc_instant(member, session, clock, deadline, label):
    """R07/R08: one second before is accepted, one second after is refused, in every period."""
    from tests.applications.conftest import fill_completely

    client, user, association = member
    call = factories.published_call(opens_at=deadline - timedelta(days=30), closes_at=deadline)
    clock(deadline - timedelta(days=1))
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    fill_completely(session, application, user)

    clock(deadline + timedelta(seconds=1))
    assert submit(client, application).status_code == 409, label
    clock(deadline - timedelta(seconds=1))
    assert submit(client, application).status_code == 303, label


def test_local_deadline_is_converted_with_the_ramadan_offset():
    """A deadline entered as 23:59 in Casablanca during Ramadan 2027 is 23:59 UTC."""
    from zoneinfo import ZoneInfo

    from portal.timeutil import format_offset, from_local, to_local

    zone = ZoneInfo("Africa/Casablanca")
    ramadan = from_local(datetime(2027, 2, 20, 23, 59), zone)
    winter = from_local(datetime(2026, 12, 15, 23, 59), zone)
    assert ramadan == datetime(2027, 2, 20, 23, 59, tzinfo=UTC)
    assert winter == datetime(2026, 12, 15, 22, 59, tzinfo=UTC)
    assert format_offset(to_local(ramadan, zone)) == "UTC+00:00"
    assert format_offset(to_local(winter, zone)) == "UTC+01:00"


def test_an_extension_lets_only_its_association_submit_late_once(
    complete_application, login_as, session, clock
):
    """R10: only the association with the extension submits late, once, and it is audited."""
    client, _user, application = complete_application
    staff = factories.UserFactory(roles=("staff",))
    session.add(
        DeadlineExtension(
            call_id=application.call_id,
            association_id=application.association_id,
            until=application.call.closes_at + timedelta(hours=6),
            reason="Panne d'électricité",
            granted_by_id=staff.id,
        )
    )
    session.commit()
    clock(application.call.closes_at + timedelta(hours=1))
    assert submit(client, application).status_code == 303
    session.expire_all()
    submission = session.scalar(select(Submission))
    assert submission.late_by_extension is True
    extension = session.scalar(select(DeadlineExtension))
    assert extension.used_at is not None

    other_client, other_user = login_as("applicant")
    other = factories.AssociationFactory(owner=other_user)
    other_application = Application(
        call_id=application.call_id, association_id=other.id, created_by_id=other_user.id
    )
    session.add(other_application)
    session.commit()
    assert submit(other_client, other_application).status_code == 409


def test_reopen_and_resubmit_keeps_each_version_with_its_receipt(complete_application, session):
    client, user, application = complete_application
    submit(client, application)
    assert client.post(f"/applications/{application.id}/reopen").status_code == 303
    session.expire_all()
    application = session.get(Application, application.id)
    services.save_fields(
        session,
        application,
        {"context": "سياق معدل"},
        {"context": services.field_version(application, "context")},
        actor=user,
    )
    session.commit()
    second = submit(client, application)
    assert second.headers["Location"].endswith("/submissions/2")
    session.expire_all()
    submissions = list(session.scalars(select(Submission).order_by(Submission.number)))
    assert [s.number for s in submissions] == [1, 2]
    assert submissions[0].content["context"] == "سياق"
    assert submissions[1].content["context"] == "سياق معدل"
    assert submissions[0].reference != submissions[1].reference
    assert services.final_submission(session.get(Application, application.id)) == submissions[1]


def test_editing_after_submission_is_refused(complete_application, session):
    """R06: an autosave after submission is refused with a message; nothing changes."""
    client, _user, application = complete_application
    submit(client, application)
    response = client.post(
        f"/applications/{application.id}/fields/context",
        data={"context": "تغيير", "version.context": 99},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Application, application.id).context == "سياق"


def test_withdrawal_before_the_deadline_is_kept_as_a_state(complete_application, session):
    client, _user, application = complete_application
    assert client.post(f"/applications/{application.id}/withdraw").status_code == 303
    session.expire_all()
    withdrawn = session.get(Application, application.id)
    assert withdrawn.status == ApplicationStatus.WITHDRAWN
    assert withdrawn.withdrawn_at is not None


def test_first_submission_freezes_the_call(complete_application, session):
    client, _user, application = complete_application
    submit(client, application)
    session.expire_all()
    assert session.get(Application, application.id).call.frozen_at is not None
