"""Feishu long connection: lark-oapi's ws.Client on its own thread and loop, events handed to our loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from .parse import BOT_ADDED, MESSAGE_RECEIVED, REACTION_CREATED

log = logging.getLogger("deskbot.feishu.longconn")

# The platform waits 3 s for a card answer; plain events are acked once stored.
CARD_ANSWER_SECONDS = 2.8
EVENT_STORE_SECONDS = 10.0

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class LongConnection:
    """Runs `lark.ws.Client.start()` (which blocks forever) in a daemon thread.

    Why a thread with its own loop: `import lark_oapi` stores `asyncio.get_event_loop()` in the
    module global `lark_oapi.ws.client.loop`, and the client runs everything on that loop with
    `run_until_complete`, plus blocking `requests` calls for the endpoint. We point that global at
    a fresh loop inside the thread. Each event is passed to `handler` on the main loop with
    `asyncio.run_coroutine_threadsafe`; the SDK waits for the result, so an event is acked
    (frame answered with code 200) only after it was stored, and a failure answers code 500.
    """

    def __init__(self, *, app_id: str, app_secret: str, domain: str, handler: Handler,
                 main_loop: asyncio.AbstractEventLoop) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._domain = domain
        self._handler = handler
        self._main_loop = main_loop
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._stopping = threading.Event()
        self._state_lock = threading.Lock()
        self.started = threading.Event()  # set once the ws client is built and starting
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feishu-long-connection", daemon=True)
        self._thread.start()

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        # Import here: ~3 s, and its import-time get_event_loop() must not grab the main loop.
        import lark_oapi as lark
        import lark_oapi.ws.client as ws_client

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with self._state_lock:
            if self._stopping.is_set():
                loop.close()
                return
            ws_client.loop = loop
            self._loop = loop
            handler = self._dispatcher(lark)
            # WARNING level: at INFO the SDK logs the connection URL, which carries a ticket.
            self._client = lark.ws.Client(self._app_id, self._app_secret, event_handler=handler,
                                          domain=self._domain, log_level=lark.LogLevel.WARNING)
        self.started.set()
        try:
            self._client.start()
        except BaseException as exc:  # noqa: BLE001 - CancelledError on stop, anything else is logged
            if not self._stopping.is_set():
                self.error = exc
                log.error("feishu long connection ended", extra={"error": repr(exc)})
        finally:
            with suppress(Exception):
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _dispatcher(self, lark: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

        def on_event(data: Any) -> None:
            # CustomizedEvent keeps `event` as the raw dict: rebuild the schema 2.0 payload parse.py reads.
            header = {k: v for k, v in vars(data.header).items() if v is not None} if data.header else {}
            self._bridge({"schema": data.schema or "2.0", "header": header, "event": data.event or {}},
                         EVENT_STORE_SECONDS)

        def on_card(data: Any) -> Any:
            payload = json.loads(lark.JSON.marshal(data))
            answer = self._bridge(payload, CARD_ANSWER_SECONDS)
            return P2CardActionTriggerResponse(answer or {})

        builder = lark.EventDispatcherHandler.builder("", "")
        for event_type in (MESSAGE_RECEIVED, REACTION_CREATED, BOT_ADDED):
            builder = builder.register_p2_customized_event(event_type, on_event)
        return builder.register_p2_card_action_trigger(on_card).build()

    def _bridge(self, payload: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Runs on the ws thread: wait for the main loop to take the event. Raising makes the SDK
        answer the frame with code 500, so the platform delivers it again."""
        future = asyncio.run_coroutine_threadsafe(self._handler(payload), self._main_loop)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # -- stop -------------------------------------------------------------------------------------

    async def stop(self, timeout: float = 5.0) -> None:
        """lark.ws.Client has no public stop. We turn off its auto-reconnect, cancel its tasks
        (receive loop, ping loop, handlers), close the websocket, then cancel the task its
        `start()` waits on, so `start()` raises CancelledError and the thread ends. A thread stuck
        in the SDK's blocking endpoint request (no timeout there) is left to die with the process."""
        with self._state_lock:
            self._stopping.set()
            loop, client = self._loop, self._client
        if loop is not None and client is not None and not loop.is_closed():
            with suppress(RuntimeError):  # loop closed between the check and the call
                fut = asyncio.run_coroutine_threadsafe(_shutdown(client), loop)
                with suppress(Exception):
                    await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout)
            if self._thread.is_alive():
                log.warning("feishu long connection thread did not stop in time")

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


async def _shutdown(client: Any) -> None:
    client._auto_reconnect = False
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    waiter = [t for t in tasks if _coro_name(t) == "_select"]
    workers = [t for t in tasks if t not in waiter]
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    conn = client._conn
    client._conn = None
    if conn is not None:
        with suppress(Exception):
            await asyncio.wait_for(conn.close(), 2.0)
    for task in waiter or tasks:
        task.cancel()


def _coro_name(task: asyncio.Task[Any]) -> str:
    coro: Any = task.get_coro()
    return getattr(coro, "__name__", "") or getattr(getattr(coro, "cr_code", None), "co_name", "")
