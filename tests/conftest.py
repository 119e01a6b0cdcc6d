"""Shared fixtures: a migrated database per test on SQLite and, where DESKBOT_TEST_PG_URL is set, PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from core.db.engine import make_engine
from core.migrations import upgrade

PG_URL = os.environ.get("DESKBOT_TEST_PG_URL")
BACKENDS = ["sqlite", *(["pg"] if PG_URL else [])]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "deskbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_ready() -> Iterator[str | None]:
    if not PG_URL:
        yield None
        return
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    yield PG_URL


def _truncate_pg(url: str) -> None:
    import core.db.models  # noqa: F401

    engine = make_engine(url)
    names = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_ready: str | None) -> str:
    if request.param == "sqlite":
        target = tmp_path / "deskbot.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    assert pg_ready
    _truncate_pg(pg_ready)
    return pg_ready


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
