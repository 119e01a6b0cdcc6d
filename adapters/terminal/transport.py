"""Prints what core sends to the console; remembers the buttons of the last card for numbered choices."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from adapters.base import EventSink
from adapters.terminal.render import render_text
from core.events import ConversationRef
from core.replies import Button, Reply, SendResult


class TerminalAdapter:
    platform: ClassVar[str] = "cli"
    send_rate: ClassVar[tuple[int, float]] = (1000, 1.0)

    def __init__(self, write: Any = print, *, own_chat: str | None = None) -> None:
        self.write = write
        # every console session on one database shares the platform: messages queued for another
        # person's console (one that has closed, say) are printed marked with their chat, buttons not offered
        self.own_chat = own_chat
        self.buttons: list[Button] = []
        self._ids = itertools.count(1)

    def routes(self) -> list[Any]:
        return []

    async def start(self, sink: EventSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None) -> SendResult:
        text = render_text(reply, updated=update_message_id is not None)
        mine = self.own_chat is None or to.chat_id == self.own_chat
        self.write(text if mine else f"[→ {to.chat_id}] {text}")
        if reply.buttons and mine:
            self.buttons = list(reply.buttons)
        return SendResult(message_id=update_message_id or f"cli-{next(self._ids)}",
                          updated_in_place=update_message_id is not None)
