"""One page of a query's results, with the total, in two statements whatever the data size;
or one page of a list already computed (a ranking, whose ranks need every row)."""

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


def paginate(
    session: Session, query: Select, number: int, size: int, total: int | None = None
) -> Page:
    """Return page `number` (1-based, clamped) of `query`; `total`, when the caller has
    already counted the rows, saves the count."""
    if total is None:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    number = min(max(1, number), max(1, -(-total // size)))
    window = query.limit(size).offset((number - 1) * size)
    # A query of several columns gives rows (tuples); a query of one entity gives the entities.
    if len(query.column_descriptions) > 1:
        items = [tuple(row) for row in session.execute(window)]
    else:
        items = list(session.scalars(window))
    return Page(items=items, number=number, size=size, total=total)


def paginate_list(items: list, number: int, size: int) -> Page:
    """Return page `number` (1-based, clamped) of a list."""
    total = len(items)
    number = min(max(1, number), max(1, -(-total // size)))
    start = (number - 1) * size
    return Page(items=items[start : start + size], number=number, size=size, total=total)
