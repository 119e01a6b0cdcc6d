"""Waiting on the requester: the pause intervals of a ticket's SLA cycle, opened and closed with its status."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from core.db.models import Ticket, TicketPause
from core.sla.policy import Pause

_INSERT = TicketPause.__table__.insert()  # type: ignore[attr-defined]


def sync(session: Session, ticket: Ticket, now: datetime) -> None:
    """Open a pause when the ticket starts waiting on the requester, close it when it stops.

    Pauses are recorded whatever the desk's `pause_when_waiting` says (the policy decides whether
    they count), so turning the setting on later treats past waiting correctly.
    """
    waiting = ticket.status == "waiting"
    if waiting and ticket.paused_since is None:
        session.connection().execute(_INSERT, dict(ticket_id=ticket.id, cycle=ticket.sla_cycle, started_at=now))
        ticket.paused_since = now
    elif not waiting and ticket.paused_since is not None:
        session.execute(
            update(TicketPause).execution_options(synchronize_session=False)
            .where(TicketPause.ticket_id == ticket.id,  # type: ignore[arg-type]
                   TicketPause.ended_at.is_(None))  # type: ignore[union-attr]
            .values(ended_at=now)
        )
        ticket.paused_seconds = (ticket.paused_seconds or 0.0) + max((now - ticket.paused_since).total_seconds(), 0.0)
        ticket.paused_since = None


def has_pauses(row: Any) -> bool:
    """Whether the row's current cycle may hold pauses (saves a query for the many tickets that never waited)."""
    return row.paused_since is not None or bool(row.paused_seconds)


def intervals(session: Session, ticket_id: int, cycle: int) -> list[Pause]:
    return intervals_many(session, [(ticket_id, cycle)]).get(ticket_id, [])


def intervals_many(session: Session, tickets: Iterable[tuple[int, int]]) -> dict[int, list[Pause]]:
    """Pause intervals of several tickets' current cycles, in one query: {ticket id: [(start, end|None)]}."""
    cycles = dict(tickets)
    out: dict[int, list[Pause]] = defaultdict(list)
    if not cycles:
        return out
    rows = session.connection().execute(
        select(TicketPause.ticket_id, TicketPause.cycle, TicketPause.started_at,  # type: ignore[call-overload]
               TicketPause.ended_at)
        .where(TicketPause.ticket_id.in_(list(cycles)))  # type: ignore[attr-defined]
        .order_by(TicketPause.started_at)
    ).all()
    for ticket_id, cycle, started_at, ended_at in rows:
        if cycles.get(ticket_id) == cycle:
            out[ticket_id].append((started_at, ended_at))
    return out
