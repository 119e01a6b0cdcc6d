"""What a handler works with: the open transaction, the clock, desks, knowledge, and what to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from core.clock import Clock
from core.desks import DeskBook
from core.outbox import enqueue, outbox_row
from core.ports import KnowledgePort, NoKnowledge
from core.replies import Outgoing, Reply
from core.settings import CoreSettings


@dataclass
class Services:
    """Long-lived collaborators, built once by the composition root."""

    settings: CoreSettings
    clock: Clock
    knowledge: KnowledgePort = field(default_factory=NoKnowledge)
    command_names: frozenset[str] = frozenset({"ticket"})
    hooks: list = field(default_factory=list)  # objects with on_ticket_change(ctx, ticket, what)
    # called with the article row after a draft is published, so the matcher indexes it at once
    on_article_published: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.desks = DeskBook(self.settings)


@dataclass
class Context:
    """One unit of work. Everything sent is written to the outbox in this same transaction."""

    session: Session
    services: Services
    now: datetime
    sent: list[Outgoing] = field(default_factory=list)
    lang: str | None = None  # language of the person being answered, when one is known
    after_commit: list = field(default_factory=list)  # callables run once the transaction committed
    # when a list: outbox rows are collected here and the caller writes them (outbox.enqueue_rows) before
    # its transaction commits; the intake runner writes a whole batch in one statement this way
    outbox_rows: list | None = None
    _last_json: tuple[Reply, str] | None = field(default=None, init=False, repr=False)

    @property
    def desks(self) -> DeskBook:
        return self.services.desks

    @property
    def settings(self) -> CoreSettings:
        return self.services.settings

    def send(self, out: Outgoing) -> None:
        if self.outbox_rows is None:
            enqueue(self.session, out, self.now)
        else:
            # one card sent to two places is serialised once
            last = self._last_json
            reply_json = last[1] if last is not None and last[0] is out.reply else out.reply.to_json()
            self._last_json = (out.reply, reply_json)
            self.outbox_rows.append(outbox_row(out, self.now, reply_json))
        self.sent.append(out)

    def checkpoint(self) -> tuple[int, int]:
        """How much has been sent so far; `rewind` forgets what was sent after it."""
        return len(self.sent), len(self.outbox_rows) if self.outbox_rows is not None else 0

    def rewind(self, mark: tuple[int, int]) -> None:
        del self.sent[mark[0]:]
        if self.outbox_rows is not None:
            del self.outbox_rows[mark[1]:]
