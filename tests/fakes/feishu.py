"""A local fake of the Feishu Open API and long-connection gateway on 127.0.0.1:0, recording every call."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from tests.fakes.server import Failure, ThreadedFakeServer

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
RECEIVE_ID_TYPES = ("chat_id", "open_id", "union_id", "user_id", "email")


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    token: str | None = None  # the bearer token the caller sent

    @property
    def content(self) -> Any:
        """The message content decoded from its JSON string (send / reply / patch)."""
        raw = (self.body or {}).get("content")
        return json.loads(raw) if isinstance(raw, str) else raw


class FakeFeishu(ThreadedFakeServer):
    """Serves the Open API endpoints deskbot uses and the long-connection endpoint + websocket.

    Runs on its own thread and loop (lark-oapi makes blocking calls; the bot's loop must stay
    free). Point `feishu.domain` at `url`. Every HTTP call lands in `calls`; data frames the
    gateway pushed and the client's answers land in `frames_sent` / `acks`."""

    label = "Feishu"

    def __init__(self, *, app_id: str = "cli_test", app_secret: str = "secret",
                 bot_open_id: str = "ou_bot", bot_name: str = "IT Desk") -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.bot_open_id = bot_open_id
        self.bot_name = bot_name
        self.calls: list[Call] = []
        self.messages: dict[str, dict[str, Any]] = {}  # message_id -> GET item
        self.acks: list[Any] = []  # decoded answer frames from the long-connection client
        self.issued_tokens: list[str] = []
        self.revoked_tokens: set[str] = set()
        self.ws_connections = 0
        self.ws_closed = 0
        self._uuids: dict[str, str] = {}
        self._failures: dict[str, list[Failure]] = {}
        self._delays: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._pending_acks: dict[str, asyncio.Future[Any]] = {}

    # -- control ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.base

    def fail_next(self, path_part: str, *, status: int = 200, code: int = 0, msg: str = "error",
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` calls whose path contains `path_part` answer with this failure."""
        failure = Failure(status=status, body={"code": code, "msg": msg}, headers=headers or {})
        with self._cond:
            self._failures.setdefault(path_part, []).extend([failure] * times)

    def slow_down(self, path_part: str, seconds: float) -> None:
        """Calls whose path contains `path_part` are answered `seconds` late (a slow Open API)."""
        with self._cond:
            self._delays[path_part] = seconds

    def add_message(self, message_id: str, *, chat_id: str, text: str, sender_open_id: str,
                    root_id: str | None = None, mentions: list[dict[str, Any]] | None = None) -> None:
        """Seed a message for GET /open-apis/im/v1/messages/{id} (what a reaction points at)."""
        self.messages[message_id] = {
            "message_id": message_id, "chat_id": chat_id, "msg_type": "text",
            "root_id": root_id or "", "parent_id": root_id or "",
            "body": {"content": json.dumps({"text": text}, ensure_ascii=False)},
            "sender": {"id": sender_open_id, "id_type": "open_id", "sender_type": "user", "tenant_key": "t1"},
            "mentions": mentions or [], "deleted": False, "updated": False,
        }

    def calls_to(self, method: str, path_part: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and path_part in c.path]

    def wait_for_calls(self, method: str, path_part: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        self._wait_sync(lambda: len(self.calls_to(method, path_part)) >= count, timeout)
        return self.calls_to(method, path_part)

    async def wait_for_ws(self, count: int = 1, timeout: float = 20.0) -> None:
        """Await (from any loop) until `count` long-connection sockets have connected."""
        if not await self._wait(lambda: self.ws_connections >= count, timeout):
            raise TimeoutError("no long connection")

    async def wait_for_ws_closed(self, count: int = 1, timeout: float = 10.0) -> None:
        if not await self._wait(lambda: self.ws_closed >= count, timeout):
            raise TimeoutError("long connection not closed")

    async def push_event(self, payload: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
        """Send one event as a protobuf data frame and return the client's decoded answer
        ({"code": 200, "data": <decoded JSON or None>})."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._push(payload, timeout), self._loop)
        return await asyncio.wrap_future(fut)

    # -- server -----------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, self._token)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)
        app.router.add_post("/open-apis/im/v1/messages", self._create)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_get("/open-apis/im/v1/messages/{message_id}", self._get_message)
        app.router.add_post("/open-apis/ephemeral/v1/send", self._ephemeral)
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._ws)
        return app

    async def _record(self, request: web.Request) -> tuple[Call, web.Response | None]:
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = await request.text()
        auth = request.headers.get("Authorization", "")
        call = Call(method=request.method, path=request.path, params=dict(request.query), body=body,
                    token=auth.removeprefix("Bearer ") or None)
        with self._cond:  # record and pick the failure in one step, as a test may queue one meanwhile
            self.calls.append(call)
            failure = None
            for part, queue in self._failures.items():
                if part in request.path and queue:
                    failure = queue.pop(0)
                    break
            delay = next((d for part, d in self._delays.items() if part in request.path), 0.0)
        self._changed()
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            return call, failure.response()
        if request.path != TOKEN_PATH and request.path != "/callback/ws/endpoint":
            if call.token not in self.issued_tokens or call.token in self.revoked_tokens:
                return call, web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        return call, None

    async def _token(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        if call.body != {"app_id": self.app_id, "app_secret": self.app_secret}:
            return web.json_response({"code": 10014, "msg": "app secret invalid"}, status=400)
        token = f"t-fake-{next(self._ids)}"
        self.issued_tokens.append(token)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    async def _bot_info(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        if failed:
            return failed
        return web.json_response({"code": 0, "msg": "ok", "bot": {
            "activate_status": 2, "app_name": self.bot_name, "open_id": self.bot_open_id, "ip_white_list": []}})

    def _new_message(self, uuid: str | None, chat_id: str, body: dict[str, Any], root_id: str = "") -> str:
        # Like Feishu: the same uuid within an hour sends nothing new and returns the first message.
        if uuid and uuid in self._uuids:
            return self._uuids[uuid]
        message_id = f"om_{next(self._ids)}"
        if uuid:
            self._uuids[uuid] = message_id
        self.messages[message_id] = {
            "message_id": message_id, "chat_id": chat_id, "msg_type": body.get("msg_type"),
            "root_id": root_id, "body": {"content": body.get("content")},
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app"},
        }
        return message_id

    async def _create(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        id_type = call.params.get("receive_id_type")
        if id_type not in RECEIVE_ID_TYPES:
            return web.json_response({"code": 230001, "msg": "invalid receive_id_type"}, status=400)
        receive_id = call.body["receive_id"]
        # A message to a person lands in the bot's p2p chat with them (named here after the person).
        chat_id = receive_id if id_type == "chat_id" else f"oc_p2p_{receive_id}"
        message_id = self._new_message(call.body.get("uuid"), chat_id, call.body)
        return web.json_response({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    async def _reply(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        parent = self.messages.get(request.match_info["message_id"], {})
        root = parent.get("root_id") or request.match_info["message_id"]
        message_id = self._new_message(call.body.get("uuid"), parent.get("chat_id", ""), call.body, root)
        return web.json_response({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    async def _patch(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return web.json_response({"code": 230110, "msg": "message deleted"}, status=400)
        message["body"] = {"content": call.body.get("content")}
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _get_message(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        if failed:
            return failed
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return web.json_response({"code": 230110, "msg": "message deleted"}, status=400)
        return web.json_response({"code": 0, "msg": "success", "data": {"items": [message]}})

    async def _ephemeral(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        if failed:
            return failed
        return web.json_response({"code": 0, "msg": "ok", "data": {"message_id": f"om_eph_{next(self._ids)}"}})

    # -- long connection --------------------------------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        if call.body.get("AppID") != self.app_id or call.body.get("AppSecret") != self.app_secret:
            return web.json_response({"code": 1000040344, "msg": "bad credentials"})
        host = urlsplit(self.url).netloc
        return web.json_response({"code": 0, "msg": "ok", "data": {
            "URL": f"ws://{host}/ws?device_id=dev-1&service_id=7",
            "ClientConfig": {"ReconnectCount": 0, "ReconnectInterval": 1, "ReconnectNonce": 0,
                             "PingInterval": 120},
        }})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        with self._cond:
            self.ws_connections += 1
        self._changed()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                frame = Frame()
                frame.ParseFromString(msg.data)
                if frame.method != 1:
                    continue  # control frames (ping): nothing to answer in tests
                headers = {h.key: h.value for h in frame.headers}
                answer = json.loads(frame.payload)
                data = answer.get("data")
                decoded = {"code": answer.get("code"),
                           "data": json.loads(base64.b64decode(data)) if data else None}
                self.acks.append(decoded)
                fut = self._pending_acks.pop(headers.get("message_id", ""), None)
                if fut is not None and not fut.done():
                    fut.set_result(decoded)
        finally:
            self._sockets.remove(ws)
            with self._cond:
                self.ws_closed += 1
            self._changed()
        return ws

    async def _push(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        if not self._sockets:
            raise RuntimeError("no long connection to push to")
        message_id = f"msg-{next(self._ids)}"
        frame = Frame(SeqID=1, LogID=1, service=7, method=1, payload=json.dumps(payload).encode())
        for key, value in (("type", "event"), ("message_id", message_id), ("trace_id", "trace-1"),
                           ("sum", "1"), ("seq", "0")):
            header = frame.headers.add()
            header.key, header.value = key, value
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_acks[message_id] = fut
        await self._sockets[-1].send_bytes(frame.SerializeToString())
        return await asyncio.wait_for(fut, timeout)
