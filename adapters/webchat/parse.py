"""Browser chat frames (with the tab's person and room attached by the transport) -> core Inbound events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.events import (
    ActionClicked,
    CommandInvoked,
    ConversationRef,
    Inbound,
    MessageReceived,
    ReactionAdded,
    UserRef,
)

PLATFORM = "webchat"
LANGS = ("en", "zh-CN")
_COMMAND = re.compile(r"^/([A-Za-z][\w-]{0,31})(?:\s+(.*))?$", re.DOTALL)


class BadFrame(ValueError):
    """A frame the page should never send (or a person typed nothing). `code` names the UI string."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def check_text(text: object, *, limit: int) -> tuple[str, bool]:
    """The message text to keep and whether it was cut. Empty/blank text is refused."""
    if not isinstance(text, str):
        raise BadFrame("bad_frame")
    if not text.strip():
        raise BadFrame("empty_message")
    if len(text) > limit:
        return text[:limit], True
    return text, False


def bot_mention(bot_name: str) -> re.Pattern[str]:
    """`@deskbot` anywhere, case-insensitive, not part of a longer name or an e-mail address."""
    return re.compile(rf"(?<![\w@.])@{re.escape(bot_name)}(?![\w-])", re.IGNORECASE)


def strip_mention(text: str, bot_name: str) -> tuple[str, bool]:
    pattern = bot_mention(bot_name)
    if not pattern.search(text):
        return text, False
    cleaned = pattern.sub(" ", text)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, True


def user_ref(person: Mapping[str, Any]) -> UserRef:
    return UserRef(platform=PLATFORM, user_id=str(person["slug"]), display_name=str(person["name"]))


def _lang(frame: Mapping[str, Any]) -> str | None:
    lang = frame.get("lang")
    return lang if lang in LANGS else None


def _value(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or len(raw) > 20:
        raise BadFrame("bad_frame")
    if not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 256
               for k, v in raw.items()):
        raise BadFrame("bad_frame")
    return dict(raw)


def parse(envelope: Mapping[str, Any], *, bot_name: str, ticket_emoji: str) -> Inbound | None:
    """One browser frame -> an Inbound event, None for frames core does not care about.

    `envelope` = {"frame": what the page sent, "person": {slug, name, role}, "room": {id, kind, intake},
    "event_id", "received_at" (ISO), "message_id" (new messages), "thread_root" (root id of the thread
    the frame belongs to, resolved by the transport), "target" (reacted/clicked message)}.
    """
    frame = envelope["frame"]
    room = envelope["room"]
    kind = frame.get("type")
    thread_root = envelope.get("thread_root")
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_id": str(envelope["event_id"]),
        "received_at": datetime.fromisoformat(envelope["received_at"]),
        "user": user_ref(envelope["person"]),
        "conversation": ConversationRef(
            platform=PLATFORM, chat_id=str(room["id"]), thread_id=thread_root,
            is_direct=room["kind"] == "direct",
        ),
        "lang_hint": _lang(frame),
        "raw": frame,
    }
    if kind == "message":
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadFrame("empty_message")
        message_id = str(envelope["message_id"])
        common.update(message_id=message_id, message_key=message_id)
        command = _COMMAND.match(text.strip())
        if command:
            args = tuple((command.group(2) or "").split())
            return CommandInvoked(name=command.group(1).lower(), args=args, **common)
        cleaned, mentioned = strip_mention(text, bot_name)
        return MessageReceived(
            text=cleaned, mentions_bot=mentioned, is_thread_reply=thread_root is not None,
            in_intake_chat=bool(room.get("intake")) and thread_root is None, **common,
        )
    target = envelope.get("target")
    if kind == "reaction":
        emoji = frame.get("emoji")
        if not isinstance(emoji, str) or not emoji or len(emoji) > 16 or not target:
            raise BadFrame("bad_frame")
        if emoji != ticket_emoji:
            return None
        author = target.get("author") or {}
        return ReactionAdded(
            emoji=emoji, target_message_id=str(target["id"]), target_text=target.get("text") or None,
            target_user=user_ref(author) if author.get("slug") else None, **common,
        )
    if kind == "action":
        action_id = frame.get("action_id")
        card_id = frame.get("card_message_id")
        if not isinstance(action_id, str) or not action_id or len(action_id) > 64:
            raise BadFrame("bad_frame")
        if card_id is not None and not isinstance(card_id, str):
            raise BadFrame("bad_frame")
        common["message_id"] = card_id
        return ActionClicked(action_id=action_id, value=_value(frame.get("value")),
                             card_message_id=card_id, **common)
    raise BadFrame("bad_frame")
