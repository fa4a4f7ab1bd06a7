"""What the concurrency tests share: holding a row lock while parallel requests queue on it,
and watching PostgreSQL until they do."""

from __future__ import annotations

import contextlib
import time

import sqlalchemy as sa
from sqlalchemy import select

from portal.extensions import db

TIMEOUT = 60  # seconds: a deadlocked request fails the test instead of hanging the run


@contextlib.contextmanager
def row_held(model, row_id: int):
    """Hold a row locked FOR UPDATE on a connection of our own until the block ends."""
    connection = db.engine.connect()
    transaction = connection.begin()
    try:
        connection.execute(select(model.id).where(model.id == row_id).with_for_update())
        yield
    finally:
        transaction.rollback()
        connection.close()


def waiting_on_locks(threads, expected: int) -> int:
    """Poll PostgreSQL until `expected` requests wait on a lock (or some ended without)."""
    engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + TIMEOUT
    with engine.connect() as connection:
        while True:
            waiting = connection.scalar(query)
            finished = sum(not thread.is_alive() for thread in threads)
            if waiting + finished >= expected or time.monotonic() > deadline:
                return waiting
            time.sleep(0.005)
