"""Parallel enrolments and cancellations (checklist R01, R02): never over-booked, the cap held,
the waitlist served in order, each waitlisted person promoted at most once.

Each request runs in its own thread, app context, database session and connection. On
PostgreSQL the test holds the session's row locked while the threads start, waits until
PostgreSQL reports every one of them waiting on that lock, then lets them go together. The
SQLite test proves the other half: the lock taken first makes parallel writers wait on the busy
timeout instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.models import Association
from portal.training import services
from portal.training.models import Enrolment, EnrolmentStatus, TrainingSession
from portal.training.services import EnrolmentError
from tests import factories
from tests.concurrency import TIMEOUT, alone_among_workers, row_held, waiting_on_locks
from tests.training.conftest import participant, verified_association

CONFIRMED, WAITLISTED = EnrolmentStatus.CONFIRMED, EnrolmentStatus.WAITLISTED

postgres_only = pytest.mark.postgres


@pytest.fixture
def app(app_factory, tmp_path_factory):
    """An app whose pool has a connection for every thread (the default holds 15), used by one
    test at a time across the workers (up to 64 connections each)."""
    app = app_factory(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 70, "max_overflow": 0}
    )
    workers_folder = tmp_path_factory.getbasetemp().parent
    with alone_among_workers(workers_folder, "many-connections"), app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()  # its connections closed before another test may open as many


@pytest.fixture
def on_postgres(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "parallel enrolments with row locks are tested on PostgreSQL only: run with "
            "TEST_DATABASE_URL=postgresql://…; the CI runs both"
        )


@pytest.fixture
def on_sqlite(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's database write lock is tested on SQLite only")


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


def run_in_parallel(app, jobs, *, held: int | None = None) -> list[str]:
    """Run each `job(session)` in its own thread, request context and session, committing it (or
    rolling back on a refusal); return "done" or "refused" per job. With `held` (PostgreSQL),
    the session row is locked until every job waits on it."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str | None] = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index, job):
        try:
            # A request context, as in a real request: refusals translate their message.
            with app.test_request_context():
                barrier.wait(timeout=TIMEOUT)
                try:
                    job(db.session)
                    db.session.commit()
                    outcomes[index] = "done"
                except EnrolmentError:
                    db.session.rollback()
                    outcomes[index] = "refused"
                finally:
                    db.session.remove()
        except BaseException as error:  # reported by the test
            failures.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(jobs)]
    waiting = None
    with row_held(TrainingSession, held) if held is not None else contextlib.nullcontext():
        for thread in threads:
            thread.start()
        if held is not None:
            waiting = waiting_on_locks(threads, len(jobs))
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request did not finish"
    assert not failures, failures
    if held is not None:
        assert waiting == len(jobs), f"only {waiting} of {len(jobs)} requests met at the lock"
    return outcomes


def enrolling(training_id: int, association_id: int, user_id: int, data: dict):
    def job(session):
        association = session.get(Association, association_id)
        actor = session.get(User, user_id)
        services.enrol(session, training_id, association, data, actor=actor)

    return job


def cancelling(enrolment_id: int, user_id: int):
    def job(session):
        enrolment = session.get(Enrolment, enrolment_id)
        services.cancel(session, enrolment, actor=session.get(User, user_id), by_staff=True)

    return job


def live(session, training_id: int) -> list[Enrolment]:
    return list(
        session.scalars(
            select(Enrolment)
            .where(
                Enrolment.session_id == training_id, Enrolment.status != EnrolmentStatus.CANCELLED
            )
            .order_by(Enrolment.id)
        )
    )


def assert_consistent(session, training) -> list[Enrolment]:
    """seats_taken equals the confirmed rows, never above capacity; no cap exceeded; the
    confirmed came before the waitlisted; the waitlist is numbered 1, 2, … in order of id."""
    session.expire_all()
    training = session.get(TrainingSession, training.id)
    rows = live(session, training.id)
    confirmed = [row for row in rows if row.status == CONFIRMED]
    waitlisted = [row for row in rows if row.status == WAITLISTED]
    assert training.seats_taken == len(confirmed) <= training.capacity
    per_association: dict[int, int] = {}
    for row in rows:
        per_association[row.association_id] = per_association.get(row.association_id, 0) + 1
    assert max(per_association.values()) <= training.per_association_cap
    positions = [services.waitlist_position(session, row) for row in waitlisted]
    assert positions == list(range(1, len(waitlisted) + 1))
    assert len({row.email for row in rows}) == len(rows)
    assert all(row.registration_code for row in confirmed)
    assert not any(row.registration_code for row in waitlisted)
    return rows


