"""Console lines → core events: text, /commands, and numbers that press a button of the last card."""

from __future__ import annotations

from datetime import datetime

from core.events import ActionClicked, CommandInvoked, ConversationRef, Inbound, MessageReceived, UserRef
from core.replies import Button

PLATFORM = "cli"


def parse_line(line: str, *, user: UserRef, conversation: ConversationRef, event_id: str, now: datetime,
               buttons: list[Button], lang: str | None) -> Inbound | None:
    text = line.strip()
    base = dict(platform=PLATFORM, event_id=event_id, received_at=now, user=user, conversation=conversation,
                message_id=event_id, lang_hint=lang)
    if text.isdigit() and buttons and 1 <= int(text) <= len(buttons):
        button = buttons[int(text) - 1]
        return ActionClicked(**base, action_id=button.action_id, value=dict(button.value))
    if text.startswith("/"):
        name, *args = text[1:].split()
        if name:
            return CommandInvoked(**base, name=name, args=tuple(args))
    return MessageReceived(**base, text=line, mentions_bot=True)
