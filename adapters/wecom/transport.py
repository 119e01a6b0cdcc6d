"""The WeCom adapter: app callback route (verify, decrypt, ack), access token, sends, card updates, robot."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adapters.base import EventSink, IntakeResult
from adapters.wecom.crypto import WeComCryptoError, WXBizMsgCrypt
from adapters.wecom.parse import ROBOT_TENANT_PREFIX, parse_app, parse_robot
from adapters.wecom.render import is_template_card, locked_buttons, render, render_card, task_id_for
from adapters.wecom.replay import ReplayGuard
from adapters.wecom.robot import RESPOND, RESPOND_UPDATE, RESPOND_WELCOME, SEND, RobotError, RobotLink
from adapters.wecom.token import RETRYABLE_ERRCODES, TOKEN_ERRCODES, AccessToken
from adapters.wecom.xmlmsg import BadXml, parse_xml
from core.events import ActionClicked, BotAdded, ConversationRef, Inbound, MessageReceived
from core.i18n import EN, detect_lang, norm_lang, t
from core.replies import DeliveryError, Reply, SendResult

if TYPE_CHECKING:
    from bot.config import WeComConfig

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
# WeCom waits 5 s for the answer, then retries (3 times): leave room for the network.
SUBMIT_TIMEOUT = 4.0
# Robot reply windows (WeCom doc 101463): welcome and card update within 5 s of the callback;
# a reply to a message while the conversation turn is open (a stream may run for 6 minutes).
WELCOME_WINDOW = 4.5
UPDATE_WINDOW = 4.5
RESPOND_WINDOW = 300.0
CLICK_WAIT = 2.0
MEMORY = 10_000


class _Pending(NamedTuple):
    req_id: str
    at: float
    kind: str  # "message" | "welcome"


def _stream(content: str) -> dict[str, Any]:
    """A robot's answer to a message: a "stream" message sent as one finished chunk."""
    return {"msgtype": "stream", "stream": {"id": secrets.token_hex(8), "finish": True, "content": content}}


def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > MEMORY:
        store.popitem(last=False)