@postgres_only
def test_sixty_parallel_enrolments_for_ten_seats_confirm_exactly_ten(app, session, on_postgres):
    """R01: 20 associations (cap 2) send 3 participants each, all at once."""
    training = factories.training_session(capacity=10, per_association_cap=2)
    senders = [verified_association() for _ in range(20)]
    jobs = [
        enrolling(training.id, association.id, owner.id, participant())
        for association, owner in senders
        for _ in range(3)
    ]
    session.commit()

    outcomes = run_in_parallel(app, jobs, held=training.id)

    assert outcomes.count("refused") == 20  # the third participant of each association
    rows = assert_consistent(session, training)
    confirmed = [row for row in rows if row.status == CONFIRMED]
    waitlisted = [row for row in rows if row.status == WAITLISTED]
    assert (len(confirmed), len(waitlisted)) == (10, 30)
    assert max(row.id for row in confirmed) < min(row.id for row in waitlisted)
    assert count(session, AuditEvent, AuditEvent.action == "training.enrolled") == 40
    assert count(session, OutboxMessage, OutboxMessage.template == "training_confirmed") == 10
    assert count(session, OutboxMessage, OutboxMessage.template == "training_waitlisted") == 30


@postgres_only
def test_parallel_cancellations_and_enrolments_promote_each_waitlisted_person_once(
    app, session, on_postgres, staff
):
    """R02: 8 cancellations of confirmed places race 20 new enrolments; each cancellation
    promotes the first waitlisted at that moment, nobody twice, capacity never exceeded."""
    training = factories.training_session(capacity=10, per_association_cap=2)
    for _ in range(15):  # 10 confirmed, 20 waitlisted
        association, owner = verified_association()
        for _ in range(2):
            services.enrol(session, training.id, association, participant(), actor=owner)
            session.commit()
    before = live(session, training.id)
    confirmed_before = [row.id for row in before if row.status == CONFIRMED]
    waitlisted_before = [row.id for row in before if row.status == WAITLISTED]
    newcomers = [verified_association() for _ in range(10)]
    jobs = [cancelling(enrolment_id, staff.id) for enrolment_id in confirmed_before[:8]]
    jobs += [
        enrolling(training.id, association.id, owner.id, participant())
        for association, owner in newcomers
        for _ in range(2)
    ]
    session.commit()

    outcomes = run_in_parallel(app, jobs, held=training.id)

    assert outcomes == ["done"] * len(jobs)
    rows = assert_consistent(session, training)
    promoted = list(
        session.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == "training.promoted")
        )
    )
    assert len(promoted) == len(set(promoted)) == 8
    # The session never had a free seat, so the promoted are the first 8 waiting before.
    assert sorted(promoted) == waitlisted_before[:8]
    confirmed = [row.id for row in rows if row.status == CONFIRMED]
    assert sorted(confirmed) == sorted(confirmed_before[8:] + waitlisted_before[:8])
    assert count(session, OutboxMessage, OutboxMessage.template == "training_promoted") == 8
    assert len([row for row in rows if row.status == WAITLISTED]) == 12 + 20


def test_parallel_enrolments_on_sqlite_wait_for_the_write_lock_and_never_over_book(
    app, session, on_sqlite
):
    """On the file database: no "database is locked", exactly capacity confirmed, the cap and
    the one-place-per-person rule held (4 associations send 3 participants each; two
    associations send the same person)."""
    training = factories.training_session(capacity=5, per_association_cap=2)
    senders = [verified_association() for _ in range(4)]
    jobs = [
        enrolling(training.id, association.id, owner.id, participant())
        for association, owner in senders
        for _ in range(3)
    ]
    jobs += [
        enrolling(training.id, association.id, owner.id, participant(email="twice@example.org"))
        for association, owner in [verified_association(), verified_association()]
    ]
    session.commit()

    outcomes = run_in_parallel(app, jobs)  # an OperationalError would fail it

    assert outcomes.count("refused") == 4 + 1
    rows = assert_consistent(session, training)
    assert [row.status for row in rows].count(CONFIRMED) == 5
    assert [row.status for row in rows].count(WAITLISTED) == 4
