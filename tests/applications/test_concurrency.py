"""Parallel requests on PostgreSQL: a double submit, a double start, two editors on one field.

Each request runs in its own thread, app context, database session and connection. To be sure
the requests really overlap, the test holds the contended row locked while they start, waits
until PostgreSQL reports both requests waiting on that lock, then lets them go together.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.applications import services
from portal.applications.models import Application, Submission
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.models import Association
from tests import factories
from tests.concurrency import TIMEOUT, row_held, waiting_on_locks
from tests.conftest import forget_request_globals, sign_in

pytestmark = pytest.mark.postgres

HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    text: str


@pytest.fixture(autouse=True)
def postgres(app, session):
    """These tests need PostgreSQL's row locks and parallel connections."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "parallel requests are tested on PostgreSQL only (SQLite runs one writer at a "
            "time): run with TEST_DATABASE_URL=postgresql://…; the CI runs both"
        )


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


def clients_of(app, *users):
    """One test client per user, each carrying a copy of that user's signed-in session cookie,
    with the CSRF token of that session."""
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    made = []
    for user in users:
        original = sign_in(app.test_client(), user)
        forget_request_globals()  # else Flask-WTF hands out the previous client's token
        token = original.csrf_token()
        cookie = original.get_cookie(cookie_name)
        copy = app.test_client()
        copy.set_cookie(cookie_name, cookie.value)
        made.append((copy, token))
    return made


def in_parallel(app, sends, *, held: tuple) -> list[Answer]:
    """Run each `send()` in its own thread and app context, started together by a barrier,
    while `held` (model, id) is locked; release it once every request waits on it."""
    barrier = threading.Barrier(len(sends))
    answers: list[Answer | None] = [None] * len(sends)
    failures: list[BaseException] = []

    def run(index, send):
        try:
            with app.app_context():
                barrier.wait(timeout=TIMEOUT)
                response = send()
                answers[index] = Answer(
                    response.status_code,
                    response.headers.get("Location", ""),
                    response.get_data(as_text=True),
                )
        except BaseException as error:  # reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(sends)]
    with row_held(*held):
        for thread in threads:
            thread.start()
        waiting = waiting_on_locks(threads, len(sends))
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request did not finish"
    assert not failures, failures
    assert waiting == len(sends), f"only {waiting} of {len(sends)} requests met at the lock"
    return answers


def test_same_submit_sent_twice_in_parallel_gives_one_submission(
    app, session, complete_application
):
    """R03: one submission, one audit event, one receipt e-mail; both answers the same receipt."""
    _client, user, application = complete_application
    (first, first_token), (second, second_token) = clients_of(app, user, user)
    url = f"/applications/{application.id}/submit"
    session.commit()

    answers = in_parallel(
        app,
        [
            lambda: first.post(url, headers={"X-CSRFToken": first_token}, csrf=False),
            lambda: second.post(url, headers={"X-CSRFToken": second_token}, csrf=False),
        ],
        held=(Application, application.id),
    )

    receipt = f"/applications/{application.id}/submissions/1"
    assert [answer.status for answer in answers] == [303, 303], answers
    assert all(answer.location.endswith(receipt) for answer in answers), answers
    session.expire_all()
    assert count(session, Submission) == 1
    assert count(session, AuditEvent, AuditEvent.action == "application.submitted") == 1
    assert count(session, OutboxMessage, OutboxMessage.template == "submission_receipt") == 1


def test_two_parallel_starts_where_one_is_allowed_make_one_application(app, session, member, call):
    """R04: one row; both requests are sent to it."""
    _client, user, association = member
    assert call.max_applications_per_association == 1
    (first, first_token), (second, second_token) = clients_of(app, user, user)
    url = f"/calls/{call.id}/apply"
    data = {"association_id": association.id}
    session.commit()

    answers = in_parallel(
        app,
        [
            lambda: first.post(url, data=data, headers={"X-CSRFToken": first_token}, csrf=False),
            lambda: second.post(url, data=data, headers={"X-CSRFToken": second_token}, csrf=False),
        ],
        held=(Association, association.id),
    )

    session.expire_all()
    application_id = session.scalar(select(Application.id))
    assert count(session, Application) == 1
    assert count(session, AuditEvent, AuditEvent.action == "application.started") == 1
    assert [answer.status for answer in answers] == [303, 303], answers
    assert all(answer.location.endswith(f"/applications/{application_id}") for answer in answers)


def test_two_editors_saving_one_field_from_one_version_get_one_save_and_one_conflict(
    app, session, member, call
):
    """R05 (R06): the second save is refused with both values; the first one's data is intact."""
    _client, owner, association = member
    editor = factories.UserFactory()
    factories.add_member(association, editor, "editor")
    application = services.start_application(session, call, association, actor=owner)
    session.commit()
    url = f"/applications/{application.id}/fields/context"
    values = ["سياق كتبته المالكة", "Contexte écrit par l'éditeur"]
    clients = clients_of(app, owner, editor)

    def saver(index):
        client, token = clients[index]
        data = {"context": values[index], "version.context": 0}
        headers = {**HTMX, "X-CSRFToken": token}
        return lambda: client.post(url, data=data, headers=headers, csrf=False)

    answers = in_parallel(app, [saver(0), saver(1)], held=(Application, application.id))

    assert sorted(answer.status for answer in answers) == [200, 409], answers
    winner = next(index for index, answer in enumerate(answers) if answer.status == 200)
    loser = answers[1 - winner]
    session.expire_all()
    saved = session.get(Application, application.id)
    assert saved.context == values[winner]
    assert saved.version == 2
    assert count(session, AuditEvent, AuditEvent.action == "application.saved") == 1
    assert str(escape(values[winner])) in loser.text
    assert str(escape(values[1 - winner])) in loser.text
