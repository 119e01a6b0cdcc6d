"""Drive the core like an adapter would: build events, store them, process them, read the outbox."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from core.clock import FakeClock
from core.context import Services
from core.db.models import OutboxMessage, Ticket, TimelineEntry
from core.db.uow import UnitOfWork
from core.events import ActionClicked, CommandInvoked, ConversationRef, Inbound, MessageReceived, UserRef
from core.intake import process_batch, store
from core.ports import KnowledgePort, NoKnowledge
from core.replies import Button, Outgoing
from core.settings import CoreSettings, Desk, Roles

PLATFORM = "webchat"


def default_settings(**desk_overrides: object) -> CoreSettings:
    desk = Desk(
        name="IT", prefix="IT", default_lang="en", intake_chats=["webchat:it-help"], team_chat="webchat:it-team",
        roles=Roles(technicians=["webchat:wang"], leads=["webchat:lead"], admins=["webchat:admin"]),
        knowledge_mode="off",
    )
    return CoreSettings(desks=[desk.model_copy(update=desk_overrides)])


class DeskHarness:
    def __init__(self, engine: Engine, settings: CoreSettings | None = None, *, clock: FakeClock | None = None,
                 knowledge: KnowledgePort | None = None) -> None:
        self.uow = UnitOfWork(engine)
        self.clock = clock or FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
        self.services = Services(settings=settings or default_settings(), clock=self.clock,
                                 knowledge=knowledge or NoKnowledge())
        self._ids = itertools.count(1)

    def user(self, name: str, display: str | None = None) -> UserRef:
        return UserRef(platform=PLATFORM, user_id=name, display_name=display or name.title())

    def conv(self, chat: str = "it-help", *, direct: bool = False, thread: str | None = None) -> ConversationRef:
        return ConversationRef(platform=PLATFORM, chat_id=chat, thread_id=thread, is_direct=direct)

    def submit(self, event: Inbound) -> list[Outgoing]:
        store(self.uow, event)
        out: list[Outgoing] = []
        for processed in process_batch(self.uow, self.services):
            out.extend(processed.sent)
        return out

    def _base(self, user: UserRef, conv: ConversationRef, message_id: str | None = None) -> dict:
        n = next(self._ids)
        return dict(platform=PLATFORM, event_id=f"ev{n}", received_at=self.clock.now(), user=user,
                    conversation=conv, message_id=message_id or f"m{n}")

    def say(self, user: UserRef, text: str, *, chat: str = "it-help", direct: bool = False, mention: bool = True,
            thread: str | None = None, message_id: str | None = None) -> list[Outgoing]:
        conv = self.conv(f"dm:{user.user_id}" if direct else chat, direct=direct, thread=thread)
        return self.submit(MessageReceived(**self._base(user, conv, message_id), text=text, mentions_bot=mention,
                                           is_thread_reply=thread is not None))

    def command(self, user: UserRef, line: str, *, chat: str = "it-team") -> list[Outgoing]:
        return self.submit(CommandInvoked(**self._base(user, self.conv(chat)), name="ticket",
                                          args=tuple(line.split())))

    def click(self, user: UserRef, button: Button, *, chat: str = "it-team") -> list[Outgoing]:
        return self.submit(ActionClicked(**self._base(user, self.conv(chat)), action_id=button.action_id,
                                         value=dict(button.value)))

    def ticket(self, key: str) -> Ticket:
        with self.uow.begin() as s:
            return s.exec(select(Ticket).where(Ticket.key == key)).one()

    def timeline(self, key: str) -> list[str]:
        with self.uow.begin() as s:
            tk = s.exec(select(Ticket).where(Ticket.key == key)).one()
            return [e.kind for e in s.exec(select(TimelineEntry).where(TimelineEntry.ticket_id == tk.id)
                                           .order_by(TimelineEntry.id)).all()]

    def outbox(self) -> list[OutboxMessage]:
        with self.uow.begin() as s:
            return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def texts(out: list[Outgoing]) -> list[str]:
    return [o.reply.as_text() for o in out]


def find_button(out: list[Outgoing], action_id: str, **value: str) -> Button:
    for o in reversed(out):
        for b in o.reply.buttons:
            if b.action_id == action_id and all(b.value.get(k) == v for k, v in value.items()):
                return b
    raise AssertionError(f"no button {action_id} {value} in {texts(out)}")
