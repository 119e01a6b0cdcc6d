"""`/ticket sla IT-12`: the ticket's SLA clock in words (targets, calendar, paused time, time left)."""

from __future__ import annotations

from core.context import Context
from core.db.models import Ticket
from core.i18n import t
from core.sla import pauses
from core.sla.display import calendar_for
from core.sla.engine import clock_for
from core.sla.explain import explain_clock


def explain(ctx: Context, ticket: Ticket, lang: str) -> str:
    desk = ctx.desks.by_name(ticket.desk)
    pause_list = pauses.intervals(ctx.session, ticket.id or 0, ticket.sla_cycle) if pauses.has_pauses(ticket) else []
    clock = clock_for(ticket, desk, ctx.now, pause_list)
    if clock is None:
        return t("sla.no_target", lang, key=ticket.key, priority=ticket.priority)
    return explain_clock(key=ticket.key, clock=clock, calendar=calendar_for(desk), lang=lang,
                         restarted_at=ticket.sla_started_at, cycle=ticket.sla_cycle)
