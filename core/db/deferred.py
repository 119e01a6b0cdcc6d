"""Append-only rows of an intake batch, written together just before the batch commits.

Timeline entries, audit records, thread links and outbox rows are never changed by the event that
writes them. While an intake batch runs (core.intake installs a buffer on its session) `insert` keeps
them here, and `write` sends each table's rows in one executemany, in the order they were made (so
ids keep the order of the events). Outside a batch (API, sweeps, tests) `insert` writes at once.

Readers inside the batch find pending rows with `pending`; `mark` and `rewind` undo what an event
added when its savepoint is rolled back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlmodel import Session

from core.db import fast

_KEY = "deskbot.deferred_rows"

Mark = tuple[tuple[tuple[Table, int], ...], int]


class DeferredRows:
    def __init__(self) -> None:
        self.tables: dict[Table, list[dict[str, Any]]] = {}
        # tickets inserted since the last write: every deferred row about them is still here
        self.fresh: dict[int, None] = {}
        # rows by the value of one column, built on the first lookup, dropped when rows go away
        self._indexes: dict[tuple[Table, str], dict[Any, list[dict[str, Any]]]] = {}

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)
        for (indexed, column), index in self._indexes.items():
            if indexed is table:
                index.setdefault(row[column], []).append(row)

    def matching(self, table: Table, column: str, value: Any) -> list[dict[str, Any]]:
        index = self._indexes.get((table, column))
        if index is None:
            index = self._indexes[(table, column)] = {}
            for row in self.tables.get(table, ()):
                index.setdefault(row[column], []).append(row)
        return index.get(value, [])

    def mark(self) -> Mark:
        return tuple((table, len(rows)) for table, rows in self.tables.items()), len(self.fresh)

    def rewind(self, mark: Mark) -> None:
        sizes, fresh = mark
        known = dict(sizes)
        for table, rows in self.tables.items():
            del rows[known.get(table, 0):]
        for ticket_id in list(self.fresh)[fresh:]:
            del self.fresh[ticket_id]
        self._indexes.clear()

    def clear(self) -> None:
        for rows in self.tables.values():
            rows.clear()
        self.fresh.clear()
        self._indexes.clear()

    def write(self, session: Session) -> None:
        for table, rows in self.tables.items():
            if rows:
                fast.execute_many(session, _insert_of(table), rows)
        self.clear()


_INSERTS: dict[Table, Any] = {}


def _insert_of(table: Table) -> Any:
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = table.insert()  # built once: building a statement costs more than running it
    return stmt


def install(session: Session) -> DeferredRows:
    """Keep append-only rows of this session until `write` (the intake batch's)."""
    buffer = session.info[_KEY] = DeferredRows()
    return buffer


def insert(session: Session, table: Table, row: dict[str, Any]) -> None:
    buffer = session.info.get(_KEY)
    if buffer is None:
        fast.execute(session, _insert_of(table), row)
    else:
        buffer.add(table, row)


def pending(session: Session, table: Table, column: str, value: Any) -> list[dict[str, Any]]:
    """Rows of `table` with `column` == `value` made in this session and not written yet (oldest first)."""
    buffer = session.info.get(_KEY)
    return buffer.matching(table, column, value) if buffer is not None else []


def mark_fresh(session: Session, ticket_id: int) -> None:
    buffer = session.info.get(_KEY)
    if buffer is not None:
        buffer.fresh[ticket_id] = None


def is_fresh(session: Session, ticket_id: int | None) -> bool:
    """True for a ticket inserted since the last write: all its deferred rows are pending, none written."""
    buffer = session.info.get(_KEY)
    return buffer is not None and ticket_id in buffer.fresh


def mark(session: Session) -> Mark | None:
    buffer = session.info.get(_KEY)
    return buffer.mark() if buffer is not None else None


def rewind(session: Session, mark: Mark | None) -> None:
    buffer = session.info.get(_KEY)
    if buffer is not None and mark is not None:
        buffer.rewind(mark)
