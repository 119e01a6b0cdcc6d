"""Replies: what core asks adapters to show. Every Reply also renders as plain text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.events import ConversationRef, UserRef
from core.jsontext import dumps, loads


def clip(text: str, limit: int) -> str:
    """At most `limit` characters; a cut text ends with "…" (chat platforms cap field and message sizes)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """A card button. `action_id` is a stable dotted name; `value` carries ids only."""

    label: str
    action_id: str
    value: Mapping[str, str] = field(default_factory=dict)
    style: str = "default"  # "default" | "primary" | "danger"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineItem:
    at: str  # already formatted for the reader (local time)
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A message or card.

    `card_key` names a living card (e.g. "ticket:42"): the first delivery to a conversation
    posts it, later deliveries with the same key update that message in place where the
    platform allows. `status` / `priority` let adapters colour a card header.
    `extras` holds platform-only options, namespaced ("feishu:header_color").
    """

    fallback_text: str
    title: str | None = None
    body_md: str | None = None
    fields: tuple[Field, ...] = ()
    timeline: tuple[TimelineItem, ...] = ()
    buttons: tuple[Button, ...] = ()
    card_key: str | None = None
    only_visible_to: UserRef | None = None
    lang: str = "en"
    status: str | None = None
    priority: str | None = None
    mention: UserRef | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_card(self) -> bool:
        return bool(self.title or self.fields or self.timeline or self.buttons)

    def as_text(self) -> str:
        """Plain-text degradation: title, body, fields, timeline, numbered choices."""
        lines: list[str] = []
        if self.title:
            lines.append(self.title)
        if self.body_md:
            lines.append(self.body_md)
        lines.extend(f"{f.label}: {f.value}" for f in self.fields)
        lines.extend(f"  {t.at}  {t.text}" for t in self.timeline)
        lines.extend(f"[{i}] {b.label}" for i, b in enumerate(self.buttons, 1))
        return "\n".join(lines) if lines else self.fallback_text

    def to_json(self) -> str:
        def user(u: UserRef | None) -> dict[str, Any] | None:
            return None if u is None else u.to_json()

        # written by hand: dataclasses.asdict deep-copies and is slow on the intake hot path
        return dumps({
            "fallback_text": self.fallback_text, "title": self.title, "body_md": self.body_md,
            "fields": [{"label": f.label, "value": f.value} for f in self.fields],
            "timeline": [{"at": i.at, "text": i.text} for i in self.timeline],
            "buttons": [{"label": b.label, "action_id": b.action_id, "value": dict(b.value), "style": b.style}
                        for b in self.buttons],
            "card_key": self.card_key, "only_visible_to": user(self.only_visible_to), "lang": self.lang,
            "status": self.status, "priority": self.priority, "mention": user(self.mention),
            "extras": dict(self.extras),
        })

    @classmethod
    def from_json(cls, text: str) -> Reply:
        d = loads(text)
        d["fields"] = tuple(Field(**f) for f in d.get("fields", ()))
        d["timeline"] = tuple(TimelineItem(**t) for t in d.get("timeline", ()))
        d["buttons"] = tuple(Button(**b) for b in d.get("buttons", ()))
        for key in ("only_visible_to", "mention"):
            if d.get(key):
                d[key] = UserRef(**d[key])
        return cls(**d)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One message core wants sent: written to the outbox in the same transaction."""

    to: ConversationRef
    reply: Reply
    reply_to_message_id: str | None = None
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What an adapter reports after a send: the platform message id of the posted card."""

    message_id: str | None
    updated_in_place: bool = False


class DeliveryError(Exception):
    """Raised by adapters. `retryable` tells rate limits / timeouts from permanent failures."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
