"""A local fake of the Slack Web API, response_url and Socket Mode gateway, recording every call."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import Failure, ThreadedFakeServer


@dataclass
class Call:
    method: str  # Web API method ("chat.postMessage"), or "response_url"
    params: dict[str, Any]
    token: str | None = None
    path: str = ""
    at: float = field(default_factory=time.monotonic)  # when it arrived (pacing and Retry-After checks)


class FakeSlack(ThreadedFakeServer):
    """Serves /api/<method>, /response/<id> and the Socket Mode websocket on 127.0.0.1:0.

    Runs on its own thread and loop, so the code under test (on the test's loop) talks to it
    over real HTTP exactly as it would to slack.com. `url` is the Web API base URL.
    """

    label = "Slack"

    def __init__(self, *, bot_user_id: str = "UBOT", bot_id: str = "BBOT", team_id: str = "T1") -> None:
        super().__init__()
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.acks: list[dict[str, Any]] = []
        self.latency: dict[str, float] = {}  # method -> seconds before answering (slow Slack)
        self._failures: dict[str, list[Failure]] = {}
        self._counter = 0

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def add_user(self, user_id: str, display_name: str, real_name: str | None = None) -> None:
        self.users[user_id] = {
            "id": user_id, "name": display_name.lower().replace(" ", "."), "real_name": real_name or display_name,
            "profile": {"display_name": display_name, "real_name": real_name or display_name},
        }

    def add_message(self, channel: str, ts: str, text: str, *, user: str = "U1",
                    thread_ts: str | None = None) -> None:
        msg: dict[str, Any] = {"type": "message", "ts": ts, "text": text, "user": user}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(msg)

    def fail(self, method: str, *, error: str | None = None, status: int = 200,
             headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` calls of `method` answer with `status` and {"ok": false, "error": error}."""
        body = {"ok": False, "error": error or "fatal_error"}
        self._failures.setdefault(method, []).extend(
            Failure(status=status, body=body, headers=headers or {}) for _ in range(times))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def response_url(self, name: str = "1") -> str:
        return f"{self.base}/response/{name}"

    # Socket Mode -----------------------------------------------------------

    def wait_connected(self, timeout: float = 5.0) -> None:
        if not self._wait_sync(lambda: bool(self._sockets), timeout):
            raise TimeoutError("no socket mode connection")

    def wait_disconnected(self, timeout: float = 5.0) -> None:
        if not self._wait_sync(lambda: not self._sockets, timeout):
            raise TimeoutError("socket mode connection still open")

    def send_envelope(self, envelope: dict[str, Any]) -> None:
        text = json.dumps(envelope)

        async def push() -> None:
            for ws in list(self._sockets):
                await ws.send_str(text)

        self._run(push(), timeout=5)

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Block until the client acks `envelope_id` (call through asyncio.to_thread from tests)."""
        def found() -> dict[str, Any] | None:
            return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)

        if not self._wait_sync(lambda: found() is not None, timeout):
            raise TimeoutError(f"no ack for {envelope_id}")
        ack = found()
        assert ack is not None
        return ack

    # ------------------------------------------------------------------ server

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/link/", self._socket)
        return app

    def _next_ts(self) -> str:
        self._counter += 1
        return f"{1700000000 + self._counter}.{self._counter:06d}"

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        for key in ("blocks", "view"):  # form-encoded calls carry these as JSON strings
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        self._record_call(Call(method=method, params=params, token=token, path=request.path))
        if self.latency.get(method):
            await asyncio.sleep(self.latency[method])
        queued = self._failures.get(method)
        if queued:
            failure = queued.pop(0)
            return failure.response()
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            return web.json_response({"ok": True, **handler(params)})
        except _ApiError as exc:
            return web.json_response({"ok": False, "error": exc.error})

    async def _response(self, request: web.Request) -> web.StreamResponse:
        self._record_call(Call(method="response_url", params=await request.json(), path=request.path))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._changed()
        # https://api.slack.com/apis/socket-mode#connect
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A1"}}))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.acks.append(json.loads(msg.data))
                    self._changed()
        finally:
            self._sockets.remove(ws)
            self._changed()
        return ws

    # ------------------------------------------------------------------ methods

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": self.bot_user_id, "bot_id": self.bot_id, "team_id": self.team_id,
                "team": "Example", "user": "deskbot", "url": "https://example.slack.com/"}

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/link/"}

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        msg = {"type": "message", "ts": ts, "text": p.get("text", ""), "user": self.bot_user_id,
               "bot_id": self.bot_id, "blocks": p.get("blocks", [])}
        if p.get("thread_ts"):
            msg["thread_ts"] = p["thread_ts"]
        self.messages.setdefault(p["channel"], []).append(msg)
        return {"channel": p["channel"], "ts": ts, "message": msg}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        for msg in self.messages.get(p["channel"], []):
            if msg["ts"] == p["ts"]:
                msg.update(text=p.get("text", ""), blocks=p.get("blocks", []))
                return {"channel": p["channel"], "ts": p["ts"], "text": msg["text"]}
        raise _ApiError("message_not_found")

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": self._next_ts()}

    def _m_conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(p["users"]).split(",")[0][1:]}}

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self._counter += 1
        return {"view": {"id": f"V{self._counter:04d}", **p["view"]}}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(p["user"])
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    @staticmethod
    def _window(msgs: list[dict[str, Any]], p: dict[str, Any]) -> list[dict[str, Any]]:
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
        lo, hi = float(p.get("oldest") or 0), float(p.get("latest") or 1e12)

        def inside(ts: float) -> bool:
            return lo <= ts <= hi if inclusive else lo < ts < hi

        return [m for m in msgs if inside(float(m["ts"]))]

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        top = [m for m in self.messages.get(p["channel"], []) if m.get("thread_ts") in (None, m["ts"])]
        found = sorted(self._window(top, p), key=lambda m: float(m["ts"]), reverse=True)
        return {"messages": found[: int(p.get("limit") or 100)], "has_more": False}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        msgs = self.messages.get(p["channel"], [])
        target = next((m for m in msgs if m["ts"] == p["ts"]), None)
        if target is None:
            raise _ApiError("thread_not_found")
        root = target.get("thread_ts") or target["ts"]
        thread = [m for m in msgs if m["ts"] == root or m.get("thread_ts") == root]
        return {"messages": sorted(self._window(thread, p), key=lambda m: float(m["ts"])), "has_more": False}


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error
