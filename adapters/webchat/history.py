"""Room history kept in memory by the web chat: messages with ids, threads, reactions and cards."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


def new_id(prefix: str = "m") -> str:
    # Random, not a counter: ids become event ids in core's dedup table and must stay unique
    # after the adapter process restarts and forgets its history.
    return f"{prefix}-{secrets.token_hex(6)}"


@dataclass(slots=True, kw_only=True)
class ChatMessage:
    id: str
    room: str
    thread_id: str | None  # root message id for thread replies
    author: dict[str, Any]  # {"slug", "name", "bot": bool}
    at: str  # ISO time
    text: str | None = None
    card: dict[str, Any] | None = None
    visible_to: str | None = None  # person slug for messages only one person sees
    note: dict[str, Any] | None = None  # {"code": "message_cut", "limit": 4000}
    updated: bool = False
    reactions: dict[str, dict[str, str]] = field(default_factory=dict)  # emoji -> {slug: name}

    def visible(self, slug: str) -> bool:
        return self.visible_to is None or self.visible_to == slug

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "room": self.room, "thread_id": self.thread_id, "author": self.author,
            "at": self.at, "text": self.text, "card": self.card, "visible_to": self.visible_to,
            "note": self.note, "updated": self.updated,
            "reactions": [{"emoji": e, "people": list(who.values()), "slugs": list(who)}
                          for e, who in self.reactions.items() if who],
        }


class History:
    """Bounded per room: the oldest messages fall out (and their ids stop resolving)."""

    def __init__(self, *, per_room: int) -> None:
        self._per_room = per_room
        self._rooms: dict[str, OrderedDict[str, ChatMessage]] = {}
        self._by_id: dict[str, ChatMessage] = {}

    def add(self, message: ChatMessage) -> None:
        log = self._rooms.setdefault(message.room, OrderedDict())
        log[message.id] = message
        self._by_id[message.id] = message
        while len(log) > self._per_room:
            _, old = log.popitem(last=False)
            self._by_id.pop(old.id, None)

    def remove(self, message_id: str) -> None:
        message = self._by_id.pop(message_id, None)
        if message is not None:
            self._rooms.get(message.room, OrderedDict()).pop(message_id, None)

    def get(self, message_id: str | None, *, room: str | None = None) -> ChatMessage | None:
        message = self._by_id.get(message_id) if message_id else None
        if message is None or (room is not None and message.room != room):
            return None
        return message

    def root_of(self, message_id: str | None) -> str | None:
        """The thread a reply under `message_id` belongs to (replies to a reply join its thread)."""
        message = self.get(message_id)
        if message is None:
            return None
        return message.thread_id or message.id

    def room(self, room: str, *, viewer: str) -> list[dict[str, Any]]:
        return [m.to_json() for m in self._rooms.get(room, OrderedDict()).values() if m.visible(viewer)]

    def toggle_reaction(self, message: ChatMessage, emoji: str, *, slug: str, name: str) -> bool:
        """Add the person's reaction, or take it back when already there. True when added."""
        who = message.reactions.setdefault(emoji, {})
        if slug in who:
            del who[slug]
            if not who:
                del message.reactions[emoji]
            return False
        who[slug] = name
        return True

    def has_reaction(self, message: ChatMessage, emoji: str, slug: str) -> bool:
        return slug in message.reactions.get(emoji, {})
