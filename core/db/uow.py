"""Unit of work: one database transaction per event, sweep or API call."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy.engine import Engine
from sqlmodel import Session

# one lock per engine, kept no longer than the engine itself
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(engine, threading.RLock())


class UnitOfWork:
    """Opens sessions on one engine. `with uow.begin() as s:` commits on success, rolls back on error.

    On SQLite every transaction takes the database's write lock (BEGIN IMMEDIATE), and a writer that
    finds it taken polls with growing sleeps (up to 100 ms each). Threads of this process take turns
    on a lock of their own first, so one starts the moment the other commits; other processes still
    wait on SQLite's busy timeout."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._turns = _writer_lock(engine) if engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Session]:
        turn: AbstractContextManager[object] = self._turns if self._turns is not None else nullcontext()
        with turn:
            session = Session(self.engine, expire_on_commit=False)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
