"""The Feishu/Lark adapter: webhook route or long connection in, Open API out (cards, threads, updates)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import EventSink
from core.events import ActionClicked, ConversationRef
from core.replies import DeliveryError, Outgoing, Reply, SendResult

from . import parse as p
from .api import ApiError, OpenApi
from .longconn import LongConnection
from .render import callback_answer, render
from .security import Rejected, ReplayGuard, check_signature, check_token, open_body

log = logging.getLogger("deskbot.feishu")

URL_VERIFICATION = "url_verification"
CARD_WAIT_SECONDS = 2.0  # the platform allows 3 s for a card answer
BOT_INFO_TIMEOUT = 3.0
TOAST_CHARS = 200
DM_PREFIX = "@"  # core's chat_id for "a direct message to this user" (core.tickets.dm_to)
UUID_MAX = 50  # Feishu's limit on `uuid`
UUID_DIGEST = 12


class Unavailable(Exception):
    """The event cannot be taken now (no sink yet, bot identity or reacted message unknown): 503, retry."""


class FeishuAdapter:
    platform: ClassVar[str] = p.PLATFORM
    # Feishu allows 5 messages per second per group, shared by every bot in it.
    send_rate: ClassVar[tuple[int, float]] = (5, 1.0)

    def __init__(self, *, config: Any, now: Callable[[], datetime] | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 http_transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not config.app_id or not config.app_secret:
            raise ValueError("feishu.app_id and feishu.app_secret are required")
        if config.mode == "webhook" and not (config.encrypt_key and config.verification_token):
            raise ValueError("feishu webhook mode needs feishu.encrypt_key and feishu.verification_token")
        self._cfg = config
        self._now = now or (lambda: datetime.now(UTC))
        self._api = OpenApi(domain=config.domain, app_id=config.app_id, app_secret=config.app_secret,
                            transport=http_transport)
        self._guard = ReplayGuard(window_seconds=float(config.replay_window_seconds), now=wall_clock)
        self._intake = frozenset(config.intake_chats)
        self._sink: EventSink | None = None
        self._bot_open_id: str | None = None
        self._bot_name: str | None = None
        self._bot_lock: asyncio.Lock | None = None
        self._longconn: LongConnection | None = None
        self._bot_task: asyncio.Task[None] | None = None

    @property
    def api(self) -> OpenApi:
        return self._api

    @property
    def long_connection(self) -> LongConnection | None:
        return self._longconn

    # -- lifecycle --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        if self._cfg.mode != "webhook":
            return []
        return [Route("/feishu/events", self._on_webhook, methods=["POST"])]

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._bot_lock = asyncio.Lock()
        # Learn the bot's open_id in the background (to recognise @mentions); retried on demand.
        self._bot_task = asyncio.get_running_loop().create_task(self._bot_identity())
        if self._cfg.mode == "long_connection":
            self._longconn = LongConnection(
                app_id=self._cfg.app_id, app_secret=self._cfg.app_secret, domain=self._api.base_url,
                handler=self._on_long_connection_event, main_loop=asyncio.get_running_loop(),
            )
            self._longconn.start()

    async def stop(self) -> None:
        self._sink = None
        if self._bot_task is not None:
            self._bot_task.cancel()
            await asyncio.gather(self._bot_task, return_exceptions=True)
            self._bot_task = None
        if self._longconn is not None:
            await self._longconn.stop()
            self._longconn = None
        await self._api.close()

    # -- inbound ----------------------------------------------------------------------------------

    async def _on_webhook(self, request: Request) -> Response:
        body = await request.body()
        try:
            # Starlette's headers are case-insensitive; a plain dict(...) would not be.
            answer = await self._handle_webhook(body, request.headers)
        except Rejected as exc:
            log.warning("feishu request rejected", extra={"reason": exc.reason})
            return JSONResponse({"msg": exc.reason}, status_code=exc.status)
        except Unavailable as exc:
            log.warning("feishu event deferred", extra={"reason": str(exc)})
            return JSONResponse({"msg": "unavailable"}, status_code=503)
        except Exception:
            log.exception("feishu event failed")
            return JSONResponse({"msg": "error"}, status_code=500)
        return JSONResponse(answer)

    async def _handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        key, token = self._cfg.encrypt_key, self._cfg.verification_token
        signed = any(headers.get(h) for h in ("X-Lark-Signature", "X-Lark-Request-Timestamp"))
        # Verify the signature over the raw body before decrypting anything.
        stamp = check_signature(headers, key, body) if signed else None
        payload = open_body(body, key)
        check_token(payload, token)
        if payload.get("type") == URL_VERIFICATION:
            # The challenge is the one request that may come unsigned (the SDK does not check it either).
            return {"challenge": payload.get("challenge", "")}
        if stamp is None:
            raise Rejected("signature headers missing", 401)
        nonce_key = self._guard.reserve(*stamp)
        try:
            answer = await self._take(payload)
        except BaseException:
            self._guard.release(nonce_key)  # let the platform's retry through
            raise
        return answer or {"msg": "success"}

    async def _on_long_connection_event(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        return await self._take(payload)

    async def _take(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """Parse a verified payload, submit it, and answer (card callbacks get a toast or card)."""
        sink = self._sink
        if sink is None:
            raise Unavailable("adapter not started")
        ctx = await self._context(payload)
        target = None
        target_id = p.reaction_target(payload, ctx)
        if target_id:
            target = await self._fetch_message(target_id)
        event = p.parse(payload, ctx, target_message=target)
        is_card = p.event_type(payload) == p.CARD_ACTION
        if event is None:
            log.debug("feishu event ignored", extra={"event_type": p.event_type(payload)})
            return callback_answer(None) if is_card else None
        if isinstance(event, ActionClicked):
            res = await sink.submit(event, wait=CARD_WAIT_SECONDS)
            return self._card_answer(event, res.outputs)
        await sink.submit(event)
        log.info("feishu event stored", extra={"event_id": event.event_id, "kind": event.kind})
        return None

    async def _context(self, payload: Mapping[str, Any]) -> p.ParseContext:
        if p.mentions_group_message(payload) and not self._bot_open_id:
            await self._bot_identity()
            if not self._bot_open_id:
                # Without the bot's open_id an @mention cannot be told apart: let Feishu retry later.
                raise Unavailable("bot identity unknown")
        return p.ParseContext(received_at=self._now(), bot_open_id=self._bot_open_id, bot_name=self._bot_name,
                              intake_chats=self._intake, ticket_emoji=self._cfg.ticket_emoji)

    async def _bot_identity(self) -> None:
        if self._bot_open_id or self._bot_lock is None:
            return
        async with self._bot_lock:
            if self._bot_open_id:
                return
            try:
                data = await asyncio.wait_for(self._api.call("GET", "/open-apis/bot/v3/info"),
                                              BOT_INFO_TIMEOUT)
            except (ApiError, TimeoutError) as exc:
                log.warning("feishu bot info unavailable", extra={"error": str(exc)})
                return
            bot = data.get("bot") or (data.get("data") or {}).get("bot") or {}
            self._bot_open_id = bot.get("open_id") or None
            self._bot_name = bot.get("app_name") or None
            log.info("feishu bot identity known", extra={"bot_open_id": self._bot_open_id})

    async def _fetch_message(self, message_id: str) -> Mapping[str, Any]:
        try:
            data = await self._api.call("GET", f"/open-apis/im/v1/messages/{message_id}")
        except ApiError as exc:
            if exc.retryable:
                raise Unavailable(f"reacted message unavailable: {exc.reason}") from exc
            log.warning("feishu reacted message unreadable", extra={"error": exc.reason})
            return {}
        items = (data.get("data") or {}).get("items") or []
        return items[0] if items else {}

    def _card_answer(self, event: ActionClicked, outputs: Any) -> dict[str, Any]:
        """The clicked card as core redrew it, and the clicker's own answer as a toast.

        Core may redraw several cards in the clicked chat (a rating redraws the survey and the
        ticket card in the same group); only a card of the clicked button's family ("ticket.claim"
        -> "ticket:<id>", "survey.rate" -> "survey:<id>:<n>") may replace the clicked message. When
        none matches, a toast is answered and the outbox's PATCH brings the card up to date."""
        chat = event.conversation.chat_id
        family = event.action_id.partition(".")[0]
        card: Reply | None = None
        toast: str | None = None
        lang: str | None = None
        for out in outputs or ():
            if not isinstance(out, Outgoing) or out.to.platform != p.PLATFORM or out.to.chat_id != chat:
                continue
            reply = out.reply
            visible = reply.only_visible_to
            if reply.card_key:
                if card is None and visible is None and reply.card_key.partition(":")[0] == family:
                    card = reply
            elif toast is None and (visible is None or visible == event.user):
                toast = reply.as_text()[:TOAST_CHARS]
            lang = lang or reply.lang
        return callback_answer(card, toast, lang=(card.lang if card else lang) or "en")

    # -- outbound ---------------------------------------------------------------------------------

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None, idempotency_key: str | None = None) -> SendResult:
        body = render(reply)
        is_card = body["msg_type"] == "interactive"
        visible = reply.only_visible_to
        direct = to.is_direct or to.chat_id.startswith(DM_PREFIX)
        ephemeral = visible is not None and visible.platform == p.PLATFORM and not direct
        try:
            if ephemeral:
                # Ephemeral cards (no typed API in lark-oapi): cards only, no uuid, never updated later.
                data = await self._api.call("POST", "/open-apis/ephemeral/v1/send", json={
                    "chat_id": to.chat_id, "open_id": visible.user_id, "msg_type": "interactive",
                    "card": body["content"],
                })
                return SendResult(message_id=(data.get("data") or {}).get("message_id"))
            messages = await self._api.messages()
            if update_message_id and is_card:
                await messages.patch(update_message_id, body)
                return SendResult(message_id=update_message_id, updated_in_place=True)
            uuid = send_uuid(to, reply, update_message_id, reply_to_message_id, key=idempotency_key)
            target = to.thread_id or reply_to_message_id
            if target:
                message_id = await messages.reply(target, body, uuid, in_thread=bool(to.thread_id))
            else:
                id_type, receive_id = receiver(to)
                message_id = await messages.create(id_type, receive_id, body, uuid)
        except ApiError as exc:
            raise DeliveryError(exc.reason, retryable=exc.retryable, retry_after=exc.retry_after) from exc
        if not message_id:
            raise DeliveryError("send answered without a message_id", retryable=True)
        return SendResult(message_id=message_id, updated_in_place=False)


