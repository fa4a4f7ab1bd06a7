"""Parallel writes to a call's results on PostgreSQL: the same results published twice at once
are published once, and two awards recorded at once never overspend a lot's envelope.

Each request or transaction runs in its own thread, app context, database session and
connection. To be sure they really overlap, the test holds the committee row locked while they
start (every write to a call's decisions begins with `lock_committee`), waits until PostgreSQL
reports both waiting on that lock, then lets them go together.
"""

# ruff: noqa: F811 — the fixtures imported from decision_support are used as arguments
from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from flask import url_for
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.actions.models import FundedAction
from portal.applications.models import Application
from portal.audit.models import AuditEvent
from portal.calls.models import Call
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.services import writers_of
from portal.results import decisions
from portal.results.models import Committee, CommitteeStatus, Decision, Outcome
from portal.results.publishing import TEMPLATES
from tests import factories
from tests.concurrency import TIMEOUT, row_held, waiting_on_locks
from tests.conftest import forget_request_globals, shown, sign_in
from tests.results.decision_support import call, money, reviewed  # noqa: F401 — fixtures
from tests.results.publishing_support import results_world

pytestmark = pytest.mark.postgres

LOT_FULL = "This award would exceed the lot's envelope: %(left)s left in the lot."


@pytest.fixture(autouse=True)
def on_postgres(app):
    """These tests need PostgreSQL's row locks and parallel connections."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "parallel results writes with row locks are tested on PostgreSQL only: run with "
            "TEST_DATABASE_URL=postgresql://…; the CI runs both"
        )


@dataclass(frozen=True)
class Answer:
    status: int
    location: str


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def in_parallel(app, jobs, *, held: tuple) -> list:
    """Run each `job()` in its own thread and app context, started together by a barrier, while
    `held` (model, id) is locked; release it once every job waits on it. Return their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index, job):
        try:
            with app.app_context():
                barrier.wait(timeout=TIMEOUT)
                results[index] = job()
        except BaseException as error:  # reported by the test
            failures.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(jobs)]
    with row_held(*held):
        for thread in threads:
            thread.start()
        waiting = waiting_on_locks(threads, len(jobs))
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a job did not finish"
    assert not failures, failures
    assert waiting == len(jobs), f"only {waiting} of {len(jobs)} jobs met at the lock"
    return results


def staff_clients(app, count: int):
    """(client, CSRF token) for `count` different signed-in staff members, each client with a
    copy of its session cookie (so no client is shared between threads)."""
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    made = []
    for _ in range(count):
        original = sign_in(app.test_client(), factories.UserFactory(roles=("staff",)))
        forget_request_globals()  # else Flask-WTF hands out the previous client's token
        token = original.csrf_token()
        copy = app.test_client()
        copy.set_cookie(cookie_name, original.get_cookie(cookie_name).value)
        made.append((copy, token))
    return made


# --- publishing -----------------------------------------------------------------------------


def test_the_same_results_published_twice_at_once_are_published_once(app, session):
    """One publication, one letter per owner/editor per application, one audit event, the
    funded action opened once; both staff members are sent back to the preview."""
    world = results_world("approved")
    url = url_for("results.publish", call_id=world.call.id)
    expected_letters = sorted(
        (TEMPLATES[decision.outcome], email)
        for decision in session.scalars(select(Decision).where(Decision.call_id == world.call.id))
        for email, _locale in writers_of(session, decision.application.association_id)
    )
    assert len(expected_letters) == 4  # three owners and the French editor; never the viewer
    clients = staff_clients(app, 2)
    session.commit()

    def publisher(client, token):
        def send():
            response = client.post(url, headers={"X-CSRFToken": token}, csrf=False)
            return Answer(response.status_code, response.headers.get("Location", ""))

        return send

    answers = in_parallel(
        app,
        [publisher(*pair) for pair in clients],
        held=(Committee, world.committee.id),
    )

    preview = url_for("results.publish_preview", call_id=world.call.id)
    assert [answer.status for answer in answers] == [303, 303], answers
    assert all(answer.location.endswith(preview) for answer in answers), answers
    session.expire_all()
    committee = session.get(Committee, world.committee.id)
    assert committee.status == CommitteeStatus.PUBLISHED
    letters = sorted(
        (message.template, message.recipient) for message in session.scalars(select(OutboxMessage))
    )
    assert letters == expected_letters
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "results.published"))
    assert event.actor_id == committee.published_by_id
    assert event.details["letters"] == 4
    [action] = session.scalars(select(FundedAction))
    assert action.application_id == world.funded.id
    assert event.details["actions"] == [action.id]


# --- recording awards -----------------------------------------------------------------------


def test_two_awards_recorded_at_once_over_the_lots_envelope_fund_only_one(app, session, call):
    """The lot's envelope is 500,000 MAD; two staff members each award 300,000 at once from a
    draft committee: one award is recorded, the other refused with the amount left."""
    envelope = call.lots[0].budget
    assert envelope == 500_000
    first = reviewed(call, 9, asked=300_000)
    second = reviewed(call, 8, asked=300_000)
    sitting = factories.committee(call, status="draft")
    staff = [factories.UserFactory(roles=("staff",)) for _ in range(2)]
    session.commit()

    def awarding(application_id: int, actor_id: int):
        def job():
            with app.test_request_context():  # refusals translate their message
                session = db.session
                try:
                    decisions.record_decision(
                        session,
                        session.get(Call, call.id),
                        session.get(Application, application_id),
                        decisions.DecisionData(
                            outcome="funded",
                            amount_awarded=300_000,
                            motivation_ar="تعليل",
                            gender_marker=1,
                            deviation_reason="قرار اللجنة",
                        ),
                        actor=session.get(User, actor_id),
                    )
                    session.commit()
                    return "done"
                except decisions.DecisionError as refusal:
                    session.rollback()
                    with force_locale("ar"):
                        return (refusal.field, str(escape(str(refusal.message))))
                finally:
                    session.remove()

        return job

    outcomes = in_parallel(
        app,
        [awarding(first.id, staff[0].id), awarding(second.id, staff[1].id)],
        held=(Committee, sitting.id),
    )

    assert outcomes.count("done") == 1, outcomes
    [refused] = [outcome for outcome in outcomes if outcome != "done"]
    assert refused == ("amount_awarded", shown(LOT_FULL, left=money(200_000)))
    session.expire_all()
    funded = list(
        session.scalars(
            select(Decision).where(
                Decision.call_id == call.id,
                Decision.superseded_at.is_(None),
                Decision.outcome == Outcome.FUNDED,
            )
        )
    )
    assert len(funded) == 1
    assert sum(decision.amount_awarded for decision in funded) == 300_000 <= envelope
    assert decisions.funded_totals(session, call).lot(call.lots[0].id) <= envelope
    assert count(Decision) == 1
    assert count(AuditEvent, AuditEvent.action == "results.decided") == 1
    assert session.get(Committee, sitting.id).status == CommitteeStatus.DRAFT
