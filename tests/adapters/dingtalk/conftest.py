"""Fixtures for DingTalk adapter tests: the fake platform and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.dingtalk import create_adapter
from adapters.dingtalk.transport import DingTalkAdapter
from bot.config import DingTalkConfig
from tests.fakes.dingtalk import CLIENT_ID, CLIENT_SECRET, FakeDingTalk
from tests.fakes.sink import RecordingSink


@pytest.fixture
def fake() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()


def make_adapter(fake: FakeDingTalk, *, card_template_id: str | None = "tpl-ticket.schema", **kw) -> DingTalkAdapter:
    cfg = DingTalkConfig(enabled=True, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, robot_code=CLIENT_ID,
                         api_base_url=fake.url, card_template_id=card_template_id)
    kw.setdefault("reconnect_delay", 0.05)
    return create_adapter(cfg, **kw)


@pytest.fixture
async def running(fake: FakeDingTalk) -> AsyncIterator[tuple[DingTalkAdapter, RecordingSink]]:
    """An adapter connected to the fake gateway, handing events to a RecordingSink."""
    adapter = make_adapter(fake)
    sink = RecordingSink()
    await adapter.start(sink)
    await fake.wait_connections(1)
    yield adapter, sink
    await adapter.stop()
