"""The Stream-mode gateway link: dingtalk-stream's client with async connect, reconnect and a clean stop."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from contextlib import suppress
from typing import Any
from urllib.parse import quote_plus

import websockets
from dingtalk_stream import Credential, DingTalkStreamClient
from dingtalk_stream.version import VERSION_STRING

from adapters.dingtalk.openapi import OpenApi

log = logging.getLogger(__name__)


class _QuietPings(logging.Filter):
    """The SDK warns "unknown message topic" for every gateway ping it answers: drop that one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("unknown message topic") and "ping" in map(str, record.args or ()))


sdk_log = logging.getLogger("adapters.dingtalk.sdk")


class GatewayConnection(DingTalkStreamClient):
    """Runs on the bot's event loop without blocking it.

    The SDK's `start()` opens the connection with a blocking `requests.post` (no timeout) to a
    URL fixed at import time from DINGTALK_OPENAPI_ENDPOINT, swallows the first cancellation
    and sleeps 3-10 s between attempts. We keep its frame routing, handlers and acks
    (`route_message`/`background_task`) and replace the loop around them: the open call goes
    through our httpx client at the configured base URL, the delay is ours, and cancellation
    ends the loop.
    """

    # a connection that lived this long counts as healthy: the next reconnect is quick again
    STABLE_AFTER = 30.0

    def __init__(self, *, credential: Credential, api: OpenApi, reconnect_delay: float = 3.0,
                 max_reconnect_delay: float = 60.0) -> None:
        if not any(isinstance(f, _QuietPings) for f in sdk_log.filters):
            sdk_log.addFilter(_QuietPings())
        super().__init__(credential, logger=sdk_log)
        self._api = api
        # shadow the import-time class attribute so anything reading it sees our base URL
        self.OPEN_CONNECTION_API = api.url("/v1.0/gateway/connections/open")
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.connections = 0
        self._task: asyncio.Task[None] | None = None
        self._frames: set[asyncio.Task[Any]] = set()

    # -- the SDK's blocking calls must never run on the bot's loop
    def open_connection(self) -> Any:
        raise RuntimeError("blocking open_connection is replaced by open_connection_async")

    def get_access_token(self) -> Any:
        raise RuntimeError("use adapters.dingtalk.openapi.OpenApi.access_token")

    def subscriptions(self) -> list[dict[str, str]]:
        topics = [{"type": "EVENT", "topic": "*"}] if self._is_event_required else []
        topics += [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        return topics

    async def open_connection_async(self) -> dict[str, Any]:
        return await self._api.open_connection(subscriptions=self.subscriptions(),
                                               ua=f"dingtalk-sdk-python/v{VERSION_STRING}-union")

    def _delay(self, failures: int) -> float:
        base = self.reconnect_delay * (2 ** max(0, failures - 1))
        return min(self.max_reconnect_delay, base) * random.uniform(1.0, 1.25)

    def _quick_delay(self) -> float:
        # jittered, so that several bot processes do not all reconnect in the same instant
        return min(self.reconnect_delay, 0.5) * random.uniform(0.2, 1.0)

    async def start(self) -> None:
        """Connect, route frames, reconnect after a drop; returns only by cancellation.

        The gateway closes connections on its own (after a "disconnect" system frame, on
        deploys): the first reconnect after a connection ends is quick. Failed opens and
        connections that end again within STABLE_AFTER seconds back off, doubling up to the cap.
        """
        self.pre_start()
        loop = asyncio.get_running_loop()
        strikes = 0
        while True:
            connected_at: float | None = None
            try:
                connection = await self.open_connection_async()
                uri = f'{connection["endpoint"]}?ticket={quote_plus(connection["ticket"])}'
                async with websockets.connect(uri, close_timeout=2) as ws:
                    self.websocket = ws
                    connected_at = loop.time()
                    self.connections += 1
                    log.info("dingtalk gateway connected", extra={"connections": self.connections})
                    async for raw in ws:
                        self._dispatch(raw)
                log.info("dingtalk gateway closed the connection")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, HTTP, handshake, drop: all end in a reconnect
                log.warning("dingtalk gateway connection failed",
                            extra={"error": f"{type(exc).__name__}: {exc}", "strikes": strikes + 1})
            finally:
                self.websocket = None
            if connected_at is None:
                strikes += 1
                delay = self._delay(strikes)
            else:
                stable = loop.time() - connected_at >= self.STABLE_AFTER
                if stable:
                    strikes = 0
                delay = self._quick_delay() if strikes == 0 else self._delay(strikes)
                if not stable:
                    strikes += 1
            await asyncio.sleep(delay)

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("dingtalk gateway sent a frame that is not JSON")
            return
        # frames are handled concurrently (a card click waits for core) and acked by the SDK
        task = asyncio.create_task(self.background_task(message))
        self._frames.add(task)
        task.add_done_callback(self._frames.discard)

    def run_in_background(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.start(), name="dingtalk-gateway")
        return self._task

    async def stop(self) -> None:
        """Cancel until the loop is done (the websocket closes on the way out), then in-flight frames."""
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=2.5)
        if task is not None and task.done() and not task.cancelled():
            with suppress(Exception):
                task.result()
        frames = list(self._frames)
        for frame in frames:
            frame.cancel()
        if frames:
            await asyncio.gather(*frames, return_exceptions=True)
