"""Fixtures: a fake Feishu Open API on port 0, the adapter pointed at it, and an ASGI client for its routes."""

from __future__ import annotations

import pytest

from adapters.feishu import create_adapter
from tests.adapters.feishu.helpers import APP_ID, APP_SECRET, config
from tests.fakes.feishu import FakeFeishu
from tests.fakes.routes import route_client, start_recording

NOW = 1763802840.0  # the adapter's wall clock, so request timestamps are deterministic


@pytest.fixture(scope="session", autouse=True)
def lark_oapi_imported():
    """Import lark-oapi once, before any test's clock runs. The adapter loads it on a thread and the
    first send waits for it; its seconds would otherwise come out of one test's time budget."""
    import lark_oapi  # noqa: F401


@pytest.fixture
def fake():
    feishu = FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET).start()
    yield feishu
    feishu.stop()


@pytest.fixture
async def adapter(fake):
    a = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    yield a
    await a.stop()


@pytest.fixture
async def sink(adapter):
    return await start_recording(adapter)


@pytest.fixture
async def http(adapter, sink):
    async with route_client(adapter) as client:
        yield client
