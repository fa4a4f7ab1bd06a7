"""What the concurrency tests share: holding a row lock while parallel requests queue on it,
and watching PostgreSQL until they do."""

from __future__ import annotations

import contextlib
import fcntl
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import select

from portal.extensions import db

TIMEOUT = 60  # seconds: a deadlocked request fails the test instead of hanging the run


@contextlib.contextmanager
def alone_among_workers(folder: Path, name: str):
    """Hold an exclusive lock on `folder`/`name`.lock, shared by every test worker, until the
    block ends. Tests that open dozens of connections take it: two of them at once on two
    workers would pass PostgreSQL's 100 ("too many clients")."""
    with (folder / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
