"""The Slack adapter: bolt AsyncApp over HTTP or Socket Mode, intake into the sink, sending via the Web API."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.base import EventSink
from adapters.slack.parse import (
    NEW_TICKET_FORM,
    ParseContext,
    mentioned_user_ids,
    message_id,
    normalise_emoji,
    parse,
    split_message_id,
)
from adapters.slack.render import new_ticket_modal, render
from core.events import ConversationRef, Inbound
from core.replies import DeliveryError, Reply, SendResult

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"

# Web API error codes: https://api.slack.com/methods/chat.postMessage#errors (and chat.update, ...).
RETRYABLE_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout", "team_added_to_org",
})
# Anything not retryable is permanent; these are the ones we expect and name in the README (Slack section).
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "message_not_found", "cant_update_message", "is_archived",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope", "edit_window_closed",
    "restricted_action", "user_not_found", "msg_too_long", "invalid_blocks",
})
# The card message is gone or can no longer be edited: the new version is posted in the ticket's thread.
_REPOST_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# When the bot is not in the channel a slash command came from, the command's response_url still works.
_NO_CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel"})
_OPEN_MODAL_ARGS = (("new",), ("新建",))
RESPONSE_URL_SECONDS = 30 * 60  # https://api.slack.com/interactivity/handling#message_responses


def delivery_error(exc: BaseException) -> DeliveryError:
    """A Slack Web API failure -> DeliveryError: 429/ratelimited/5xx/timeouts retry, the rest park."""
    from slack_sdk.errors import SlackApiError

    if not isinstance(exc, SlackApiError):
        return DeliveryError(f"slack transport error: {type(exc).__name__}", retryable=True)
    resp = exc.response
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
    data = getattr(resp, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    headers = getattr(resp, "headers", None) or {}
    if status == 429 or error in ("ratelimited", "rate_limited"):
        retry_after: float | None
        try:
            retry_after = float(headers.get("Retry-After") or headers.get("retry-after") or 1)
        except (TypeError, ValueError):
            retry_after = 1.0
        return DeliveryError(f"slack {error or 'rate limited'}", retryable=True, retry_after=retry_after)
    if (isinstance(status, int) and status >= 500) or error in RETRYABLE_ERRORS:
        return DeliveryError(f"slack {error or status}", retryable=True)
    return DeliveryError(f"slack {error or status}", retryable=False)


class SlackAdapter:
    """Slack on slack-bolt's AsyncApp: HTTP (/slack/events) or Socket Mode, Block Kit out."""

    platform: ClassVar[str] = "slack"
    send_rate: ClassVar[tuple[int, float]] = (1, 1.0)  # chat.postMessage: ~1 message/s per channel

    def __init__(
        self,
        *,
        bot_token: str,
        mode: str = "http",
        signing_secret: str | None = None,
        app_token: str | None = None,
        api_base_url: str = DEFAULT_API_BASE_URL,
        intake_channels: Iterable[str] = (),
        ticket_emoji: str = "ticket",
        command: str = "/ticket",
        lang: str = "en",
        categories: Sequence[str] = (),
        priorities: Sequence[str] = ("P0", "P1", "P2", "P3"),
        default_priority: str | None = "P2",
        lookup_timeout: float = 1.5,
        name_cache_seconds: float = 3600.0,
        api_timeout: int = 10,
    ) -> None:
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        if not bot_token:
            raise ValueError("slack.bot_token is required")
        if mode not in ("http", "socket"):
            raise ValueError(f"slack mode must be 'http' or 'socket', not {mode!r}")
        if mode == "http" and not signing_secret:
            raise ValueError("slack.signing_secret is required in http mode")
        if mode == "socket" and not app_token:
            raise ValueError("slack.app_token is required in socket mode")
        self.mode = mode
        self._app_token = app_token
        self._intake = frozenset(intake_channels)
        self._emoji = normalise_emoji(ticket_emoji)
        self.command = command if command.startswith("/") else "/" + command
        self._lang = lang
        self._categories = tuple(categories)
        self._priorities = tuple(priorities)
        self._default_priority = default_priority
        self._lookup_timeout = lookup_timeout
        self._name_ttl = name_cache_seconds
        self._names: dict[str, tuple[str | None, float]] = {}
        self._dm_channels: dict[str, str] = {}
        self._response_urls: dict[str, tuple[str, str, float]] = {}  # channel -> (url, user, expires)
        self._sink: EventSink | None = None
        self._socket: Any = None
        self._socket_task: asyncio.Task[None] | None = None

        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        # AsyncApp has no base_url: the Web API location (GovSlack, proxies, tests) comes with the client.
        self.client = AsyncWebClient(token=bot_token, base_url=base, timeout=api_timeout)
        self.app = AsyncApp(
            name="deskbot.slack",
            client=self.client,
            signing_secret=signing_secret or "",
            # Store first, then ack: bolt runs the listener before answering Slack, and a listener
            # error (the sink could not store) becomes HTTP 500 / no Socket Mode ack, so Slack retries.
            process_before_response=True,
            request_verification_enabled=(mode == "http"),
            logger=logging.getLogger("deskbot.slack.bolt"),
        )
        self._register_listeners()
        self._http_handler: Any = None
        if mode == "http":
            from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

            self._http_handler = AsyncSlackRequestHandler(self.app)

    # ------------------------------------------------------------------ lifecycle

    def routes(self) -> list[Any]:
        from starlette.routing import Route

        if self.mode != "http":
            return []
        return [Route(EVENTS_PATH, self._http_endpoint, methods=["POST"], name="slack_events")]

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.mode == "socket" and self._socket is None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            # Built here, inside the running loop: its aiohttp session binds to the current loop.
            self._socket = AsyncSocketModeHandler(self.app, self._app_token, web_client=self.client)
            self._socket_task = asyncio.create_task(self._socket.connect_async(), name="slack-socket-mode")
            log.info("slack socket mode connecting")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._socket_task is not None:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
            self._socket_task = None
        self._sink = None

    async def _http_endpoint(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        if self._sink is None:
            return PlainTextResponse("not ready", status_code=503)
        # Signature and the 5-minute timestamp window are checked by bolt's RequestVerification: 401.
        return await self._http_handler.handle(request)

    # ------------------------------------------------------------------ intake

    def _register_listeners(self) -> None:
        app = self.app
        for event_type in ("app_mention", "message", "reaction_added", "member_joined_channel"):
            app.event(event_type)(self._on_event)
        app.command(self.command)(self._on_command)
        app.action(re.compile(r".+"))(self._on_action)
        app.view(NEW_TICKET_FORM)(self._on_form)
        # Any other event the app is subscribed to: ack so Slack does not retry it.
        app.event(re.compile(r".*"))(self._on_other_event)

    def _context(self, context: Mapping[str, Any], **extra: Any) -> ParseContext:
        return ParseContext(
            received_at=datetime.now(UTC),
            bot_user_id=context.get("bot_user_id"),
            intake_channels=self._intake,
            ticket_emoji=self._emoji,
            **extra,
        )

    async def _submit(self, event: Inbound) -> None:
        if self._sink is None:
            raise RuntimeError("slack adapter is not started")
        result = await self._sink.submit(event)
        log.info("slack event stored", extra={
            "event_id": event.event_id, "kind": event.kind, "duplicate": result.duplicate,
        })

    async def _on_event(self, body: dict[str, Any], context: Any) -> None:
        # bolt acks events automatically once this returns (process_before_response=True).
        first = parse(body, self._context(context))
        if first is None:
            return
        event = body.get("event") or {}
        names: dict[str, str] = {}
        texts: dict[str, str] = {}
        roots: dict[str, str] = {}
        uids = [event.get("user"), event.get("item_user"), event.get("inviter"),
                *mentioned_user_ids(event.get("text") or "")]
        jobs = [self._lookup_names(uids, names)]
        if event.get("type") == "reaction_added":
            item = event.get("item") or {}
            jobs.append(self._lookup_message(item.get("channel", ""), item.get("ts", ""), names, texts, roots))
        await self._bounded(asyncio.gather(*jobs))
        parsed = parse(body, self._context(context, names=names, message_texts=texts, thread_roots=roots))
        if parsed is not None:
            await self._submit(parsed)

    async def _on_other_event(self, body: dict[str, Any]) -> None:
        log.debug("slack event ignored", extra={"slack_event_type": (body.get("event") or {}).get("type")})

    async def _on_command(self, body: dict[str, Any], ack: Any, context: Any) -> None:
        args = tuple(a.lower() for a in (body.get("text") or "").split())
        if args in _OPEN_MODAL_ARGS and await self._open_new_ticket_modal(body):
            await ack()
            return
        names: dict[str, str] = {}
        await self._bounded(self._lookup_names([body.get("user_id")], names))
        event = parse(body, self._context(context, names=names))
        if event is not None:
            self._remember_response_url(body)
            await self._submit(event)
        await ack()

    async def _open_new_ticket_modal(self, body: Mapping[str, Any]) -> bool:
        from slack_sdk.errors import SlackApiError

        view = new_ticket_modal(lang=self._lang, categories=self._categories, priorities=self._priorities,
                                default_priority=self._default_priority, channel=body.get("channel_id"))
        try:
            # trigger_id is valid for 3 s: https://api.slack.com/surfaces/modals#opening_modals
            await asyncio.wait_for(self.client.views_open(trigger_id=body["trigger_id"], view=view),
                                   self._lookup_timeout)
        except (SlackApiError, TimeoutError, OSError) as exc:
            log.warning("slack views.open failed; passing the command on", extra={"error": str(exc)})
            return False
        return True

    async def _on_action(self, body: dict[str, Any], ack: Any, context: Any) -> None:
        names: dict[str, str] = {}
        await self._bounded(self._lookup_names([(body.get("user") or {}).get("id")], names))
        event = parse(body, self._context(context, names=names))
        if event is not None:
            # The card itself is updated by the outbox with chat.update; the ack stays empty.
            await self._submit(event)
        await ack()

    async def _on_form(self, body: dict[str, Any], ack: Any, context: Any) -> None:
        names: dict[str, str] = {}
        await self._bounded(self._lookup_names([(body.get("user") or {}).get("id")], names))
        event = parse(body, self._context(context, names=names))
        if event is not None:
            await self._submit(event)
        await ack()  # an empty ack closes the modal

    async def _bounded(self, job: Any) -> None:
        """Look-ups must not eat Slack's 3-second ack budget: give up and go on with what we have."""
        try:
            await asyncio.wait_for(job, self._lookup_timeout)
        except TimeoutError:
            log.info("slack look-up timed out; storing the event without it")
        except Exception as exc:  # a failed look-up only costs a display name or a quoted text
            log.warning("slack look-up failed", extra={"error": str(exc)})

    # ------------------------------------------------------------------ look-ups

    async def display_name(self, user_id: str) -> str | None:
        """users.info display name, cached (also for unknown users, briefly)."""
        from slack_sdk.errors import SlackApiError

        now = time.monotonic()
        hit = self._names.get(user_id)
        if hit and hit[1] > now:
            return hit[0]
        try:
            resp = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.info("slack users.info failed", extra={"slack_user": user_id, "error": str(exc)})
            self._names[user_id] = (None, now + 60)
            return None
        user = resp.get("user") or {}
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or None)
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[user_id] = (name, now + self._name_ttl)
        return name

    async def _lookup_names(self, uids: Iterable[str | None], into: dict[str, str]) -> None:
        async def one(uid: str) -> None:
            name = await self.display_name(uid)
            if name:
                into[uid] = name

        await asyncio.gather(*(one(u) for u in dict.fromkeys(u for u in uids if u)))

    async def _lookup_message(self, channel: str, ts: str, names: dict[str, str],
                              texts: dict[str, str], roots: dict[str, str]) -> None:
        """The reacted message's text: conversations.history finds top-level messages,
        conversations.replies finds thread replies (history does not list them)."""
        if not channel or not ts:
            return
        found = None
        for method in (self.client.conversations_history, self.client.conversations_replies):
            kwargs: dict[str, Any] = {"channel": channel, "latest": ts, "oldest": ts, "inclusive": True}
            if method == self.client.conversations_replies:
                kwargs["ts"] = ts
            else:
                kwargs["limit"] = 1
            resp = await method(**kwargs)
            found = next((m for m in resp.get("messages") or [] if m.get("ts") == ts), None)
            if found:
                break
        if not found:
            return
        mid = message_id(channel, ts)
        texts[mid] = found.get("text") or ""
        if found.get("thread_ts"):
            roots[mid] = found["thread_ts"]
        await self._lookup_names(mentioned_user_ids(texts[mid]), names)

    def _remember_response_url(self, body: Mapping[str, Any]) -> None:
        url, channel = body.get("response_url"), body.get("channel_id")
        if url and channel:
            self._response_urls[channel] = (url, body.get("user_id", ""), time.monotonic() + RESPONSE_URL_SECONDS)

    # ------------------------------------------------------------------ sending

    async def _channel_for(self, to: ConversationRef) -> str:
        """A DM addressed to a person needs its D... channel first (conversations.open, cached).

        Core addresses people it writes to first as chat_id "@<user_id>"; a direct ConversationRef
        holding a bare user id (a modal submitted without a channel) means the same.
        https://api.slack.com/methods/conversations.open"""
        chat = to.chat_id
        if chat.startswith("@"):
            user = chat[1:]
        elif to.is_direct and chat[:1] in ("U", "W"):
            user = chat
        else:
            return chat
        if not user:
            raise DeliveryError("slack DM without a user id", retryable=False)
        if user not in self._dm_channels:
            resp = await self.client.conversations_open(users=user)
            self._dm_channels[user] = resp["channel"]["id"]
        return self._dm_channels[user]

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        update_message_id: str | None = None,
        reply_to_message_id: str | None = None,
    ) -> SendResult:
        from slack_sdk.errors import SlackApiError

        payload = render(reply)
        try:
            if update_message_id and not reply.only_visible_to:
                try:
                    return await self._update(to, update_message_id, payload)
                except SlackApiError as exc:
                    if (getattr(exc.response, "data", None) or {}).get("error") not in _REPOST_ERRORS:
                        raise
                    log.info("slack card cannot be edited; posting it again", extra={"chat_id": to.chat_id})
            channel = await self._channel_for(to)
            root = to.thread_id or reply_to_message_id
            thread_ts = split_message_id(root)[1] if root else None
            if reply.only_visible_to:
                user = reply.only_visible_to.user_id
                try:
                    await self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                                         **payload)
                except SlackApiError as exc:
                    if not await self._via_response_url(exc, channel, user, payload, "ephemeral"):
                        raise
                # Ephemeral messages cannot be edited later: there is no message id to keep.
                return SendResult(message_id=None)
            try:
                resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, **payload)
            except SlackApiError as exc:
                if await self._via_response_url(exc, channel, None, payload, "in_channel"):
                    return SendResult(message_id=None)
                raise
            return SendResult(message_id=message_id(resp.get("channel") or channel, resp["ts"]))
        except DeliveryError:
            raise
        except Exception as exc:
            err = delivery_error(exc)
            log.warning("slack send failed", extra={
                "chat_id": to.chat_id, "reason": err.reason, "retryable": err.retryable,
            })
            raise err from exc

    async def _update(self, to: ConversationRef, mid: str, payload: dict[str, Any]) -> SendResult:
        channel, ts = split_message_id(mid)
        channel = channel or await self._channel_for(to)
        # Without blocks=[] an update to plain text would keep the old card's blocks.
        resp = await self.client.chat_update(channel=channel, ts=ts, text=payload["text"],
                                             blocks=payload.get("blocks", []))
        return SendResult(message_id=message_id(resp.get("channel") or channel, resp.get("ts") or ts),
                          updated_in_place=True)

    async def _via_response_url(self, exc: Any, channel: str, user: str | None, payload: dict[str, Any],
                                response_type: str) -> bool:
        """Fallback for channels the bot is not in: answer through a recent slash command's response_url."""
        error = (getattr(exc.response, "data", None) or {}).get("error")
        hit = self._response_urls.get(channel)
        if error not in _NO_CHANNEL_ERRORS or not hit or hit[2] < time.monotonic():
            return False
        url, by_user, _ = hit
        if user is not None and user != by_user:
            return False
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        resp = await AsyncWebhookClient(url=url).send(
            text=payload["text"], blocks=payload.get("blocks"), response_type=response_type,
            replace_original=False,
        )
        if resp.status_code != 200:
            raise DeliveryError(f"slack response_url {resp.status_code}", retryable=resp.status_code >= 500)
        return True
