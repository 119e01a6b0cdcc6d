"""Feishu/Lark event payloads (schema 2.0, already decrypted) -> core Inbound events; pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.events import (
    ActionClicked,
    BotAdded,
    CommandInvoked,
    ConversationRef,
    Inbound,
    MessageReceived,
    ReactionAdded,
    UserRef,
)

PLATFORM = "feishu"

MESSAGE_RECEIVED = "im.message.receive_v1"
REACTION_CREATED = "im.message.reaction.created_v1"
BOT_ADDED = "im.chat.member.bot.added_v1"
CARD_ACTION = "card.action.trigger"
# Every event type this adapter understands (subscribe to exactly these in the console).
EVENT_TYPES = (MESSAGE_RECEIVED, REACTION_CREATED, BOT_ADDED, CARD_ACTION)

# Button values carry the action id under this key next to the ids (render.py puts it there).
ACTION_KEY = "action_id"

_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseContext:
    """What parsing needs besides the payload: who the bot is, intake chats, the ticket emoji, the time."""

    received_at: datetime
    bot_open_id: str | None = None
    bot_name: str | None = None
    intake_chats: frozenset[str] = field(default_factory=frozenset)
    ticket_emoji: str = "Get"


def event_type(payload: Mapping[str, Any]) -> str | None:
    header = payload.get("header")
    return header.get("event_type") if isinstance(header, Mapping) else None


def reaction_target(payload: Mapping[str, Any], ctx: ParseContext) -> str | None:
    """The reacted message id when this is a user's reaction with the ticket emoji, else None."""
    if payload.get("schema") != "2.0" or event_type(payload) != REACTION_CREATED:
        return None
    ev = payload.get("event") or {}
    if ev.get("operator_type", "user") != "user":
        return None
    emoji = (ev.get("reaction_type") or {}).get("emoji_type") or ""
    if emoji.casefold() != ctx.ticket_emoji.casefold():
        return None
    return ev.get("message_id") or None


def mentions_group_message(payload: Mapping[str, Any]) -> bool:
    """A group message with mentions: parsing it correctly needs the bot's open_id."""
    if event_type(payload) != MESSAGE_RECEIVED:
        return False
    msg = (payload.get("event") or {}).get("message") or {}
    return msg.get("chat_type") != "p2p" and bool(msg.get("mentions"))


def parse(
    payload: Mapping[str, Any], ctx: ParseContext, *, target_message: Mapping[str, Any] | None = None,
) -> Inbound | None:
    """Map one event to an Inbound, or None for noise. `target_message` is the reacted message
    (an item of GET /open-apis/im/v1/messages/{id}) for reaction events, when the caller fetched it."""
    if payload.get("schema") != "2.0":
        return None  # v1 events are not subscribed; url_verification is handled by the transport
    header = payload.get("header") or {}
    event_id = header.get("event_id")
    ev = payload.get("event")
    if not event_id or not isinstance(ev, Mapping):
        return None
    kind = header.get("event_type")
    tenant = header.get("tenant_key") or ""
    if kind == MESSAGE_RECEIVED:
        return _message(event_id, tenant, ev, ctx, payload)
    if kind == CARD_ACTION:
        return _card_action(event_id, tenant, ev, ctx, payload)
    if kind == REACTION_CREATED:
        return _reaction(event_id, tenant, ev, ctx, payload, target_message)
    if kind == BOT_ADDED:
        return _bot_added(event_id, tenant, ev, ctx, payload)
    return None


# -- messages -------------------------------------------------------------------------------------


