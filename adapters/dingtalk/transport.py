"""DingTalk adapter: Stream-mode intake with acks, and sends through the robot and card Open APIs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, Credential

from adapters.base import EventSink
from adapters.dingtalk import parse as parsing
from adapters.dingtalk import render
from adapters.dingtalk.connection import GatewayConnection
from adapters.dingtalk.openapi import OpenApi
from core.events import ActionClicked, ConversationRef, Inbound, MessageReceived
from core.replies import Button, DeliveryError, Outgoing, Reply, SendResult

log = logging.getLogger(__name__)

# a session webhook is used only while it has at least this long to live
_WEBHOOK_MARGIN = 60.0
# a numbered answer counts for the conversation's last Markdown card for this long
CHOICES_TTL = 12 * 3600.0
# on stop, sends already under way get this long to finish before the HTTP client closes
_STOP_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class _Choices:
    """The numbered buttons of the last Markdown card sent to one conversation."""

    buttons: dict[str, Button]
    card_message_id: str | None
    expires_at: float


def card_track_id(card_key: str | None) -> str:
    """A new outTrackId that names its card: a click carries the outTrackId back, so the
    callback can pick the clicked card (ticket or survey) among core's outputs, even after a restart."""
    digest = hashlib.sha1((card_key or "").encode()).hexdigest()[:12]
    return f"deskbot-{digest}-{uuid.uuid4().hex}"


def _is_card_of(out_track_id: str | None, card_key: str) -> bool:
    parts = (out_track_id or "").split("-")
    return len(parts) == 3 and parts[1] == hashlib.sha1(card_key.encode()).hexdigest()[:12]


def _direct_user(to: ConversationRef) -> str:
    """The user id behind a 1:1 conversation: core writes "@<userId>"; older rows the bare id."""
    return to.chat_id.removeprefix("@")


def _frame(message: CallbackMessage) -> dict[str, Any]:
    return {"type": message.type, "headers": message.headers.to_dict(), "data": message.data}


class _TopicHandler(CallbackHandler):
    """Hands one topic's frames to the adapter; the SDK turns (code, response) into the ack."""

    def __init__(self, handle: Callable[[CallbackMessage], Any]) -> None:
        super().__init__()
        self.logger = log
        self._handle = handle

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        return await self._handle(message)


