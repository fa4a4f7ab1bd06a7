"""One page of a query's results, with the total, in two statements whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(session: Session, query: Select, number: int, size: int) -> Page:
    """Return page `number` (1-based, clamped) of `query`."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    number = min(max(1, number), max(1, -(-total // size)))
    window = query.limit(size).offset((number - 1) * size)
    # A query of several columns gives rows (tuples); a query of one entity gives the entities.
    if len(query.column_descriptions) > 1:
        items = [tuple(row) for row in session.execute(window)]
    else:
        items = list(session.scalars(window))
    return Page(items=items, number=number, size=size, total=total)
