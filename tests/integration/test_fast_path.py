"""The DBAPI fast path (core.db.fast) writes and reads exactly what Connection.execute does."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import fast
from core.db.models import AuditRecord
from core.db.types import UtcDateTime


def moments() -> list[datetime]:
    rng = random.Random(3)
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30)),
             ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]
    out = [datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # the hour DST skips
           datetime(2026, 12, 4, 9, 30, tzinfo=UTC), datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)]
    for _ in range(300):
        naive = datetime(2000, 1, 1) + timedelta(seconds=rng.randrange(40 * 365 * 86400),
                                                 microseconds=rng.choice([0, rng.randrange(10**6)]))
        out.append(naive.replace(tzinfo=rng.choice(zones)))
    return out


def test_utc_text_is_what_the_column_type_writes_on_sqlite() -> None:
    dialect = pysqlite.SQLiteDialect_pysqlite(dbapi=sqlite3)
    own = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    for moment in moments():
        assert fast.utc_text(moment) == own(moment), moment
    assert fast.utc_text(None) is None
    with pytest.raises(ValueError, match="naive"):
        fast.utc_text(datetime(2026, 12, 4, 9, 30))


_AUDIT = AuditRecord.__table__  # type: ignore[attr-defined]
_INSERT = insert(_AUDIT)
_READ = select(_AUDIT.c.at, _AUDIT.c.action).where(_AUDIT.c.entity_id == bindparam("b_entity"))


def test_rows_written_on_the_fast_path_match_connection_execute(engine: Engine) -> None:
    stamps = moments()[:40]
    rows = [dict(at=at, actor="webchat:alice", action="check", entity="ticket", entity_id=str(i))
            for i, at in enumerate(stamps)]
    with Session(engine) as session, session.begin():
        fast.execute_many(session, _INSERT, rows[::2])
        for row in rows[1::2]:
            fast.execute(session, _INSERT, row)
        # the same values again through SQLAlchemy's own execution, under other ids
        session.connection().execute(_INSERT, [{**row, "entity_id": f"sa{row['entity_id']}"} for row in rows])
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT entity_id, CAST(at AS TEXT) FROM audit_log")).all())
    for i in range(len(stamps)):
        assert stored[str(i)] == stored[f"sa{i}"]  # the same text in the database
    with Session(engine) as session:
        for i, at in enumerate(stamps):
            (read_at, action), = fast.execute(session, _READ, {"b_entity": str(i)}).all()
            assert (read_at, action) == (at, "check") and read_at.tzinfo is not None
