"""Prometheus text metrics: process counters plus gauges read from the database at scrape time."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from core.db.models import IntakeEvent, OutboxMessage, Ticket
from core.db.uow import UnitOfWork


class Metrics:
    def __init__(self) -> None:
        self.counters: Counter[tuple[str, str]] = Counter()

    def inc(self, name: str, platform: str, n: int = 1) -> None:
        self.counters[(name, platform)] += n

    def render(self, uow: UnitOfWork) -> str:
        lines: list[str] = []
        helps = {
            "events_received": "Inbound events submitted by adapters",
            "events_duplicate": "Inbound events dropped as duplicates",
            "events_processed": "Inbound events processed by core",
            "events_failed": "Inbound events parked after repeated failures",
            "outbox_sent": "Outbox messages delivered",
            "outbox_failed": "Outbox delivery attempts that failed",
        }
        for name, text in helps.items():
            lines += [f"# HELP deskbot_{name}_total {text}", f"# TYPE deskbot_{name}_total counter"]
            for (metric, platform), value in sorted(self.counters.items()):
                if metric == name:
                    lines.append(f'deskbot_{name}_total{{platform="{platform}"}} {value}')
        with uow.begin() as s:
            outbox = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
            tickets = s.execute(select(Ticket.desk, Ticket.status, func.count())
                                .group_by(Ticket.desk, Ticket.status)).all()
            intake = dict(s.execute(select(IntakeEvent.status, func.count()).group_by(IntakeEvent.status)).all())
        lines += ["# HELP deskbot_outbox_messages Outbox messages by status", "# TYPE deskbot_outbox_messages gauge"]
        for status in ("pending", "sending", "sent", "parked", "superseded"):
            lines.append(f'deskbot_outbox_messages{{status="{status}"}} {outbox.get(status, 0)}')
        lines += ["# HELP deskbot_intake_events Stored inbound events by status",
                  "# TYPE deskbot_intake_events gauge"]
        for status in ("pending", "done", "failed"):
            lines.append(f'deskbot_intake_events{{status="{status}"}} {intake.get(status, 0)}')
        lines += ["# HELP deskbot_tickets Tickets by desk and status", "# TYPE deskbot_tickets gauge"]
        for desk, status, count in tickets:
            lines.append(f'deskbot_tickets{{desk="{desk}",status="{status}"}} {count}')
        return "\n".join(lines) + "\n"