def _message(event_id: str, tenant: str, ev: Mapping[str, Any], ctx: ParseContext,
             payload: Mapping[str, Any]) -> Inbound | None:
    sender = ev.get("sender") or {}
    msg = ev.get("message") or {}
    # Only people open tickets; other apps/bots (sender_type "app") are noise.
    if sender.get("sender_type") != "user":
        return None
    open_id = (sender.get("sender_id") or {}).get("open_id")
    chat_id = msg.get("chat_id")
    message_id = msg.get("message_id")
    if not open_id or not chat_id or not message_id:
        return None
    mentions = msg.get("mentions")
    text, mentions_bot = flatten_content(msg.get("message_type"), msg.get("content"), mentions, ctx)
    if text is None:
        return None
    if _is_command(text):
        # Command arguments are split on spaces, so "@Wang Fang" would fall apart: there a person whose
        # name has a space is written as "@<open_id>", which core resolves through `mentions`.
        text, _ = flatten_content(msg.get("message_type"), msg.get("content"), mentions, ctx,
                                  ids_for_spaced=True)
        text = text or ""
    is_direct = msg.get("chat_type") == "p2p"
    # root_id is the first message of the reply chain: thread replies and quoted replies carry it.
    root_id = msg.get("root_id") or None
    is_thread_reply = root_id is not None and root_id != message_id
    in_intake = not is_direct and not is_thread_reply and _in_intake(chat_id, ctx.intake_chats)
    if not (is_direct or mentions_bot or in_intake or is_thread_reply):
        return None
    conversation = ConversationRef(
        platform=PLATFORM, tenant=tenant, chat_id=chat_id,
        thread_id=root_id if is_thread_reply else None, is_direct=is_direct,
    )
    common: dict[str, Any] = dict(
        platform=PLATFORM, event_id=event_id, received_at=ctx.received_at,
        user=UserRef(platform=PLATFORM, user_id=open_id), conversation=conversation,
        message_id=message_id, message_key=message_id, mentions=mentioned_people(mentions, ctx), raw=payload,
    )
    if _is_command(text):
        head, _, rest = text[1:].partition(" ")
        return CommandInvoked(**common, name=head, args=tuple(rest.split()))
    return MessageReceived(
        **common, text=text, mentions_bot=mentions_bot, is_thread_reply=is_thread_reply,
        in_intake_chat=in_intake,
    )


def _is_command(text: str) -> bool:
    return text.startswith("/") and len(text) > 1 and not text[1].isspace()


def mentioned_people(mentions: Sequence[Mapping[str, Any]] | None, ctx: ParseContext) -> tuple[UserRef, ...]:
    """The people @mentioned (not the bot, not @all), so core can resolve "@name" in a command."""
    people: list[UserRef] = []
    for m in mentions or ():
        ident = m.get("id")
        open_id = ident.get("open_id") if isinstance(ident, Mapping) else None
        if not open_id or _is_bot(m, ctx) or any(u.user_id == open_id for u in people):
            continue
        people.append(UserRef(platform=PLATFORM, user_id=open_id, display_name=m.get("name") or None))
    return tuple(people)


def _in_intake(chat_id: str, intake: frozenset[str]) -> bool:
    return chat_id in intake or f"{PLATFORM}:{chat_id}" in intake


