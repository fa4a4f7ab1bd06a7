"""Results kept between requests in each worker's memory."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Index, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import utcnow
from portal.extensions import db

T = TypeVar("T")


class Kept:
    """Results kept in one worker's memory: a small least-recently-used store, safe across its
    threads. Keys hold whatever makes a result out of date (a token renewed on writes)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        # Computed outside the lock: two requests may both compute a missing entry, and the
        # second stores the same value.
        value = compute()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FiguresChange(db.Model):
    """A change to what some kept figures are computed from; the latest token of a name keys
    them. Rows are only added, so writers never wait for one another."""

    __tablename__ = "figures_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_figures_change_name_id", "name", "id"),)


def latest_token(session: Session, name: str) -> str | None:
    """Return the token of the latest change to the figures `name` (None before any)."""
    return session.scalar(
        select(FiguresChange.token)
        .where(FiguresChange.name == name)
        .order_by(FiguresChange.id.desc())
        .limit(1)
    )


def renew_token(session: Session, name: str) -> None:
    """Record a change to the figures `name`, in the caller's transaction."""
    session.connection().execute(
        insert(FiguresChange).values(name=name, token=uuid.uuid4().hex, changed_at=utcnow())
    )
