"""The WeCom smart robot (智能机器人) long connection: subscribe, heartbeat, callbacks, replies, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# Frame commands (WeCom doc 智能机器人长连接, developer.work.weixin.qq.com/document/path/101463).
# Every frame is JSON {cmd, headers: {req_id}, body}; acks carry no cmd, the same req_id and errcode.
SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
SEND = "aibot_send_msg"

FrameHandler = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class RobotError(Exception):
    """A request on the long connection failed: not connected, no ack in time, or errcode != 0."""

    def __init__(self, reason: str, *, errcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errcode = errcode


def new_req_id(prefix: str) -> str:
    return f"{prefix}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


class RobotLink:
    """One websocket to the robot gateway, kept alive in a background task.

    Callback frames go to `on_frame` in their own tasks (so a slow store never stalls the
    heartbeat). Requests wait for the ack with the same req_id; requests sharing a req_id
    (several replies to one callback) are sent one after another, as the gateway requires."""

    def __init__(self, *, ws_url: str, bot_id: str, secret: str, on_frame: FrameHandler,
                 heartbeat_seconds: float = 30.0, ack_timeout: float = 5.0,
                 backoff_base: float = 1.0, backoff_max: float = 30.0) -> None:
        self._url = ws_url
        self._bot_id = bot_id
        self._secret = secret
        self._on_frame = on_frame
        self._heartbeat = heartbeat_seconds
        self._ack_timeout = ack_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._req_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.ready = asyncio.Event()
        self.connects = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="wecom-robot-link")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for handler in list(self._handlers):
            handler.cancel()
        self._fail_pending("robot link stopped")

    async def _run(self) -> None:
        import websockets  # lazy: only robots need it

        attempt = 0
        while not self._stopping:
            try:
                async with websockets.connect(self._url, ping_interval=None, close_timeout=2,
                                              max_size=4 * 1024 * 1024) as ws:
                    self._ws = ws
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self.request(SUBSCRIBE, {"bot_id": self._bot_id, "secret": self._secret})
                        attempt = 0
                        self.connects += 1
                        self.ready.set()
                        log.info("wecom robot subscribed", extra={"wecom_bot_id": self._bot_id})
                        beat = asyncio.create_task(self._beat(ws))
                        try:
                            await reader
                        finally:
                            beat.cancel()
                    finally:
                        self.ready.clear()
                        self._ws = None
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await reader
                        self._fail_pending("robot connection closed")
            except asyncio.CancelledError:
                raise
            except RobotError as exc:
                log.error("wecom robot subscribe failed", extra={"wecom_errcode": exc.errcode,
                                                                  "reason": exc.reason})
            except Exception as exc:  # network errors of any kind: reconnect with backoff
                log.warning("wecom robot connection lost", extra={"error": repr(exc)})
            if self._stopping:
                break
            delay = min(self._backoff_base * 2 ** attempt, self._backoff_max)
            attempt += 1
            log.info("wecom robot reconnecting", extra={"delay_seconds": delay, "attempt": attempt})
            await asyncio.sleep(delay)

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                log.warning("wecom robot sent a frame that is not JSON")
                continue
            if not isinstance(frame, dict):
                continue
            cmd = frame.get("cmd")
            req_id = str((frame.get("headers") or {}).get("req_id") or "")
            if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
                body = frame.get("body") or {}
                if (body.get("event") or {}).get("eventtype") == "disconnected_event":
                    # WeCom closes this link because a newer connection subscribed with the same
                    # robot: reconnecting would only push that one out in turn.
                    log.error("wecom robot taken over by another connection; not reconnecting")
                    self._stopping = True
                    continue
                task = asyncio.create_task(self._on_frame(frame))
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)
            elif req_id in self._pending:
                fut = self._pending.pop(req_id)
                if not fut.done():
                    fut.set_result(frame)

    async def _beat(self, ws: Any) -> None:
        missed = 0
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self.request(PING, None)
                missed = 0
            except RobotError:
                missed += 1
                if missed >= 2:
                    log.warning("wecom robot heartbeat lost; reconnecting")
                    await ws.close()
                    return

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(RobotError(reason))

    # ------------------------------------------------------------ requests
    async def request(self, cmd: str, body: Any, *, req_id: str | None = None) -> dict[str, Any]:
        """Send one frame and wait for its ack; raise RobotError unless errcode == 0."""
        req_id = req_id or new_req_id(cmd)
        lock, users = self._req_locks.get(req_id) or (asyncio.Lock(), 0)
        self._req_locks[req_id] = (lock, users + 1)
        try:
            async with lock:
                ws = self._ws
                if ws is None:
                    raise RobotError("robot not connected")
                frame: dict[str, Any] = {"cmd": cmd, "headers": {"req_id": req_id}}
                if body is not None:
                    frame["body"] = body
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[req_id] = fut
                try:
                    await ws.send(json.dumps(frame, ensure_ascii=False))
                    ack = await asyncio.wait_for(fut, self._ack_timeout)
                except TimeoutError as exc:
                    raise RobotError(f"no ack for {cmd} in {self._ack_timeout} s") from exc
                except RobotError:
                    raise
                except Exception as exc:
                    raise RobotError(f"{cmd} failed: {type(exc).__name__}") from exc
                finally:
                    if self._pending.get(req_id) is fut:
                        del self._pending[req_id]
        finally:
            lock, users = self._req_locks[req_id]
            if users <= 1:
                del self._req_locks[req_id]
            else:
                self._req_locks[req_id] = (lock, users - 1)
        code = ack.get("errcode", 0)
        if code != 0:
            raise RobotError(f"{cmd} errcode {code}: {ack.get('errmsg')}", errcode=int(code))
        return ack
