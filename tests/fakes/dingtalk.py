"""A local fake DingTalk on port 0: Stream gateway (connection open + websocket) and the Open API.

It runs aiohttp on its own thread and event loop, so nothing the bot does on its loop can stall
it. Every HTTP call is recorded in `.calls`; every ack the bot sends over the websocket is kept
in `.acks` by messageId. Async tests wait on it with `await fake.wait_for(...)`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import Failure, ThreadedFakeServer

CLIENT_ID = "dingfakeclient"
CLIENT_SECRET = "fake-secret"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"


class FakeDingTalk(ThreadedFakeServer):
    label = "DingTalk"

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
                 token_ttl: int = 7200) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.calls: list[dict[str, Any]] = []
        self.acks: dict[str, list[dict[str, Any]]] = {}
        self.pushed: dict[str, dict[str, Any]] = {}
        self.unexpected_acks: list[dict[str, Any]] = []
        self.connections = 0
        self.disconnects = 0
        self.cards: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.sessions: set[str] = set()
        self._tickets: set[str] = set()
        self._failures: dict[str, list[Failure]] = {}
        self._delays: dict[str, list[float]] = {}
        self._ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._open_ws: set[web.WebSocketResponse] = set()

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return self.base if self.port else ""

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open_connection)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._robot_send)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._robot_send)
        app.router.add_post("/v1.0/card/instances", self._card_create)
        app.router.add_put("/v1.0/card/instances", self._card_update)
        app.router.add_post("/v1.0/card/instances/deliver", self._card_deliver)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self._card_create_and_deliver)
        app.router.add_post("/robot/sendBySession", self._session_webhook)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._open_ws):
            await ws.close(code=1001, message=b"server shutdown")

    # ---------------------------------------------------------------- waiting (from any loop)
    async def wait_for(self, pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        """Wait until `pred()` holds (checked whenever the fake's state changes)."""
        if not await self._wait(pred, timeout):
            raise AssertionError(f"fake DingTalk: timed out waiting for {what}")

    async def wait_ack(self, message_id: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        await self.wait_for(lambda: len(self.acks.get(message_id, [])) >= count, timeout, f"ack {message_id}")
        return self.acks[message_id][count - 1]

    async def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        await self.wait_for(lambda: self.connections >= n and self._ws is not None, timeout,
                            f"{n} gateway connection(s)")

    async def wait_calls(self, path: str, n: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.calls_to(path)) >= n, timeout, f"{n} call(s) to {path}")
        return self.calls_to(path)

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"] == path]

    # ---------------------------------------------------------------- test controls
    def fail_next(self, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """The next call to `path` answers `status` with `body` (JSON) instead of the normal reply."""
        self._failures.setdefault(path, []).append(Failure(status=status, body=body, headers=headers or {}))

    def delay_next(self, path: str, seconds: float) -> None:
        """The next call to `path` is answered only after `seconds` (a slow platform)."""
        self._delays.setdefault(path, []).append(seconds)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def push_frame(self, frame: dict[str, Any]) -> None:
        self._run(self._send(frame), timeout=5)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            raise RuntimeError("no gateway connection")
        mid = frame["headers"]["messageId"]
        self.pushed[mid] = frame
        await self._ws.send_str(json.dumps(frame, ensure_ascii=False))

    def frame(self, topic: str, data: dict[str, Any], *, message_id: str | None = None,
              kind: str = "CALLBACK") -> dict[str, Any]:
        return {
            "specVersion": "1.0", "type": kind,
            "headers": {"appId": "fake-app", "connectionId": "conn-1", "contentType": "application/json",
                        "messageId": message_id or f"msg-{uuid.uuid4().hex[:12]}", "topic": topic,
                        "time": str(int(time.time() * 1000))},
            "data": json.dumps(data, ensure_ascii=False),
        }

    def push_robot_message(self, data: dict[str, Any], *, message_id: str | None = None) -> str:
        frame = self.frame(ROBOT_TOPIC, data, message_id=message_id)
        self.push_frame(frame)
        return frame["headers"]["messageId"]

    def push_card_callback(self, data: dict[str, Any], *, message_id: str | None = None) -> str:
        frame = self.frame(CARD_TOPIC, data, message_id=message_id)
        self.push_frame(frame)
        return frame["headers"]["messageId"]

    def push_ping(self) -> str:
        frame = self.frame("ping", {"opaque": "fake-opaque"}, kind="SYSTEM")
        self.push_frame(frame)
        return frame["headers"]["messageId"]

    def drop(self) -> None:
        """Close the current gateway connection abnormally (as a network drop looks to the client)."""
        ws = self._ws

        async def close() -> None:
            if ws is not None:
                await ws.close(code=1011, message=b"gateway restarting")

        self._run(close(), timeout=5)

    # ---------------------------------------------------------------- payload builders
    def robot_message(self, *, text: str = " VPN 连不上了", group: bool = True,
                      conversation_id: str = "cidGroupA==", staff_id: str = "u-lilei", nick: str = "Li Lei",
                      msg_id: str | None = None, webhook_ttl: float = 5400.0,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A robot message as the gateway delivers it, with a session webhook into this fake."""
        session = uuid.uuid4().hex
        self.sessions.add(session)
        data: dict[str, Any] = {
            "conversationId": conversation_id if group else f"cidDirect{staff_id}==",
            "chatbotCorpId": "ding-corp", "chatbotUserId": "$:LWCP_v1:$robot", "msgId": msg_id or
            f"msg{uuid.uuid4().hex[:16]}", "senderNick": nick, "isAdmin": False, "senderStaffId": staff_id,
            "sessionWebhookExpiredTime": int((time.time() + webhook_ttl) * 1000),
            "createAt": int(time.time() * 1000), "senderCorpId": "ding-corp",
            "conversationType": "2" if group else "1", "senderId": f"$:LWCP_v1:${staff_id}",
            "sessionWebhook": f"{self.url}/robot/sendBySession?session={session}",
            "robotCode": self.client_id, "msgtype": "text", "text": {"content": text},
        }
        if group:
            data["conversationTitle"] = "IT help"
            data["isInAtList"] = True
            data["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$robot"}]
        data.update(extra or {})
        return data

    @staticmethod
    def card_callback(*, out_track_id: str, action_id: str, value: dict[str, str], user_id: str = "u-wangfang",
                      space_id: str = "cidGroupA==", group: bool = True) -> dict[str, Any]:
        """A card button click whose template binds params {action_id, value} (our contract)."""
        content = {"cardPrivateData": {"actionIds": [f"btn-{action_id}"], "params": {
            "action_id": action_id, "value": json.dumps(value, ensure_ascii=False, sort_keys=True)}}}
        return {"type": "actionCallback", "corpId": "ding-corp", "userId": user_id, "userIdType": 1,
                "outTrackId": out_track_id, "spaceType": "IM_GROUP" if group else "IM_ROBOT",
                "spaceId": space_id if group else user_id, "content": json.dumps(content, ensure_ascii=False),
                "extension": "{}"}

    # ---------------------------------------------------------------- HTTP handlers
    async def _record(self, request: web.Request, *,
                      authorised: bool = False) -> tuple[dict[str, Any], web.Response | None]:
        """Record the call; the early answer (a queued failure, or 401 when `authorised` is asked
        and the access token is not one we issued) comes back instead of None."""
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        call = {"method": request.method, "path": request.path, "query": dict(request.query),
                "token": request.headers.get("x-acs-dingtalk-access-token"), "json": body}
        self._record_call(call)
        delays = self._delays.get(request.path)
        if delays:
            await asyncio.sleep(delays.pop(0))
        failures = self._failures.get(request.path)
        if failures:
            return call, failures.pop(0).response()
        if authorised and call["token"] not in self.tokens:
            return call, web.json_response({"code": "InvalidAuthentication", "message": "token is invalid"},
                                           status=401)
        return call, None

    async def _open_connection(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        body = call["json"] or {}
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return web.json_response({"code": "InvalidClient", "message": "bad credentials"}, status=401)
        ticket = f"ticket-{next(self._ids)}"
        self._tickets.add(ticket)
        return web.json_response({"endpoint": self.url.replace("http", "ws", 1) + "/gateway", "ticket": ticket})

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=403, text="bad ticket")
        self._tickets.discard(ticket)  # single use, as the real gateway
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self._open_ws.add(ws)
        self.connections += 1
        self._changed()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                mid = (ack.get("headers") or {}).get("messageId")
                if mid in self.pushed and isinstance(ack.get("code"), int):
                    self.acks.setdefault(mid, []).append(ack)
                else:
                    self.unexpected_acks.append(ack)
                self._changed()
        finally:
            self._open_ws.discard(ws)
            self.disconnects += 1
            if self._ws is ws:
                self._ws = None
            self._changed()
        return ws

    async def _access_token(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        body = call["json"] or {}
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "bad app"}, status=400)
        token = f"tok-{next(self._ids)}"
        self.tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl})

    async def _robot_send(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, authorised=True)
        if failed:
            return failed
        body = call["json"] or {}
        json.loads(body["msgParam"])  # must be a JSON string, as the real API insists
        if body.get("robotCode") != self.client_id:
            return web.json_response({"code": "resource.not.found", "message": "robot not found"}, status=400)
        out: dict[str, Any] = {"processQueryKey": f"pqk-{next(self._ids)}"}
        if request.path.endswith("batchSend"):
            out.update(invalidStaffIdList=[], flowControlledStaffIdList=[])
        return web.json_response(out)

    async def _card_create(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, authorised=True)
        if failed:
            return failed
        body = call["json"]
        self.cards[body["outTrackId"]] = {"params": dict(body["cardData"]["cardParamMap"]), "space": None}
        return web.json_response({"success": True, "result": body["outTrackId"]})

    async def _card_deliver(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, authorised=True)
        if failed:
            return failed
        body = call["json"]
        card = self.cards.get(body["outTrackId"])
        if card is None:
            return web.json_response({"code": "param.cardNotExist", "message": "card not found"}, status=400)
        card["space"] = body.get("openSpaceId")
        return web.json_response({"success": True, "result": [{"success": True}]})

    async def _card_create_and_deliver(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, authorised=True)
        if failed:
            return failed
        body = call["json"]
        params = body["cardData"]["cardParamMap"]
        if not all(isinstance(v, str) for v in params.values()):
            return web.json_response({"code": "param.invalid", "message": "cardParamMap values"}, status=400)
        space = body["openSpaceId"]
        self.cards[body["outTrackId"]] = {"params": dict(params), "space": space}
        space_type, _, space_id = space.removeprefix("dtv1.card//").partition(".")
        return web.json_response({"success": True, "result": {"outTrackId": body["outTrackId"], "deliverResults": [
            {"spaceType": space_type, "spaceId": space_id, "success": True, "carrierId": f"car-{next(self._ids)}"}]}})

    async def _card_update(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, authorised=True)
        if failed:
            return failed
        body = call["json"]
        card = self.cards.get(body["outTrackId"])
        if card is None:
            return web.json_response({"code": "param.cardNotExist", "message": "card not found"}, status=400)
        params = body["cardData"]["cardParamMap"]
        if (body.get("cardUpdateOptions") or {}).get("updateCardDataByKey"):
            card["params"].update(params)
        else:
            card["params"] = dict(params)
        return web.json_response({"success": True, "result": True})

    async def _session_webhook(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        if request.query.get("session") not in self.sessions:
            return web.json_response({"errcode": 300001, "errmsg": "session expired"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})
