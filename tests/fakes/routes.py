"""Starts an adapter on a RecordingSink and calls its HTTP routes in-process, as the platform would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from adapters.base import Adapter
from tests.fakes.sink import RecordingSink


async def start_recording(adapter: Adapter) -> RecordingSink:
    """Start `adapter` handing its events to a new RecordingSink, and return the sink."""
    sink = RecordingSink()
    await adapter.start(sink)
    return sink


@asynccontextmanager
async def route_client(adapter: Adapter, *, base_url: str = "http://deskbot") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go straight to the adapter's routes (no socket, no server)."""
    app = Starlette(routes=adapter.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        yield client
