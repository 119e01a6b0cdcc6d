"""Turn Slack payloads (Events API, slash commands, block actions, modal submits) into core events."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.events import (
    ActionClicked,
    BotAdded,
    CommandInvoked,
    ConversationRef,
    FormSubmitted,
    Inbound,
    MessageReceived,
    ReactionAdded,
    UserRef,
)

log = logging.getLogger(__name__)

PLATFORM = "slack"
NEW_TICKET_FORM = "ticket.new"

# Message subtypes that still carry a person's new message. Everything else (message_changed,
# message_deleted, channel_join, bot_message, ...) is noise for the desk.
# https://api.slack.com/events/message#subtypes
_KEPT_SUBTYPES = {None, "file_share", "thread_broadcast"}

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL_MENTION = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM_MENTION = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^>|]+)(?:\|([^>]*))?>")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseContext:
    """What parsing needs besides the payload; the transport fills the looked-up parts.

    `names` maps user ids to display names (users.info); `message_texts` maps "channel:ts"
    to the text of messages fetched for reactions (conversations.history/replies), and
    `thread_roots` maps "channel:ts" to the thread root ts of such a message when it is a reply.
    """

    received_at: datetime
    bot_user_id: str | None = None
    intake_channels: frozenset[str] = frozenset()
    ticket_emoji: str = "ticket"
    names: Mapping[str, str] = field(default_factory=dict)
    message_texts: Mapping[str, str] = field(default_factory=dict)
    thread_roots: Mapping[str, str] = field(default_factory=dict)


def message_id(channel: str, ts: str) -> str:
    """deskbot's id for a Slack message: channel plus ts (ts alone is only unique per channel)."""
    return f"{channel}:{ts}"


def split_message_id(mid: str) -> tuple[str | None, str]:
    """"C1:1700.1" -> ("C1", "1700.1"); a bare ts -> (None, ts)."""
    channel, sep, ts = mid.rpartition(":")
    return (channel, ts) if sep and channel else (None, mid)


def normalise_emoji(name: str) -> str:
    """":ticket:" / "ticket::skin-tone-2" -> "ticket"."""
    return name.strip().strip(":").split("::", 1)[0]


def clean_text(text: str, *, bot_user_id: str | None, names: Mapping[str, str], user_ids: bool = False) -> str:
    """Slack markup -> readable text: bot mention removed, other mentions and links made readable.

    With `user_ids`, people stay as Slack wrote them, `<@U123|name>`: command arguments such as
    `assign IT-12 @wang` must name a person unambiguously, and core reads that form.

    https://api.slack.com/reference/surfaces/formatting#retrieving-messages
    """

    def user(m: re.Match[str]) -> str:
        uid, label = m.group(1), m.group(2)
        if uid == bot_user_id:
            return ""
        if user_ids:
            return m.group(0)
        return "@" + (names.get(uid) or label or uid)

    out = _USER_MENTION.sub(user, text)
    out = _CHANNEL_MENTION.sub(lambda m: "#" + (m.group(2) or m.group(1)), out)
    out = _SPECIAL_MENTION.sub(lambda m: "@" + m.group(1), out)
    out = _SUBTEAM_MENTION.sub(lambda m: "@" + (m.group(1) or "group").lstrip("@"), out)
    out = _LINK.sub(_link, out)
    out = html.unescape(out)
    out = re.sub(r"[ \t]{2,}", " ", out)
    return out.strip()


def _link(m: re.Match[str]) -> str:
    url, label = m.group(1), m.group(2)
    bare = url.removeprefix("mailto:").removeprefix("tel:")
    # Keep the address next to its label: technicians need the URL the requester pasted.
    return f"{label} ({url})" if label and label not in (url, bare) else bare


def mentioned_user_ids(text: str) -> list[str]:
    return [m.group(1) for m in _USER_MENTION.finditer(text or "")]


def _user(uid: str, ctx: ParseContext) -> UserRef:
    return UserRef(platform=PLATFORM, user_id=uid, display_name=ctx.names.get(uid))


def _mentions(text: str, ctx: ParseContext) -> tuple[UserRef, ...]:
    """People @mentioned in `text` other than the bot: core resolves "assign IT-12 @name" with them."""
    labels = {m.group(1): m.group(2) for m in _USER_MENTION.finditer(text or "") if m.group(2)}
    return tuple(UserRef(platform=PLATFORM, user_id=uid, display_name=ctx.names.get(uid) or labels.get(uid))
                 for uid in dict.fromkeys(mentioned_user_ids(text)) if uid != ctx.bot_user_id)