def flatten_content(
    message_type: str | None, content: Any, mentions: Sequence[Mapping[str, Any]] | None, ctx: ParseContext,
    *, ids_for_spaced: bool = False,
) -> tuple[str | None, bool]:
    """Plain text of a `text` or `post` message with mentions resolved (the bot's removed).

    `ids_for_spaced` writes a person whose name contains a space as "@<open_id>" (for commands).
    Returns (None, False) for message types that carry no text (images, files, stickers...)."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None, False
    if not isinstance(content, Mapping):
        return None, False
    names: dict[str, str | None] = {}
    mentions_bot = False
    for m in mentions or ():
        key = m.get("key")
        if not key:
            continue
        if _is_bot(m, ctx):
            names[key] = None
            mentions_bot = True
        else:
            name = str(m.get("name") or "")
            ident = m.get("id")
            open_id = ident.get("open_id") if isinstance(ident, Mapping) else ident
            if ids_for_spaced and open_id and (not name or any(c.isspace() for c in name)):
                name = str(open_id)
            names[key] = "@" + name
    if message_type == "text":
        text = str(content.get("text") or "")
        # longest keys first so "@_user_1" does not eat the start of "@_user_10"
        for key in sorted(names, key=len, reverse=True):
            text = text.replace(key, names[key] or "")
        text = text.replace("@_all", "@all")
    elif message_type == "post":
        text, bot_in_post = _flatten_post(content, names, ctx)
        mentions_bot = mentions_bot or bot_in_post
    else:
        return None, False
    return _tidy(text), mentions_bot


def _is_bot(mention: Mapping[str, Any], ctx: ParseContext) -> bool:
    ident = mention.get("id")
    # receive_v1 gives id as {"open_id": ...}; GET message gives id as a string with id_type
    open_id = ident.get("open_id") if isinstance(ident, Mapping) else ident
    if ctx.bot_open_id:
        return open_id == ctx.bot_open_id
    return bool(ctx.bot_name) and mention.get("name") == ctx.bot_name


def _flatten_post(content: Mapping[str, Any], names: Mapping[str, str | None],
                  ctx: ParseContext) -> tuple[str, bool]:
    # Received posts are {"title", "content"}; sent posts are wrapped in a locale ({"zh_cn": {...}}).
    body = content
    if "content" not in body:
        body = next((v for v in content.values() if isinstance(v, Mapping) and "content" in v), {})
    lines: list[str] = []
    mentions_bot = False
    title = body.get("title")
    if title:
        lines.append(str(title))
    for paragraph in body.get("content") or ():
        parts: list[str] = []
        for el in paragraph or ():
            if not isinstance(el, Mapping):
                continue
            tag = el.get("tag")
            if tag in ("text", "md", "code_block"):
                parts.append(str(el.get("text") or ""))
            elif tag == "a":
                label, href = str(el.get("text") or ""), str(el.get("href") or "")
                parts.append(f"{label} ({href})" if href and label and label != href else (label or href))
            elif tag == "at":
                key = el.get("user_id") or ""
                if key in names:
                    name = names[key]
                elif key and key == ctx.bot_open_id:
                    name = None
                elif key in ("all", "@_all"):
                    name = "@all"
                else:
                    name = "@" + str(el.get("user_name") or key)
                if name is None:
                    mentions_bot = True
                else:
                    parts.append(name)
            elif tag == "emotion":
                parts.append(f"[{el.get('emoji_type', '')}]")
            elif tag == "hr":
                parts.append("---")
        lines.append("".join(parts))
    return "\n".join(lines), mentions_bot


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


# -- card clicks ----------------------------------------------------------------------------------


def _card_action(event_id: str, tenant: str, ev: Mapping[str, Any], ctx: ParseContext,
                 payload: Mapping[str, Any]) -> Inbound | None:
    operator = ev.get("operator") or {}
    action = ev.get("action") or {}
    context = ev.get("context") or {}
    value = action.get("value")
    open_id = operator.get("open_id")
    chat_id = context.get("open_chat_id")
    if not isinstance(value, Mapping) or not value.get(ACTION_KEY) or not open_id or not chat_id:
        return None
    ids = {str(k): str(v) for k, v in value.items() if k != ACTION_KEY}
    card_id = context.get("open_message_id") or None
    return ActionClicked(
        platform=PLATFORM, event_id=event_id, received_at=ctx.received_at,
        user=UserRef(platform=PLATFORM, user_id=open_id),
        conversation=ConversationRef(platform=PLATFORM, tenant=tenant or operator.get("tenant_key") or "",
                                     chat_id=chat_id),
        message_id=card_id, action_id=str(value[ACTION_KEY]), value=ids, card_message_id=card_id,
        raw=payload,
    )


# -- reactions ------------------------------------------------------------------------------------


def _reaction(event_id: str, tenant: str, ev: Mapping[str, Any], ctx: ParseContext,
              payload: Mapping[str, Any], target: Mapping[str, Any] | None) -> Inbound | None:
    target_id = reaction_target(payload, ctx)
    open_id = (ev.get("user_id") or {}).get("open_id")
    if not target_id or not open_id:
        return None
    # The reaction event names only the message: chat, text and author come from the fetched message.
    chat_id = ""
    thread_id: str | None = None
    target_text: str | None = None
    target_user: UserRef | None = None
    if target:
        chat_id = target.get("chat_id") or ""
        root = target.get("root_id") or None
        thread_id = root if root and root != target_id else None
        body = target.get("body") or {}
        target_text, _ = flatten_content(target.get("msg_type"), body.get("content"), target.get("mentions"),
                                         ctx)
        sender = target.get("sender") or {}
        if sender.get("sender_type") == "user" and sender.get("id"):
            target_user = UserRef(platform=PLATFORM, user_id=str(sender["id"]))
    return ReactionAdded(
        platform=PLATFORM, event_id=event_id, received_at=ctx.received_at,
        user=UserRef(platform=PLATFORM, user_id=open_id),
        conversation=ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=chat_id, thread_id=thread_id),
        message_id=target_id, emoji=(ev.get("reaction_type") or {}).get("emoji_type") or "",
        target_message_id=target_id, target_text=target_text, target_user=target_user, raw=payload,
    )


# -- bot added ------------------------------------------------------------------------------------


def _bot_added(event_id: str, tenant: str, ev: Mapping[str, Any], ctx: ParseContext,
               payload: Mapping[str, Any]) -> Inbound | None:
    chat_id = ev.get("chat_id")
    open_id = (ev.get("operator_id") or {}).get("open_id")
    if not chat_id or not open_id:
        return None
    name = str(ev.get("name") or "")
    return BotAdded(
        platform=PLATFORM, event_id=event_id, received_at=ctx.received_at,
        user=UserRef(platform=PLATFORM, user_id=open_id),
        conversation=ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=chat_id),
        # the welcome goes out in the chat's language: a Chinese chat name is the best hint we get
        lang_hint="zh-CN" if _CJK.search(name) else None, raw=payload,
    )
