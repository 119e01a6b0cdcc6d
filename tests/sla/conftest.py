"""SLA engine fixtures: a desk with the engine installed, driven by a FakeClock on the per-test database."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core import tickets
from core.clock import FakeClock
from core.context import Context
from core.db.models import OutboxMessage, SlaAlert, Ticket
from core.replies import Outgoing
from core.settings import CoreSettings, EscalationLevel
from core.sla.engine import install, sla_sweep
from tests.harness import DeskHarness, default_settings
from tests.sla.helpers import cst

ALERT_MARKS = ("⏰", "🔴", "🔺")


def sla_settings(**desk: object) -> CoreSettings:
    """The harness desk (English, team chat it-team, lead webchat:lead) with two escalation levels."""
    base = default_settings().desks[0]
    sla = base.sla.model_copy(update={"escalations": [
        EscalationLevel(after="0m", notify=["leads", "team_chat"]),
        EscalationLevel(after="1h", notify=["webchat:boss", "assignee"]),
    ]})
    return CoreSettings(desks=[base.model_copy(update={"sla": sla, **desk})])


class SlaDesk:
    """A DeskHarness with the SLA engine installed; a new one on the same database is a restart."""

    def __init__(self, engine: Engine, *, start: datetime | None = None, settings: CoreSettings | None = None,
                 clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(start or cst(2025, 11, 17, 10, 0))  # a Monday, 10:00 in Shanghai
        self.h = DeskHarness(engine, settings or sla_settings(), clock=self.clock)
        self.engine = install(self.h.services)
        self.uow = self.h.uow
        self._n = itertools.count(1)

    @property
    def desk(self):  # noqa: ANN201
        return self.h.services.desks.default

    def open(self, priority: str = "P2", who: str = "alice", subject: str = "VPN keeps dropping") -> str:
        with self.uow.begin() as session:
            ctx = Context(session=session, services=self.h.services, now=self.clock.now())
            n = next(self._n)
            ticket = tickets.open_ticket(
                ctx, desk=self.desk, requester=self.h.user(who), subject=subject, description=subject,
                conversation=self.h.conv("it-help"), message_id=f"open{n}", lang="en", priority=priority)
            return ticket.key

    def sweep(self) -> list[Outgoing]:
        with self.uow.begin() as session:
            ctx = Context(session=session, services=self.h.services, now=self.clock.now())
            sla_sweep(ctx)
            return ctx.sent

    def command(self, who: str, line: str) -> list[Outgoing]:
        return self.h.command(self.h.user(who), line)

    def ticket(self, key: str) -> Ticket:
        return self.h.ticket(key)

    def alert_rows(self, key: str | None = None) -> list[tuple[str, int]]:
        with self.uow.begin() as session:
            query = select(SlaAlert.kind, SlaAlert.cycle, SlaAlert.ticket_id).order_by(SlaAlert.id)
            rows = session.exec(query).all()
            ids = {t.id: t.key for t in session.exec(select(Ticket)).all()}
        return [(kind, cycle) for kind, cycle, tid in rows if key is None or ids[tid] == key]

    def alert_messages(self) -> list[tuple[str, str]]:
        """(conversation chat_id, title) of every alert message in the outbox, in order."""
        out = []
        for row in self.h.outbox():
            reply = json.loads(row.reply)
            if (reply.get("title") or "").startswith(ALERT_MARKS):
                out.append((json.loads(row.conversation)["chat_id"], reply["title"]))
        return out

    def outbox(self) -> list[OutboxMessage]:
        return self.h.outbox()


def alerts_in(out: list[Outgoing]) -> list[tuple[str, str]]:
    return [(o.to.chat_id, o.reply.title or "") for o in out if (o.reply.title or "").startswith(ALERT_MARKS)]


@pytest.fixture
def desk(engine: Engine) -> SlaDesk:
    return SlaDesk(engine)