def _is_direct(channel: str, channel_type: str | None = None) -> bool:
    # DM channel ids start with "D"; events also say channel_type "im".
    return channel_type == "im" or channel.startswith("D")


def parse(payload: Mapping[str, Any], ctx: ParseContext) -> Inbound | None:
    """Any Slack request body (already JSON-decoded; `payload=` for interactivity) -> Inbound | None."""
    kind = payload.get("type")
    if kind == "event_callback":
        return parse_event(payload, ctx)
    if kind == "block_actions":
        return parse_action(payload, ctx)
    if kind == "view_submission":
        return parse_view_submission(payload, ctx)
    if "command" in payload and "trigger_id" in payload:
        return parse_command(payload, ctx)
    return None


def parse_event(body: Mapping[str, Any], ctx: ParseContext) -> Inbound | None:
    event = body.get("event") or {}
    etype = event.get("type")
    if etype in ("message", "app_mention"):
        return _parse_message(body, event, ctx)
    if etype == "reaction_added":
        return _parse_reaction(body, event, ctx)
    if etype == "member_joined_channel" and ctx.bot_user_id and event.get("user") == ctx.bot_user_id:
        channel = event.get("channel", "")
        inviter = event.get("inviter") or event["user"]
        return BotAdded(
            platform=PLATFORM, event_id=body["event_id"], received_at=ctx.received_at,
            user=_user(inviter, ctx),
            conversation=ConversationRef(platform=PLATFORM, chat_id=channel,
                                         is_direct=_is_direct(channel, event.get("channel_type"))),
            raw=body,
        )
    return None


def _parse_message(body: Mapping[str, Any], event: Mapping[str, Any], ctx: ParseContext) -> Inbound | None:
    if event.get("subtype") not in _KEPT_SUBTYPES or event.get("hidden"):
        return None
    # Other bots (and our own, should bolt not have caught it) never open tickets: avoids bot loops.
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    uid = event.get("user")
    channel = event.get("channel")
    ts = event.get("ts")
    if not uid or not channel or not ts or uid == ctx.bot_user_id:
        return None
    raw_text = event.get("text") or ""
    thread_ts = event.get("thread_ts")
    is_reply = bool(thread_ts) and thread_ts != ts
    direct = _is_direct(channel, event.get("channel_type"))
    mentions_bot = event.get("type") == "app_mention" or (
        bool(ctx.bot_user_id) and any(u == ctx.bot_user_id for u in mentioned_user_ids(raw_text))
    )
    in_intake = channel in ctx.intake_channels and not is_reply
    # In channels the bot only cares about mentions, thread replies (comments: core decides whether
    # the thread is a ticket's) and top-level messages of intake channels.
    if not (direct or mentions_bot or is_reply or in_intake):
        return None
    mid = message_id(channel, ts)
    return MessageReceived(
        platform=PLATFORM,
        event_id=body.get("event_id") or f"msg:{mid}",
        received_at=ctx.received_at,
        user=_user(uid, ctx),
        conversation=ConversationRef(
            platform=PLATFORM, chat_id=channel, is_direct=direct,
            thread_id=message_id(channel, thread_ts) if is_reply else None,
        ),
        message_id=mid,
        # One message arrives as app_mention and as message under two event ids: key it by channel+ts.
        message_key=mid,
        text=clean_text(raw_text, bot_user_id=ctx.bot_user_id, names=ctx.names),
        mentions=_mentions(raw_text, ctx),
        mentions_bot=mentions_bot,
        is_thread_reply=is_reply,
        in_intake_chat=in_intake,
        raw=body,
    )


def _parse_reaction(body: Mapping[str, Any], event: Mapping[str, Any], ctx: ParseContext) -> Inbound | None:
    item = event.get("item") or {}
    if item.get("type") != "message" or not event.get("user"):
        return None
    emoji = normalise_emoji(event.get("reaction", ""))
    if emoji != normalise_emoji(ctx.ticket_emoji):
        return None
    # :ticket: on the bot's own card or notice would open a ticket "reported by" the bot about itself.
    if ctx.bot_user_id and event.get("item_user") == ctx.bot_user_id:
        return None
    channel, ts = item.get("channel", ""), item.get("ts", "")
    if not channel or not ts:
        return None
    target = message_id(channel, ts)
    root = ctx.thread_roots.get(target)
    text = ctx.message_texts.get(target)
    item_user = event.get("item_user")
    return ReactionAdded(
        platform=PLATFORM,
        event_id=body["event_id"],
        received_at=ctx.received_at,
        user=_user(event["user"], ctx),
        conversation=ConversationRef(
            platform=PLATFORM, chat_id=channel, is_direct=_is_direct(channel),
            thread_id=message_id(channel, root) if root and root != ts else None,
        ),
        message_id=target,
        # One reacted message makes at most one ticket, whoever else adds the same emoji later.
        message_key=f"{target}:+{emoji}",
        emoji=emoji,
        target_message_id=target,
        target_text=clean_text(text, bot_user_id=ctx.bot_user_id, names=ctx.names) if text else None,
        target_user=_user(item_user, ctx) if item_user else None,
        raw=body,
    )


