"""Helpers for integration tests: database snapshots, simulated delivery, a fake knowledge port and adapter."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import outbox
from core.db.models import OutboxMessage
from core.events import ConversationRef
from core.ports import Suggestion
from core.replies import DeliveryError, Outgoing, Reply, SendResult
from core.settings import Delivery
from tests.harness import DeskHarness

# tables whose rows must not change when core refuses something (the outbox gets the polite answer)
STATE_TABLES = ("tickets", "timeline", "audit_log", "thread_links", "ticket_links", "role_grants", "deflections",
                "card_messages", "ticket_counters")


def desk_config(db: object, *, webchat: bool, extra: str = "") -> str:
    """A config file for tests that run `deskbot` commands: an SQLite file, one IT desk with suggestions
    off, no starter articles; `extra` adds sections."""
    return f"""
[database]
url = "sqlite:///{db}"
[knowledge]
starter = false
[webchat]
enabled = {str(webchat).lower()}
[[desks]]
name = "IT"
prefix = "IT"
default_lang = "en"
knowledge_mode = "off"
intake_chats = ["webchat:it-help"]
team_chat = "webchat:it-team"
{extra}"""


def db_state(engine: Engine, tables: Sequence[str] = STATE_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, ordered, for before/after comparisons."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in tables:
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            state[table] = sorted((tuple(r) for r in rows), key=repr)
    return state


def count(engine: Engine, table: str, where: str = "1=1", **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar() or 0)


def private_texts(out: Sequence[Outgoing]) -> list[str]:
    return [o.reply.as_text() for o in out if o.reply.only_visible_to is not None]


def deliver_all(h: DeskHarness, *, owner: str = "test-deliverer") -> list[tuple[outbox.Claimed, str]]:
    """Send every due outbox row as a perfect platform would: each gets a message id, cards update in place."""
    ids = getattr(h, "_message_ids", None)
    if ids is None:
        ids = itertools.count(1)
        h._message_ids = ids  # type: ignore[attr-defined]
    delivered: list[tuple[outbox.Claimed, str]] = []
    while True:
        with h.uow.begin() as s:
            rows = outbox.due_rows(s, h.clock.now(), 100, {"webchat", "cli", "slack"})
            batch = [c for c in (outbox.claim(s, r, owner, h.clock.now(), 60) for r in rows) if c is not None]
        if not batch:
            return delivered
        with h.uow.begin() as s:
            for item in batch:
                message_id = item.update_message_id or f"out{next(ids)}"
                outbox.mark_sent(s, item, owner, message_id, h.clock.now())
                delivered.append((item, message_id))


def card_message_id(h: DeskHarness, card_key: str, conversation: ConversationRef) -> str | None:
    with h.uow.engine.connect() as conn:
        return conn.execute(text("SELECT message_id FROM card_messages WHERE card_key = :k AND conversation_key = :c"),
                            {"k": card_key, "c": conversation.key}).scalar()


def outbox_rows(h: DeskHarness, **where: Any) -> list[OutboxMessage]:
    return [r for r in h.outbox() if all(getattr(r, k) == v for k, v in where.items())]


class FakeKnowledge:
    """A KnowledgePort that suggests the given articles for any text containing one of its words."""

    def __init__(self, suggestions: Sequence[Suggestion], words: Sequence[str] = ("vpn",)) -> None:
        self.suggestions = list(suggestions)
        self.words = [w.lower() for w in words]
        self.asked: list[str] = []

    def suggest(self, text: str, *, limit: int = 3) -> list[Suggestion]:
        self.asked.append(text)
        return self.suggestions[:limit] if any(w in text.lower() for w in self.words) else []


@dataclass
class Sent:
    to: ConversationRef
    reply: Reply
    update_message_id: str | None
    reply_to_message_id: str | None
    message_id: str


@dataclass
class FakeAdapter:
    """An Adapter that records sends; `failures` is a queue of DeliveryErrors raised by the next sends."""

    platform: ClassVar[str] = "webchat"
    send_rate: ClassVar[tuple[int, float]] = (1000, 1.0)
    sent: list[Sent] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)
    fail_only: str | None = None  # when set, failures apply only to sends to this chat id
    attempts: int = 0
    started: bool = False
    stopped: bool = False
    sink: Any = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def routes(self) -> list[Any]:
        return []

    async def start(self, sink: Any) -> None:
        self.started, self.sink = True, sink

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None) -> SendResult:
        self.attempts += 1
        self.changed.set()
        if self.failures and (self.fail_only is None or to.chat_id == self.fail_only):
            raise self.failures.pop(0)
        message_id = update_message_id or f"msg{next(self._ids)}"
        self.sent.append(Sent(to, reply, update_message_id, reply_to_message_id, message_id))
        return SendResult(message_id=message_id, updated_in_place=update_message_id is not None)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait (on send events, not sleeps) until predicate(self) holds."""
        async def loop() -> None:
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), timeout)


def quick_delivery(**kw: Any) -> Delivery:
    return Delivery(**{"max_attempts": 3, "base_backoff_seconds": 0.01, "max_backoff_seconds": 0.05, **kw})


