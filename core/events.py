"""Inbound events: what every adapter turns platform traffic into before core sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from core.jsontext import dumps, loads


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRef:
    """A person on one platform. `identity` (platform:user_id) is how config names people."""

    platform: str
    user_id: str
    display_name: str | None = field(default=None, compare=False)

    @property
    def identity(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def to_json(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies, and this runs for every stored event and reply
        return {"platform": self.platform, "user_id": self.user_id, "display_name": self.display_name}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRef:
    """Where a message lives, enough for the bot to speak there later (stored on tickets)."""

    platform: str
    tenant: str = ""
    chat_id: str
    thread_id: str | None = None
    is_direct: bool = False

    @property
    def key(self) -> str:
        """Stable ordering key for the outbox: one conversation (thread included)."""
        return f"{self.platform}|{self.tenant}|{self.chat_id}|{self.thread_id or ''}"

    def in_thread(self, thread_id: str | None) -> ConversationRef:
        return ConversationRef(
            platform=self.platform, tenant=self.tenant, chat_id=self.chat_id,
            thread_id=thread_id, is_direct=self.is_direct,
        )

    def to_json(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies, and this runs for every outbox row
        return {"platform": self.platform, "tenant": self.tenant, "chat_id": self.chat_id,
                "thread_id": self.thread_id, "is_direct": self.is_direct}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConversationRef:
        return cls(**{name: data[name] for name in _CONVERSATION_FIELDS if name in data})


_CONVERSATION_FIELDS = tuple(f.name for f in fields(ConversationRef))  # read for every stored conversation


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """Base of every event. `event_id` is the platform's id for this delivery (dedup key).

    `message_key` is a second dedup key for platforms that deliver one message under
    several event ids (Slack: channel+ts). `raw` is kept out of comparisons and logs.
    """

    kind: ClassVar[str] = "inbound"
    platform: str
    event_id: str
    received_at: datetime
    user: UserRef
    conversation: ConversationRef
    message_id: str | None = None
    message_key: str | None = None
    lang_hint: str | None = None
    # people @mentioned in the message (not the bot), so "@name" in a command resolves to a real user
    mentions: tuple[UserRef, ...] = ()
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(Inbound):
    """A chat message. `is_thread_reply` marks a reply under another message (thread_id set)."""

    kind: ClassVar[str] = "message"
    text: str
    mentions_bot: bool = False
    is_thread_reply: bool = False
    in_intake_chat: bool = False
    quoted_text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandInvoked(Inbound):
    """A slash command such as `/ticket claim IT-12` (name without slash, args split)."""

    kind: ClassVar[str] = "command"
    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionClicked(Inbound):
    """A card button click. `value` carries ids only; state lives in the database."""

    kind: ClassVar[str] = "action"
    action_id: str
    value: Mapping[str, str] = field(default_factory=dict)
    card_message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionAdded(Inbound):
    """An emoji reaction; `target_text` is the reacted message's text when the adapter knows it."""

    kind: ClassVar[str] = "reaction"
    emoji: str
    target_message_id: str
    target_text: str | None = None
    target_user: UserRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FormSubmitted(Inbound):
    """A submitted form (Slack modal): `form_id` such as "ticket.new" and its field values."""

    kind: ClassVar[str] = "form"
    form_id: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotAdded(Inbound):
    """The bot joined a chat: answer with a short welcome."""

    kind: ClassVar[str] = "bot_added"


EVENT_TYPES: dict[str, type[Inbound]] = {
    cls.kind: cls
    for cls in (MessageReceived, CommandInvoked, ActionClicked, ReactionAdded, FormSubmitted, BotAdded)
}


def event_to_json(event: Inbound) -> str:
    """Serialise an event for durable intake (raw payload excluded)."""
    data: dict[str, Any] = {"kind": event.kind}
    for f in fields(event):
        if f.name == "raw" or (f.name == "mentions" and not event.mentions):
            continue
        value = getattr(event, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, UserRef | ConversationRef):
            value = value.to_json()
        elif isinstance(value, tuple):
            value = [v.to_json() if isinstance(v, UserRef) else v for v in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        data[f.name] = value
    return dumps(data)


def event_from_json(text: str) -> Inbound:
    data = loads(text)
    cls = EVENT_TYPES[data.pop("kind")]
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    data["user"] = UserRef(**data["user"])
    data["conversation"] = ConversationRef.from_json(data["conversation"])
    if data.get("target_user"):
        data["target_user"] = UserRef(**data["target_user"])
    if "args" in data:
        data["args"] = tuple(data["args"])
    data["mentions"] = tuple(UserRef(**m) for m in data.get("mentions", ()))
    return cls(**data)