def parse_command(body: Mapping[str, Any], ctx: ParseContext) -> CommandInvoked | None:
    channel = body.get("channel_id", "")
    uid = body.get("user_id")
    if not uid or not channel:
        return None
    return CommandInvoked(
        platform=PLATFORM,
        # Slack does not retry slash commands, but a Socket Mode redelivery repeats the payload:
        # trigger_id is unique per invocation and stable across redeliveries.
        event_id=f"command:{body['trigger_id']}",
        received_at=ctx.received_at,
        user=_user(uid, ctx),
        conversation=ConversationRef(
            platform=PLATFORM, chat_id=channel,
            is_direct=_is_direct(channel) or body.get("channel_name") == "directmessage",
        ),
        name=str(body.get("command", "")).lstrip("/"),
        mentions=_mentions(body.get("text") or "", ctx),
        args=tuple(clean_text(body.get("text") or "", bot_user_id=None, names={}, user_ids=True).split()),
        raw=body,
    )


def encode_button_value(action_id: str, value: Mapping[str, str]) -> str:
    """A button's Slack `value`: the core action id and value, compact JSON (max 2000 chars)."""
    return json.dumps({"a": action_id, "v": dict(value)}, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False)


def decode_button_value(raw: str) -> tuple[str, dict[str, str]] | None:
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("v"), dict):
        return None
    return data["a"], {str(k): str(v) for k, v in data["v"].items()}


def parse_action(body: Mapping[str, Any], ctx: ParseContext) -> ActionClicked | None:
    actions = body.get("actions") or []
    uid = (body.get("user") or {}).get("id")
    if not actions or not uid:
        return None
    decoded = decode_button_value(actions[0].get("value", ""))
    if decoded is None:
        log.info("slack action without a deskbot value ignored",
                 extra={"slack_action_id": actions[0].get("action_id")})
        return None
    action_id, value = decoded
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    card_ts = container.get("message_ts") or message.get("ts")
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    card = message_id(channel, card_ts) if card_ts and channel and not container.get("is_ephemeral") else None
    return ActionClicked(
        platform=PLATFORM,
        event_id=f"action:{body['trigger_id']}",
        received_at=ctx.received_at,
        user=_user(uid, ctx),
        conversation=ConversationRef(
            platform=PLATFORM, chat_id=channel, is_direct=_is_direct(channel),
            thread_id=message_id(channel, thread_ts) if thread_ts and thread_ts != card_ts else None,
        ),
        message_id=card,
        action_id=action_id,
        value=value,
        card_message_id=card,
        raw=body,
    )


def _input_value(element: Mapping[str, Any]) -> str | None:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        opt = element.get("selected_option") or {}
        return opt.get("value")
    if kind in ("users_select", "conversations_select", "channels_select"):
        return element.get("selected_user") or element.get("selected_conversation") or element.get(
            "selected_channel")
    return element.get("value")


def parse_view_submission(body: Mapping[str, Any], ctx: ParseContext) -> FormSubmitted | None:
    view = body.get("view") or {}
    uid = (body.get("user") or {}).get("id")
    if view.get("callback_id") != NEW_TICKET_FORM or not uid:
        return None
    values: dict[str, str] = {}
    for block_id, elements in ((view.get("state") or {}).get("values") or {}).items():
        for element in elements.values():
            got = _input_value(element)
            if got not in (None, ""):
                values[block_id] = str(got)
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    # The modal remembers where /ticket new was typed; without it, answer the person in a DM.
    channel = meta.get("channel") or uid
    return FormSubmitted(
        platform=PLATFORM,
        event_id=f"view:{view.get('id')}:{view.get('hash', '')}",
        received_at=ctx.received_at,
        user=_user(uid, ctx),
        conversation=ConversationRef(platform=PLATFORM, chat_id=channel,
                                     is_direct=_is_direct(channel) or channel == uid),
        form_id=NEW_TICKET_FORM,
        values=values,
        raw=body,
    )
