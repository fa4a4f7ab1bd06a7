"""Results kept between requests in each worker's memory."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Index, String, delete, event, func, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import utcnow
from portal.extensions import db

T = TypeVar("T")


class Kept:
    """Results kept in one worker's memory: a small least-recently-used store, safe across its
    threads. Keys hold whatever makes a result out of date (a token renewed on writes)."""

    every: list[Kept] = []  # every store, for `forget_all`

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        Kept.every.append(self)

    @classmethod
    def forget_all(cls) -> None:
        """Empty every store of this worker (what counts a computation's queries needs)."""
        for store in cls.every:
            store.clear()

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


def prune_changes(session: Session) -> int:
    """Delete every change but the latest of each name (only the latest token keys anything);
    return how many went. Rows a writer adds meanwhile are newer, so they stay."""
    latest = select(func.max(FiguresChange.id)).group_by(FiguresChange.name)
    result = session.execute(delete(FiguresChange).where(FiguresChange.id.not_in(latest)))
    return result.rowcount


# A rule on one instance of the flush: True or False decides, None leaves it to the columns.
Rule = Callable[[Session, object, str], bool | None]
Watched = dict[type, tuple[str, ...] | None]


def kept_under(session: Session, store: Kept, name: str, key: tuple, compute: Callable[[], T]) -> T:
    """Return what `store` keeps under the latest token of `name` and `key`, computing it when
    missing; before any change of `name` is recorded, compute it every time."""
    token = latest_token(session, name)
    if token is None:
        return compute()
    return store.get_or_compute((name, token, *key), compute)


class KeptFigures:
    """Figures of one name kept in each worker: a store of `size` answers, and a flush listener
    that renews the name's token whenever a write changes what `watched` names (see
    `changes_watched`)."""

    def __init__(self, name: str, size: int, watched: Watched, rule: Rule | None = None) -> None:
        self.name = name
        self.store = Kept(size)
        renew_on_flush(name, watched, rule)

    def changed(self, session: Session) -> None:
        """Record that the figures changed, in the caller's transaction: what a write that
        bypasses the unit of work (a Core statement) must call itself."""
        renew_token(session, self.name)

    def kept(self, session: Session, key: tuple, compute: Callable[[], T]) -> T:
        """Return the answer kept under `key` and the current token, computing it if missing.
        It is shared between requests: read it, never change it."""
        return kept_under(session, self.store, self.name, key, compute)


def flushed(session: Session) -> Iterator[tuple[object, str]]:
    """Yield (instance, "new" | "dirty" | "deleted") for what the session is flushing; in an
    after_flush listener the rows are written but the states and histories are still there."""
    yield from ((instance, "new") for instance in session.new)
    yield from ((instance, "dirty") for instance in session.dirty)
    yield from ((instance, "deleted") for instance in session.deleted)


def any_changed(instance, names) -> bool:
    """Tell whether any of these attributes (columns or relationships) of `instance` changed."""
    attributes = inspect(instance).attrs
    return any(attributes[name].history.has_changes() for name in names)


def value_before(instance, name: str):
    """Return the attribute's value before this flush (its value when it did not change)."""
    history = inspect(instance).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(instance, name)


def changes_watched(
    session: Session, instance, state: str, watched: Watched, rule: Rule | None = None
) -> bool:
    """Tell whether this flushed instance changes figures computed from the `watched` models: a
    new or deleted row, or a change to one of its watched attributes (None: any); `rule` may
    decide first."""
    if type(instance) not in watched:
        return False
    decided = rule(session, instance, state) if rule else None
    if decided is not None:
        return decided
    if state in ("new", "deleted"):
        return True
    columns = watched[type(instance)]
    return session.is_modified(instance) if columns is None else any_changed(instance, columns)


def renew_on_flush(name: str, watched: Watched, rule: Rule | None = None):
    """Record a change of the figures `name` on every flush that writes what `watched` names."""

    @event.listens_for(Session, "after_flush")
    def renew(session: Session, _context) -> None:
        if any(
            changes_watched(session, instance, state, watched, rule)
            for instance, state in flushed(session)
        ):
            renew_token(session, name)

    return renew