class DingTalkAdapter:
    platform: ClassVar[str] = "dingtalk"
    # group robots may send 20 messages a minute (https://open.dingtalk.com/document/orgapp/robot-overview)
    send_rate: ClassVar[tuple[int, float]] = (20, 60.0)

    def __init__(self, *, client_id: str, client_secret: str, robot_code: str | None = None,
                 api_base_url: str = "https://api.dingtalk.com", card_template_id: str | None = None,
                 reconnect_delay: float = 3.0, max_reconnect_delay: float = 60.0,
                 http_timeout: float = 10.0, click_wait: float = 2.0, default_lang: str = "zh-CN",
                 now: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.robot_code = robot_code or client_id
        self.api_base_url = api_base_url.rstrip("/")
        self.card_template_id = card_template_id
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.http_timeout = http_timeout
        self.click_wait = click_wait
        self.default_lang = default_lang
        self._now = now
        self._sink: EventSink | None = None
        self._http: httpx.AsyncClient | None = None
        self._api: OpenApi | None = None
        self._gateway: GatewayConnection | None = None
        # chat_id -> the latest session webhook of that conversation (memory only: it expires
        # within ~1.5 h anyway, and the Open API works without it)
        self._webhooks: dict[str, parsing.SessionWebhook] = {}
        # chat_id -> numbered buttons of the last Markdown card there (memory only: see the README, DingTalk section)
        self._choices: dict[str, _Choices] = {}
        self._sending = 0
        self._sends_done = asyncio.Event()
        self._stopped = False

    # -- pure parts
    def parse(self, frame: dict[str, Any]) -> Inbound | None:
        return parsing.parse(frame)

    def render(self, reply: Reply) -> dict[str, Any]:
        return render.render(reply)

    def routes(self) -> list[Any]:
        return []  # Stream mode: no public URL

    # -- lifecycle
    @property
    def api(self) -> OpenApi:
        if self._api is None:
            self._http = httpx.AsyncClient(timeout=self.http_timeout)
            self._api = OpenApi(base_url=self.api_base_url, client_id=self.client_id,
                                client_secret=self._client_secret, http=self._http, now=self._now)
        return self._api

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._stopped = False
        gateway = GatewayConnection(credential=Credential(self.client_id, self._client_secret), api=self.api,
                                    reconnect_delay=self.reconnect_delay,
                                    max_reconnect_delay=self.max_reconnect_delay)
        gateway.register_callback_handler(parsing.TOPIC_ROBOT_MESSAGE, _TopicHandler(self._on_robot_message))
        gateway.register_callback_handler(parsing.TOPIC_CARD_CALLBACK, _TopicHandler(self._on_card_callback))
        self._gateway = gateway
        gateway.run_in_background()

    async def stop(self) -> None:
        """Close the gateway, give sends under way a moment, then close the HTTP client.
        Sends after this raise a retryable DeliveryError (another process or restart sends them)."""
        self._stopped = True
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.stop()
        if self._sending:
            self._sends_done.clear()
            try:
                await asyncio.wait_for(self._sends_done.wait(), _STOP_GRACE)
            except TimeoutError:
                log.warning("dingtalk sends still running at stop", extra={"sending": self._sending})
        http, self._http, self._api = self._http, None, None
        if http is not None:
            await http.aclose()

    @property
    def connections(self) -> int:
        """How many times the gateway connection was established (1 + reconnects)."""
        return self._gateway.connections if self._gateway else 0

    # -- intake
    async def _submit(self, event: Inbound, *, wait: float = 0.0) -> Any:
        assert self._sink is not None
        return await self._sink.submit(event, wait=wait)

    async def _on_robot_message(self, message: CallbackMessage) -> tuple[int, Any]:
        frame = _frame(message)
        data = parsing.frame_data(frame)
        hook = parsing.session_webhook(data)
        if hook is not None:
            self._webhooks[hook.chat_id] = hook
        event = parsing.parse(frame)
        if event is None:
            return AckMessage.STATUS_OK, "ignored"
        if isinstance(event, MessageReceived):
            event = self._as_choice(event)
        try:
            result = await self._submit(event)
        except Exception:
            # no store, no ack success: DingTalk delivers the message again
            log.exception("dingtalk intake failed", extra={"event_id": event.event_id})
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "not stored"
        log.info("dingtalk message stored", extra={"event_id": event.event_id, "duplicate": result.duplicate})
        return AckMessage.STATUS_OK, "OK"

    async def _on_card_callback(self, message: CallbackMessage) -> tuple[int, Any]:
        event = parsing.parse(_frame(message))
        if not isinstance(event, ActionClicked):
            return AckMessage.STATUS_OK, {}
        try:
            result = await self._submit(event, wait=self.click_wait)
        except Exception:
            log.exception("dingtalk card click not stored", extra={"event_id": event.event_id})
            return AckMessage.STATUS_SYSTEM_EXCEPTION, {}
        card = clicked_card(event, result.outputs)
        if card is not None:
            return AckMessage.STATUS_OK, render.card_response(card)
        return AckMessage.STATUS_OK, render.toast_response(self.default_lang)

    # -- numbered choices (Markdown fallback)
    def _remember_choices(self, chat_id: str, reply: Reply, message_id: str | None) -> None:
        """A Markdown card replaces the conversation's choices; one without buttons clears them."""
        if not reply.buttons or render.has_link_buttons(reply):
            self._choices.pop(chat_id, None)
            return
        self._choices[chat_id] = _Choices(buttons=dict(render.choices(reply)), card_message_id=message_id,
                                          expires_at=self._now() + CHOICES_TTL)

    def _as_choice(self, message: MessageReceived) -> Inbound:
        """A message that is only a number answers the last Markdown card of its conversation."""
        number = parsing.choice_number(message.text)
        remembered = self._choices.get(message.conversation.chat_id) if number else None
        if remembered is None or number is None:
            return message
        if remembered.expires_at < self._now():
            del self._choices[message.conversation.chat_id]
            return message
        button = remembered.buttons.get(number)
        if button is None:
            return message
        log.info("dingtalk numbered answer taken as a click",
                 extra={"event_id": message.event_id, "action_id": button.action_id})
        return parsing.clicked_choice(message, button, card_message_id=remembered.card_message_id)

    # -- delivery
    def _live_webhook(self, chat_id: str) -> parsing.SessionWebhook | None:
        hook = self._webhooks.get(chat_id)
        if hook is None:
            return None
        if hook.expires_at - self._now() < _WEBHOOK_MARGIN:
            del self._webhooks[chat_id]
            return None
        return hook

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None) -> SendResult:
        # DingTalk robots cannot quote-reply or thread: reply_to_message_id / to.thread_id only
        # decide nothing here; the message goes to the conversation itself.
        if self._stopped:
            raise DeliveryError("dingtalk adapter stopped", retryable=True, retry_after=0.0)
        if to.chat_id.startswith("@") and not to.is_direct:
            to = ConversationRef(platform=to.platform, tenant=to.tenant, chat_id=to.chat_id, is_direct=True)
        self._sending += 1
        try:
            if self.card_template_id and reply.is_card:
                return await self._send_card(to, reply, update_message_id)
            if reply.only_visible_to is not None and not to.is_direct:
                # robot messages have no "visible to one member" mode: tell that person privately
                direct = ConversationRef(platform=to.platform, tenant=to.tenant,
                                         chat_id=parsing.direct_chat(reply.only_visible_to.user_id), is_direct=True)
                return await self._send_message(direct, reply)
            return await self._send_message(to, reply)
        finally:
            self._sending -= 1
            if not self._sending:
                self._sends_done.set()

    async def _send_message(self, to: ConversationRef, reply: Reply) -> SendResult:
        result = await self._post_message(to, reply)
        if reply.is_card:
            self._remember_choices(to.chat_id, reply, result.message_id)
        return result

    async def _post_message(self, to: ConversationRef, reply: Reply) -> SendResult:
        message = render.robot_message(reply)
        hook = self._live_webhook(to.chat_id)
        if hook is not None:
            at = [reply.mention.user_id] if reply.mention and not to.is_direct else None
            body = render.webhook_body(render.with_mention(message, reply.mention if at else None, webhook=True),
                                       at)
            try:
                await self.api.post_session_webhook(hook.url, body)
                return SendResult(message_id=None)
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                # an unusable webhook (expired early, robot removed from the session): forget it
                # and let the Open API decide
                self._webhooks.pop(to.chat_id, None)
                log.info("dingtalk session webhook refused, using the Open API", extra={"reason": exc.reason})
        if to.is_direct:
            key = await self.api.send_direct(robot_code=self.robot_code, user_id=_direct_user(to), message=message)
        else:
            key = await self.api.send_group(robot_code=self.robot_code, chat_id=to.chat_id,
                                            message=render.with_mention(message, reply.mention, webhook=False))
        return SendResult(message_id=key or None)

    def _card_body(self, to: ConversationRef, reply: Reply, out_track_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cardTemplateId": self.card_template_id,
            "outTrackId": out_track_id,
            "cardData": {"cardParamMap": render.card_params(reply)},
            "callbackType": "STREAM",
            "userIdType": 1,
        }
        if to.is_direct:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{_direct_user(to)}"
            body["imRobotOpenSpaceModel"] = {"supportForward": False}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": self.robot_code}
            return body
        deliver: dict[str, Any] = {"robotCode": self.robot_code}
        if reply.mention is not None:
            deliver["atUserIds"] = {reply.mention.user_id: reply.mention.display_name or reply.mention.user_id}
        if reply.only_visible_to is not None:
            deliver["recipients"] = [reply.only_visible_to.user_id]
        body["openSpaceId"] = f"dtv1.card//IM_GROUP.{to.chat_id}"
        body["imGroupOpenSpaceModel"] = {"supportForward": False}
        body["imGroupOpenDeliverModel"] = deliver
        return body

    async def _send_card(self, to: ConversationRef, reply: Reply, update_message_id: str | None) -> SendResult:
        if update_message_id:
            try:
                await self.api.update_card(out_track_id=update_message_id, params=render.card_params(reply))
                return SendResult(message_id=update_message_id, updated_in_place=True)
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.info("dingtalk card not updatable, posting anew", extra={"reason": exc.reason})
        out_track_id = card_track_id(reply.card_key)
        await self.api.create_and_deliver_card(self._card_body(to, reply, out_track_id))
        return SendResult(message_id=out_track_id, updated_in_place=False)


def clicked_card(event: ActionClicked, outputs: Sequence[Outgoing]) -> Reply | None:
    """Among core's outputs for a click, the new state of the card that was clicked: same card
    (named in its outTrackId) in the same conversation."""
    for out in outputs:
        key = out.reply.card_key
        if key and out.to.chat_id == event.conversation.chat_id and _is_card_of(event.card_message_id, key):
            return out.reply
    return None
