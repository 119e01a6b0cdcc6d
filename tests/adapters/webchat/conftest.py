"""Shared set-up for web chat adapter tests: a config with staff names, the adapter, an ASGI app."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette

from adapters.webchat import create_adapter
from adapters.webchat.transport import WebChatAdapter
from bot.config import WebChatConfig, WebChatPerson


def webchat_config(**overrides: Any) -> WebChatConfig:
    base: dict[str, Any] = {
        "people": [WebChatPerson(name="Wang Fang", roles=["technician"]),
                   WebChatPerson(name="Zhao Min", roles=["lead", "technician"])],
    }
    base.update(overrides)
    return WebChatConfig(**base)


def chat_app(adapter: WebChatAdapter, sink: Any) -> Starlette:
    """The adapter's routes in an app whose lifespan starts the adapter with `sink`."""

    @asynccontextmanager
    async def lifespan(app: Starlette):
        await adapter.start(sink)
        yield
        await adapter.stop()

    return Starlette(routes=adapter.routes(), lifespan=lifespan)


@pytest.fixture
def adapter() -> WebChatAdapter:
    return create_adapter(webchat_config(), server_host="127.0.0.1")