def _fingerprint(card: dict[str, Any]) -> str:
    """What a card shows, small enough to remember for thousands of cards."""
    return hashlib.sha256(json.dumps(card, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _chat_key(conversation: ConversationRef) -> str:
    # a direct chat is one person's, whichever tenant string core stored with it (dm_to leaves it empty)
    return conversation.chat_id


class WeComAdapter:
    """A WeCom self-built app (direct messages, HTTP callback) plus, optionally, the smart robot
    (group @mentions, websocket). Conversations whose tenant starts with "aibot:" and group
    chats go through the robot; direct conversations through the app."""

    platform: ClassVar[str] = "wecom"
    # WeCom group robots: 20 messages per minute per chat (platforms.md)
    send_rate: ClassVar[tuple[int, float]] = (20, 60.0)

    def __init__(self, *, config: WeComConfig, http_client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 callback_path: str = "/wecom/callback", robot_backoff_base: float = 1.0,
                 robot_heartbeat_seconds: float | None = None,
                 robot_store_retries: tuple[float, ...] = (0.5, 1.0, 2.0)) -> None:
        self._cfg = config
        self._store_retries = robot_store_retries
        self._clock = clock
        self._monotonic = monotonic
        self._path = callback_path
        self._app = bool(config.enabled and config.corp_id and config.secret and config.token
                         and config.encoding_aes_key and config.agent_id is not None)
        self._crypt = (WXBizMsgCrypt(token=config.token or "", encoding_aes_key=config.encoding_aes_key or "",
                                     receive_id=config.corp_id or "") if self._app else None)
        self._replay = ReplayGuard(window_seconds=config.replay_window_seconds, clock=clock)
        self._sink: EventSink | None = None
        self._own_client = http_client is None
        self._http = http_client
        self._token: AccessToken | None = None
        self._response_codes: OrderedDict[str, str] = OrderedDict()
        self._robot_pending: OrderedDict[str, _Pending] = OrderedDict()
        self._robot_direct: OrderedDict[str, str] = OrderedDict()  # direct chat -> its newest callback msgid
        self._robot_clicks: OrderedDict[str, _Pending] = OrderedDict()
        self._applied: OrderedDict[str, str] = OrderedDict()
        self._updating: dict[str, asyncio.Future[None]] = {}
        robot = config.robot
        self._robot: RobotLink | None = None
        self._robot_heartbeat = robot_heartbeat_seconds or robot.heartbeat_seconds
        self._robot_backoff = robot_backoff_base
        self._robot_enabled = bool(robot.enabled and robot.bot_id and robot.secret)
        self._stopped = False
        self._sending = 0

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[Any]:
        return [Route(self._path, self._callback, methods=["GET", "POST"])] if self._app else []

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._stopped = False
        if self._robot_enabled and self._robot is None:
            robot = self._cfg.robot
            self._robot = RobotLink(ws_url=robot.ws_url, bot_id=robot.bot_id or "", secret=robot.secret or "",
                                    on_frame=self._on_robot_frame, heartbeat_seconds=self._robot_heartbeat,
                                    backoff_base=self._robot_backoff)
            self._robot.start()

    async def stop(self) -> None:
        """Stop hearing WeCom and refuse new sends. The runtime drains the outbox after stopping
        adapters (bot/runtime.py), so an app send already on the wire may finish: the HTTP client
        is closed when the last one returns."""
        self._stopped = True
        if self._robot is not None:
            await self._robot.stop()
            self._robot = None
        if not self._sending:
            await self._close_http()
        self._sink = None

    async def _close_http(self) -> None:
        if self._own_client and self._http is not None:
            http, self._http, self._token = self._http, None, None
            await http.aclose()

    @property
    def robot(self) -> RobotLink | None:
        return self._robot

    # ------------------------------------------------------------------ app callback
    async def _callback(self, request: Request) -> Response:
        q = request.query_params  # decodes %2B correctly (a raw "+" would fail the signature)
        sig, ts, nonce = q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        assert self._crypt is not None
        if not (sig and ts and nonce):
            return self._reject(400, "missing signature parameters")
        if not self._replay.check_timestamp(ts):
            return self._reject(401, "timestamp outside the replay window")
        if request.method == "GET":
            try:
                plain = self._crypt.verify_url(sig, ts, nonce, q.get("echostr", ""))
            except WeComCryptoError as exc:
                return self._reject(401, exc.reason)
            return PlainTextResponse(plain)
        body = await request.body()
        if len(body) > MAX_BODY:
            return self._reject(413, "body too large")
        try:
            encrypt = (parse_xml(body).get("Encrypt") or "").strip()
        except BadXml as exc:
            return self._reject(400, str(exc))
        if not encrypt:
            return self._reject(400, "no Encrypt element")
        try:
            msg_xml = self._crypt.decrypt_checked(sig, ts, nonce, encrypt)
        except WeComCryptoError as exc:
            return self._reject(401, exc.reason)
        if not self._replay.claim(ts, nonce):
            return self._reject(401, "nonce already used")
        try:
            event = parse_app(parse_xml(msg_xml))
        except BadXml as exc:
            self._replay.release(ts, nonce)
            return self._reject(400, str(exc))
        if event is None:
            return PlainTextResponse("")
        if isinstance(event, ActionClicked) and event.card_message_id and event.raw:
            code = str(event.raw.get("ResponseCode") or "").strip()
            if code:
                _remember(self._response_codes, event.card_message_id, code)
        sink = self._sink
        try:
            if sink is None:
                raise RuntimeError("adapter not started")
            await asyncio.wait_for(sink.submit(event), SUBMIT_TIMEOUT)
        except Exception as exc:
            # not stored: let WeCom retry, and accept that retry's nonce
            self._replay.release(ts, nonce)
            log.error("wecom event not stored", extra={"event_id": event.event_id, "error": repr(exc)})
            return PlainTextResponse("", status_code=503)
        return PlainTextResponse("")

    @staticmethod
    def _reject(status: int, reason: str) -> Response:
        log.warning("wecom callback rejected", extra={"status": status, "reason": reason})
        return PlainTextResponse(reason, status_code=status)

    # ------------------------------------------------------------------ app HTTP API
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._cfg.api_base_url, timeout=10.0)
        return self._http

    def _access_token(self) -> AccessToken:
        if self._token is None:
            self._token = AccessToken(client=self._client(), corp_id=self._cfg.corp_id or "",
                                      secret=self._cfg.secret or "")
        return self._token

    async def _api(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        tokens = self._access_token()
        for attempt in (0, 1):
            token = await tokens.get()
            try:
                resp = await self._client().post(path, params={"access_token": token}, json=payload)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"wecom {path}: {type(exc).__name__}", retryable=True) from exc
            if resp.status_code == 429 or resp.status_code >= 500:
                after = resp.headers.get("Retry-After")
                raise DeliveryError(f"wecom {path} HTTP {resp.status_code}", retryable=True,
                                    retry_after=float(after) if after and after.isdigit() else None)
            try:
                data = resp.json()
            except ValueError as exc:
                raise DeliveryError(f"wecom {path}: answer is not JSON", retryable=True) from exc
            code = int(data.get("errcode", 0))
            if code == 0:
                return data
            if code in TOKEN_ERRCODES and attempt == 0:
                tokens.invalidate(token)  # expired or revoked: fetch a new one and try once more
                continue
            log.warning("wecom API error", extra={"path": path, "wecom_errcode": code,
                                                  "errmsg": data.get("errmsg")})
            raise DeliveryError(f"wecom {path} errcode {code}", retryable=code in RETRYABLE_ERRCODES)
        raise DeliveryError(f"wecom {path}: access token refused twice", retryable=True)

    async def _app_send(self, to: ConversationRef, reply: Reply, update_message_id: str | None) -> SendResult:
        template = is_template_card(reply)
        if update_message_id and template and self._applied.get(update_message_id) == _fingerprint(
                render_card(reply, task_id=update_message_id)):
            # shown as it is already (a refresh after a refused click): keep the single-use code
            return SendResult(message_id=update_message_id, updated_in_place=True)
        code = self._response_codes.pop(update_message_id, None) if update_message_id else None
        if update_message_id and code:
            # a card whose new version has no buttons keeps its content and greys its buttons out
            card = render_card(reply, task_id=update_message_id) if template else None
            change = {"template_card": card} if card else {"button": locked_buttons(reply)}
            try:
                await self._api("/cgi-bin/message/update_template_card", {
                    "userids": [to.chat_id], "agentid": self._cfg.agent_id, "response_code": code, **change})
            except DeliveryError as exc:
                if exc.retryable:
                    _remember(self._response_codes, update_message_id, code)
                    raise
                log.info("wecom card update refused; posting anew",
                         extra={"task_id": update_message_id, "reason": exc.reason})
            else:
                _remember(self._applied, update_message_id, _fingerprint(card) if card else "")
                return SendResult(message_id=update_message_id, updated_in_place=True)
        task_id = task_id_for(reply.card_key, secrets.token_hex(6)) if template else None
        payload = {"touser": to.chat_id, "agentid": self._cfg.agent_id,
                   **render(reply, channel="app", task_id=task_id)}
        data = await self._api("/cgi-bin/message/send", payload)
        if data.get("invaliduser"):
            raise DeliveryError("wecom recipient is not a member of the app's visible range", retryable=False)
        if task_id:
            _remember(self._applied, task_id, _fingerprint(payload["template_card"]))
            if data.get("response_code"):
                # message/send returns a response_code for interactive cards: one update, within 72 h
                _remember(self._response_codes, task_id, str(data["response_code"]))
        return SendResult(message_id=task_id or str(data.get("msgid") or "") or None, updated_in_place=False)

    # ------------------------------------------------------------------ robot
    async def _on_robot_frame(self, frame: dict[str, Any]) -> None:
        body = frame.get("body") or {}
        req_id = str((frame.get("headers") or {}).get("req_id") or "")
        event = parse_robot(body, now=datetime.now(UTC), bot_name=self._cfg.robot.name)
        if event is None:
            return
        now = self._monotonic()
        if isinstance(event, ActionClicked) and event.card_message_id:
            _remember(self._robot_clicks, event.card_message_id, _Pending(req_id, now, "click"))
        elif event.message_id:
            kind = "welcome" if isinstance(event, BotAdded) else "message"
            _remember(self._robot_pending, event.message_id, _Pending(req_id, now, kind))
            if event.conversation.is_direct:
                # core answers a direct chat (and a welcome) in the chat itself, without naming the
                # message: remember which callback that chat's next answer can respond to
                _remember(self._robot_direct, _chat_key(event.conversation), event.message_id)
        sink = self._sink
        if sink is None:
            log.error("wecom robot event dropped: adapter not started", extra={"event_id": event.event_id})
            return
        result = await self._store_robot_event(sink, event, req_id)
        if result is not None and isinstance(event, ActionClicked):
            await self._answer_click(event, result)

    async def _store_robot_event(self, sink: EventSink, event: Inbound, req_id: str) -> IntakeResult | None:
        """The long connection never delivers a frame twice, so a store that fails is tried again here,
        and if it still fails the person is asked to send the message again."""
        for delay in (*self._store_retries, None):
            try:
                return await sink.submit(event, wait=CLICK_WAIT if isinstance(event, ActionClicked) else 0.0)
            except Exception as exc:  # noqa: BLE001 - the database, or deskbot stopping
                if delay is None:
                    log.error("wecom robot event not stored", extra={"event_id": event.event_id, "error": repr(exc)})
                else:
                    log.warning("wecom robot event not stored yet; trying again",
                                extra={"event_id": event.event_id, "error": repr(exc)})
                    await asyncio.sleep(delay)
        await self._robot_apology(event, req_id)
        return None

    async def _robot_apology(self, event: Inbound, req_id: str) -> None:
        robot = self._robot
        if robot is None:
            return
        text = getattr(event, "text", "") or ""
        words = t("error.not_taken", detect_lang(text, norm_lang(event.lang_hint, EN)))
        try:
            if isinstance(event, MessageReceived) and req_id:  # the answer to that very message
                await robot.request(RESPOND, _stream(words), req_id=req_id)
            else:
                await robot.request(SEND, {"chatid": event.conversation.chat_id, "msgtype": "markdown",
                                           "markdown": {"content": words}})
        except Exception as exc:  # noqa: BLE001 - nothing more to try
            log.error("wecom robot apology not sent", extra={"event_id": event.event_id, "error": repr(exc)})

    async def _answer_click(self, event: ActionClicked, result: IntakeResult) -> None:
        """Update the clicked card from the click's own req_id (valid 5 s), when core was quick."""
        task_id = event.card_message_id or ""
        for out in result.outputs:
            if (out.reply.card_key and is_template_card(out.reply)
                    and out.to.chat_id == event.conversation.chat_id):
                await self._robot_update(task_id, render_card(out.reply, task_id=task_id))
                return

    async def _robot_update(self, task_id: str, card: dict[str, Any]) -> bool:
        click = self._robot_clicks.get(task_id)
        robot = self._robot
        if robot is None or click is None or self._monotonic() - click.at > UPDATE_WINDOW:
            return False
        del self._robot_clicks[task_id]
        # a delivery of the same card may arrive while this update is on the wire: it waits for it
        done = self._updating[task_id] = asyncio.get_running_loop().create_future()
        try:
            await robot.request(RESPOND_UPDATE, {"response_type": "update_template_card", "template_card": card},
                                req_id=click.req_id)
        except RobotError as exc:
            log.info("wecom robot card update refused", extra={"task_id": task_id, "reason": exc.reason})
            return False
        else:
            _remember(self._applied, task_id, _fingerprint(card))
            return True
        finally:
            done.set_result(None)
            self._updating.pop(task_id, None)

    async def _robot_send(self, to: ConversationRef, reply: Reply, update_message_id: str | None,
                          reply_to_message_id: str | None) -> SendResult:
        robot = self._robot
        if robot is None or not robot.ready.is_set():
            raise DeliveryError("wecom robot is not connected", retryable=True)
        template = is_template_card(reply)
        if update_message_id and template:
            card = render_card(reply, task_id=update_message_id)
            updating = self._updating.get(update_message_id)
            if updating is not None:
                await asyncio.shield(updating)
            if self._applied.get(update_message_id) == _fingerprint(card):
                # shown as it is already: the click was answered with it, or nothing changed
                return SendResult(message_id=update_message_id, updated_in_place=True)
            if await self._robot_update(update_message_id, card):
                return SendResult(message_id=update_message_id, updated_in_place=True)
        task_id = task_id_for(reply.card_key, secrets.token_hex(6)) if template else None
        body = render(reply, channel="robot", task_id=task_id)
        if task_id:
            _remember(self._applied, task_id, _fingerprint(body["template_card"]))
        pending = self._take_pending(to, reply_to_message_id)
        if pending is not None:
            age = self._monotonic() - pending.at
            cmd, reply_body = None, body
            if pending.kind == "welcome" and age <= WELCOME_WINDOW:
                cmd = RESPOND_WELCOME
                if not template:  # welcome messages are text or template_card
                    reply_body = {"msgtype": "text", "text": {"content": body["markdown"]["content"]}}
            elif pending.kind == "message" and age <= RESPOND_WINDOW:
                cmd = RESPOND
                if not template:  # replies to a message are "stream" messages; one finished chunk
                    reply_body = _stream(body["markdown"]["content"])
            if cmd:
                try:
                    ack = await robot.request(cmd, reply_body, req_id=pending.req_id)
                    return SendResult(message_id=task_id or str((ack.get("headers") or {}).get("req_id") or ""))
                except RobotError as exc:
                    log.info("wecom robot reply refused; sending instead", extra={"reason": exc.reason})
        try:
            ack = await robot.request(SEND, {"chatid": to.chat_id, **body})
        except RobotError as exc:
            retryable = exc.errcode is None or exc.errcode in RETRYABLE_ERRCODES
            raise DeliveryError(f"wecom robot send failed: {exc.reason}", retryable=retryable) from exc
        return SendResult(message_id=task_id or str((ack.get("headers") or {}).get("req_id") or ""))

    def _take_pending(self, to: ConversationRef, reply_to_message_id: str | None) -> _Pending | None:
        """The open robot callback this send may answer (one answer per callback).

        Core answers a group message in its "thread" (to.thread_id = the message id); WeCom groups have
        no threads, so the answer is a reply to that message's callback instead."""
        for msgid in (reply_to_message_id, to.thread_id):
            if msgid and (pending := self._robot_pending.pop(msgid, None)) is not None:
                return pending
        if to.is_direct:
            msgid = self._robot_direct.pop(_chat_key(to), None)
            if msgid:
                return self._robot_pending.pop(msgid, None)
        return None

    # ------------------------------------------------------------------ send
    def _via_robot(self, to: ConversationRef) -> bool:
        if to.tenant.startswith(ROBOT_TENANT_PREFIX):
            return True
        # an app cannot post into group chats it did not create; the robot can
        return self._robot_enabled and (not to.is_direct or not self._app)

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None) -> SendResult:
        if self._stopped:
            raise DeliveryError("wecom adapter is stopped", retryable=True)
        self._sending += 1
        try:
            return await self._send(to, reply, update_message_id, reply_to_message_id)
        finally:
            self._sending -= 1
            if self._stopped and not self._sending:
                await self._close_http()

    async def _send(self, to: ConversationRef, reply: Reply, update_message_id: str | None,
                    reply_to_message_id: str | None) -> SendResult:
        if to.chat_id.startswith("@"):
            # core writes to a person on its own (assignments, notices) as chat_id "@<userid>"
            # (core/tickets.py dm_to); on WeCom that person's direct chat is addressed by the userid
            to = ConversationRef(platform=self.platform, tenant=to.tenant, chat_id=to.chat_id[1:],
                                 is_direct=True)
        if reply.only_visible_to is not None and not to.is_direct:
            # WeCom has no ephemeral messages in groups: tell that person directly instead
            tenant = (self._cfg.corp_id or "") if self._app else ROBOT_TENANT_PREFIX + (self._cfg.robot.bot_id or "")
            to = ConversationRef(platform=self.platform, tenant=tenant,
                                 chat_id=reply.only_visible_to.user_id, is_direct=True)
            update_message_id = reply_to_message_id = None
        if self._via_robot(to):
            if not self._robot_enabled:
                raise DeliveryError("wecom robot is not configured ([wecom.robot])", retryable=False)
            return await self._robot_send(to, reply, update_message_id, reply_to_message_id)
        if not to.is_direct:
            raise DeliveryError("a wecom app cannot post in group chats; configure [wecom.robot]",
                                retryable=False)
        if not self._app:
            raise DeliveryError("wecom app is not configured ([wecom])", retryable=False)
        return await self._app_send(to, reply, update_message_id)

    # ------------------------------------------------------------------ pure helpers for callers
    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        """A decrypted app message (dict from XML) -> Inbound."""
        return parse_app(payload)

    def render(self, reply: Reply) -> dict[str, Any]:
        return render(reply, channel="app", task_id=task_id_for(reply.card_key, "preview"))