def receiver(to: ConversationRef) -> tuple[str, str]:
    """(receive_id_type, receive_id) for a new top-level message.

    Core addresses a person it writes to first (an assignment, an escalation) as chat_id
    "@<user_id>": Feishu opens the bot's p2p chat itself when a message is sent to an open_id
    (union_id for "on_" ids). https://open.feishu.cn/document/server-docs/im-v1/message/create"""
    if to.chat_id.startswith(DM_PREFIX):
        user = to.chat_id[len(DM_PREFIX):]
        return ("union_id" if user.startswith("on_") else "open_id"), user
    return "chat_id", to.chat_id


def send_uuid(to: ConversationRef, reply: Reply, update_message_id: str | None,
              reply_to_message_id: str | None, *, key: str | None = None) -> str:
    """The `uuid` of a send: Feishu shows at most one message per uuid within an hour (<= 50 chars).

    With the outbox row's key every retry of that row carries the same uuid. The key alone is not
    enough: row ids repeat across databases sharing one app (staging and production, a restored
    backup), and a repeated uuid would silently swallow a different message, so a digest of the
    destination and the message is appended. Without a key the digest alone is used."""
    if key is not None:
        raw = json.dumps([to.key, reply.to_json()], ensure_ascii=False)
        digest = hashlib.sha256(raw.encode()).hexdigest()[:UUID_DIGEST]
        if len(key) + 1 + UUID_DIGEST > UUID_MAX:
            key = hashlib.sha256(key.encode()).hexdigest()[:UUID_MAX - 1 - UUID_DIGEST]
        return f"{key}-{digest}"
    raw = json.dumps([to.key, reply.to_json(), update_message_id, reply_to_message_id], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
