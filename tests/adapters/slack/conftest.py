"""Fixtures: a fake Slack on port 0, the adapter pointed at it, and an ASGI client for its routes."""

from __future__ import annotations

import pytest

from adapters.slack.transport import SlackAdapter
from tests.adapters.slack.helpers import SECRET
from tests.fakes.routes import route_client, start_recording
from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake():
    slack = FakeSlack().start()
    slack.add_user("U1", "Li Lei")
    slack.add_user("U2", "Wang Fang")
    yield slack
    slack.stop()


@pytest.fixture
async def adapter(fake):
    a = SlackAdapter(mode="http", bot_token="xoxb-test", signing_secret=SECRET, api_base_url=fake.url,
                     intake_channels=["CINTAKE"], categories=("hardware", "network"), lang="en")
    yield a
    await a.stop()


@pytest.fixture
async def sink(adapter):
    return await start_recording(adapter)


@pytest.fixture
async def http(adapter, sink):
    async with route_client(adapter) as client:
        yield client
