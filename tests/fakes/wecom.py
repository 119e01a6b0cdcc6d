"""Local fakes of WeCom: the qyapi HTTP API and the smart-robot websocket gateway, on port 0."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.server import Changes, serve_app

# errcode our fake uses for a response_code that was already used or is unknown (illustrative)
USED_RESPONSE_CODE = 40058
# 全局错误码 81013: "UserID、部门ID、标签ID全部非法或无权限" (no recipient is a member of the app's range)
NO_VALID_RECIPIENT = 81013


class FakeQyapi:
    """Serves /cgi-bin/gettoken, /cgi-bin/message/send and /cgi-bin/message/update_template_card.

    Every call is recorded in `.calls` as {"method", "path", "query", "json"}. `expire_tokens()`
    makes every issued token answer 42001 (expired); `fail_next(errcode)` fails the next API call.
    With `members`, message/send reports other recipients in `invaliduser` (81013 when none is valid).
    `.cards` holds each template card as its recipient sees it now (by task_id, after updates;
    "locked" is the label of buttons greyed out by a `button` update);
    `click(task_id)` issues the single-use ResponseCode WeCom puts into a click callback."""

    def __init__(self, *, corp_id: str = "wwCORP", secret: str = "SECRET",
                 members: set[str] | None = None) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.members = members
        self.cards: dict[str, dict[str, Any]] = {}  # task_id -> {"touser": str, "card": dict}
        self.calls: list[dict[str, Any]] = []
        self.valid_tokens: set[str] = set()
        self.response_codes: dict[str, str] = {}  # code -> task_id, removed when used
        self.sent: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._gate: asyncio.Event | None = None
        self.held = asyncio.Event()  # set when a held message/send has arrived
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakeQyapi:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/message/update_template_card", self._update)
        self._runner, port = await serve_app(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- controls
    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def fail_next(self, errcode: int) -> None:
        self._failures.append(errcode)

    def hold_sends(self) -> None:
        """message/send calls wait (with `.held` set) until `release_sends()`."""
        self._gate = asyncio.Event()

    def release_sends(self) -> None:
        if self._gate is not None:
            self._gate.set()

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"] == path]

    def click(self, task_id: str) -> str:
        """A person clicks a button on card `task_id`: the ResponseCode their callback carries."""
        if task_id not in self.cards:
            raise KeyError(f"no card {task_id!r} was sent")
        code = f"RC-CLICK-{secrets.token_hex(4)}"
        self.response_codes[code] = task_id
        return code

    def cards_for(self, user: str) -> list[tuple[str, dict[str, Any]]]:
        """(task_id, card) of every template card `user` received, oldest first."""
        return [(task_id, c["card"]) for task_id, c in self.cards.items() if user in c["touser"].split("|")]

    def texts_for(self, user: str) -> list[str]:
        """Text message contents `user` received, oldest first."""
        return [m["text"]["content"] for m in self.sent
                if m.get("msgtype") == "text" and user in str(m.get("touser", "")).split("|")]

    # ---------------------------------------------------------------- handlers
    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.read()
        call = {"method": request.method, "path": request.path, "query": dict(request.query),
                "json": json.loads(body) if body else None}
        self.calls.append(call)
        return call

    async def _gettoken(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if call["query"].get("corpid") != self.corp_id or call["query"].get("corpsecret") != self.secret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"TOKEN-{next(self._seq)}"
        self.valid_tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    def _check(self, call: dict[str, Any]) -> dict[str, Any] | None:
        if call["query"].get("access_token") not in self.valid_tokens:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if self._failures:
            return {"errcode": self._failures.pop(0), "errmsg": "forced failure"}
        return None

    async def _send(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if self._gate is not None:
            self.held.set()
            await self._gate.wait()
        error = self._check(call)
        if error:
            return web.json_response(error)
        payload = call["json"]
        users = [u for u in str(payload.get("touser") or "").split("|") if u]
        invalid = [u for u in users if self.members is not None and u not in self.members]
        if users and len(invalid) == len(users):
            return web.json_response({"errcode": NO_VALID_RECIPIENT, "errmsg": "invalid touser"})
        self.sent.append(payload)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid),
                                  "msgid": f"MSG-{next(self._seq)}"}
        card = payload.get("template_card") or {}
        if payload.get("msgtype") == "template_card" and card.get("card_type") == "button_interaction":
            code = f"RC-SEND-{secrets.token_hex(4)}"
            self.response_codes[code] = card["task_id"]
            self.cards[card["task_id"]] = {"touser": payload.get("touser", ""), "card": card}
            answer["response_code"] = code
        return web.json_response(answer)

    async def _update(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        error = self._check(call)
        if error:
            return web.json_response(error)
        code = call["json"].get("response_code")
        if code not in self.response_codes:
            return web.json_response({"errcode": USED_RESPONSE_CODE, "errmsg": "invalid response_code"})
        task_id = self.response_codes.pop(code)
        card, button = call["json"].get("template_card"), call["json"].get("button")
        if task_id in self.cards:  # the code names the card; it changes for its recipient
            if card is not None:
                self.cards[task_id]["card"] = card
            elif button is not None:
                self.cards[task_id]["locked"] = button.get("replace_name")  # buttons greyed out
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": []})


class FakeRobotGateway:
    """The smart-robot websocket gateway (frames {cmd, headers: {req_id}, body}).

    Acks aibot_subscribe (checking bot id and secret), ping and every reply command with
    errcode 0. Frames received are kept in `.frames`; `push()` sends a callback to the bot."""

    def __init__(self, *, bot_id: str = "BOT-1", secret: str = "ROBOT-SECRET") -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.frames: list[dict[str, Any]] = []
        self.subscriptions = 0
        self.reply_errcode: dict[str, int] = {}  # cmd -> errcode to answer with
        self._conns: set[Any] = set()
        self._server: Any = None
        self._changes = Changes()
        self.url = ""

    async def start(self) -> FakeRobotGateway:
        import websockets

        self._server = await websockets.serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def connections(self) -> int:
        """Websockets currently open to the gateway."""
        return len(self._conns)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return await self._changes.wait_for(predicate, timeout)

    async def wait_frame(self, cmd: str, *, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        frames = await self.wait_for(lambda: (f := [x for x in self.frames if x.get("cmd") == cmd])
                                     and len(f) >= count and f, timeout)
        return frames[count - 1]

    async def _handle(self, ws: Any) -> None:
        self._conns.add(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                cmd = frame.get("cmd")
                req_id = frame["headers"]["req_id"]
                if cmd == "aibot_subscribe":
                    body = frame.get("body") or {}
                    ok = body.get("bot_id") == self.bot_id and body.get("secret") == self.secret
                    if ok:
                        self.subscriptions += 1
                    await ws.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 0 if ok else 40058,
                                              "errmsg": "ok" if ok else "invalid secret"}))
                else:
                    code = self.reply_errcode.get(cmd, 0)
                    await ws.send(json.dumps({"headers": {"req_id": req_id}, "errcode": code,
                                              "errmsg": "ok" if code == 0 else "refused"}))
                await self._changes.notify()
        except Exception:
            pass
        finally:
            self._conns.discard(ws)
            await self._changes.notify()

    async def push(self, cmd: str, body: dict[str, Any], *, req_id: str | None = None) -> str:
        """Send a callback frame to the connected bot; returns its req_id."""
        req_id = req_id or f"REQ-{secrets.token_hex(6)}"
        frame = json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}, ensure_ascii=False)
        for ws in list(self._conns):
            await ws.send(frame)
        return req_id

    async def drop_connections(self) -> None:
        for ws in list(self._conns):
            await ws.close()
