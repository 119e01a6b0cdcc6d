"""What a handler works with: the open transaction, the clock, desks, knowledge, and what to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from core.clock import Clock
from core.db import deferred
from core.desks import DeskBook
from core.outbox import enqueue
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
    # objects with on_ticket_change(ctx, ticket, what), and optionally before_open(ctx, desk, row)
    # to fill in columns of a ticket about to be inserted
    hooks: list = field(default_factory=list)
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
    _last_json: tuple[Reply, str] | None = field(default=None, init=False, repr=False)

    @property
    def desks(self) -> DeskBook:
        return self.services.desks

    @property
    def settings(self) -> CoreSettings:
        return self.services.settings

    def send(self, out: Outgoing) -> None:
        # one card sent to two places is serialised once
        last = self._last_json
        reply_json = last[1] if last is not None and last[0] is out.reply else out.reply.to_json()
        self._last_json = (out.reply, reply_json)
        enqueue(self.session, out, self.now, reply_json)
        self.sent.append(out)

    def checkpoint(self) -> tuple[int, deferred.Mark | None]:
        """How much has been sent and written so far; `rewind` forgets what came after it."""
        return len(self.sent), deferred.mark(self.session)

    def rewind(self, mark: tuple[int, deferred.Mark | None]) -> None:
        del self.sent[mark[0]:]
        deferred.rewind(self.session, mark[1])
