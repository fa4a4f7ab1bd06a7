"""Two staff deciding on one application at once, on PostgreSQL: one decision is saved, the other
is told someone decided first, and nothing is overwritten silently."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.notifications.models import OutboxMessage
from portal.review.models import Screening, ScreeningDecision
from tests import factories
from tests.applications.test_concurrency import clients_of, count, in_parallel
from tests.applications.test_concurrency import postgres as postgres  # noqa: F401 (autouse)

pytestmark = pytest.mark.postgres


def test_two_staff_deciding_from_one_version_get_one_decision_and_one_conflict(app, session, call):
    first_user = factories.UserFactory(roles=("staff",))
    second_user = factories.UserFactory(roles=("staff",))
    application = factories.submitted_application(call)
    session.add(Screening(application_id=application.id, call_id=call.id))
    session.commit()
    record = session.scalar(select(Screening))
    version = record.version
    url = f"/staff/applications/{application.id}/screening"
    (first, first_token), (second, second_token) = clients_of(app, first_user, second_user)
    eligible = {"decision": "eligible", "version": version}
    ineligible = {"decision": "ineligible", "version": version, "reason_ar": "سبب"}

    answers = in_parallel(
        app,
        [
            lambda: first.post(
                url, data=eligible, headers={"X-CSRFToken": first_token}, csrf=False
            ),
            lambda: second.post(
                url, data=ineligible, headers={"X-CSRFToken": second_token}, csrf=False
            ),
        ],
        held=(Screening, record.id),
    )

    assert sorted(answer.status for answer in answers) == [303, 409], answers
    winner = 0 if answers[0].status == 303 else 1
    session.expire_all()
    saved = session.scalar(select(Screening))
    expected = [ScreeningDecision.ELIGIBLE, ScreeningDecision.INELIGIBLE][winner]
    assert saved.decision == expected
    assert saved.decided_by_id == [first_user, second_user][winner].id
    assert saved.version == version + 1
    assert count(session, AuditEvent, AuditEvent.action == "screening.decided") == 1
    mails = count(session, OutboxMessage, OutboxMessage.template == "screening_ineligible")
    assert mails == (1 if expected == ScreeningDecision.INELIGIBLE else 0)
