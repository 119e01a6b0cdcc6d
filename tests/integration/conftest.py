"""Integration fixtures: a DeskHarness on the per-test database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from tests.harness import DeskHarness


@pytest.fixture
def h(engine: Engine) -> DeskHarness:
    return DeskHarness(engine)
