"""SQLite: the threads of one process take turns on the write lock instead of polling SQLite's."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text

from core.db.engine import make_engine
from core.db.uow import UnitOfWork


def test_threads_take_turns_across_units_of_work(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")

    @event.listens_for(engine, "connect")
    def no_patience(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # without turns of its own, a second writer would now fail at once with "database is locked"
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (who TEXT)"))
    first, second = UnitOfWork(engine), UnitOfWork(engine)  # two collaborators, one database
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def holder() -> None:
        with first.begin() as s:
            s.execute(text("INSERT INTO log VALUES ('a')"))
            inside.set()
            release.wait(5)
            order.append("a done")

    def waiter() -> None:
        try:
            with second.begin() as s:
                s.execute(text("INSERT INTO log VALUES ('b')"))
                order.append("b in")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            order.append(f"b failed: {exc}")

    a = threading.Thread(target=holder)
    a.start()
    assert inside.wait(5)
    b = threading.Thread(target=waiter)
    b.start()
    b.join(0.2)
    assert b.is_alive() and order == []  # b waits for its turn
    release.set()
    a.join(5)
    b.join(5)
    assert order == ["a done", "b in"]  # and no "database is locked" in b
    with first.begin() as s:  # a thread may open a unit of work again after its own
        assert [r[0] for r in s.execute(text("SELECT who FROM log ORDER BY rowid"))] == ["a", "b"]
    engine.dispose()
