"""SLA alerts in chat: who hears of a warning, a breach or an escalation, and what they read."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from core.cards import local, ticket_buttons
from core.context import Context
from core.db.models import RoleGrant, Ticket
from core.desks import parse_chat, roles_of
from core.events import ConversationRef
from core.i18n import t
from core.records import timeline
from core.replies import Outgoing, Reply
from core.settings import Desk
from core.sla.display import calendar_for
from core.sla.explain import span
from core.sla.policy import SlaClock, SlaTimer
from core.tickets import dm_to, refresh_cards, team_conversation

log = logging.getLogger("deskbot.sla.alerts")


def parse_kind(kind: str) -> tuple[str, str, int]:
    """"resolve_escalate_2" -> ("resolve", "escalate", 2); "respond_warn" -> ("respond", "warn", 0)."""
    timer, _, rest = kind.partition("_")
    stage, _, level = rest.partition("_")
    return timer, stage, int(level) if level else 0


def send(ctx: Context, ticket: Ticket, desk: Desk, clock: SlaClock, kind: str, seen: set[str]) -> int:
    """Queue the alert `kind` for its recipients; `seen` holds conversations already told in this round.

    Warnings and breaches go to the assignee (or the team chat when nobody has the ticket); an
    escalation level goes to whom the policy names. Everything is written in the desk's language.
    Returns the number of messages queued.
    """
    name, stage, level = parse_kind(kind)
    timer = clock.respond if name == "respond" else clock.resolve
    lang = desk.default_lang
    title, body = _text(ctx.now, ticket, desk, timer, stage, level, lang)
    if stage == "escalate":
        notify = desk.sla.escalations[level - 1].notify if level <= len(desk.sla.escalations) else []
        recipients = _escalation_targets(ctx, ticket, desk, notify)
        timeline(ctx.session, ticket, ctx.now, "sla", "tl.sla_escalate", level=level,
                 target=f"@sla.target.{name}", public=False)
    else:
        recipients = _owner(ctx, ticket, desk)
        if stage == "breach":
            timeline(ctx.session, ticket, ctx.now, "sla", "tl.sla_breach", target=f"@sla.target.{name}", public=False)
    queued = 0
    reply = Reply(fallback_text=f"{title}\n{body}", title=title, body_md=body, lang=lang, status=ticket.status,
                  priority=ticket.priority, buttons=ticket_buttons(ticket, lang))
    for conv in recipients:
        if conv.key in seen:
            continue
        seen.add(conv.key)
        ctx.send(Outgoing(to=conv, reply=reply, ticket_id=ticket.id))
        queued += 1
    if stage == "breach":
        # redrawn with time left counted from now: the card now reads "overdue"
        refresh_cards(ctx, ticket, now=ctx.now)
    log.info("sla alert", extra={"ticket": ticket.key, "kind": kind, "cycle": ticket.sla_cycle, "messages": queued})
    return queued


def _text(now: datetime, ticket: Ticket, desk: Desk, timer: SlaTimer, stage: str, level: int,
          lang: str) -> tuple[str, str]:
    calendar = calendar_for(desk)
    kw: dict[str, object] = dict(key=ticket.key, priority=ticket.priority, target=t(f"sla.target.{timer.name}", lang),
                                 due=local(timer.due_at, desk), subject=ticket.subject)
    if stage == "warn":
        left = calendar.elapsed(now, timer.due_at, business=timer.business)
        return (t("sla.alert.warn_title", lang, key=ticket.key),
                t("sla.alert.warn", lang, left=span(left, lang, days=not timer.business), **kw))
    if stage == "breach":
        return t("sla.alert.breach_title", lang, key=ticket.key), t("sla.alert.breach", lang, **kw)
    over = calendar.elapsed(timer.due_at, now, business=timer.business)
    who = ticket.assignee_name or ticket.assignee or t("report.sla_unassigned", lang)
    return (t("sla.alert.escalate_title", lang, key=ticket.key, level=level),
            t("sla.alert.escalate", lang, over=span(over, lang, days=not timer.business), who=who, **kw))


def _owner(ctx: Context, ticket: Ticket, desk: Desk) -> list[ConversationRef]:
    if ticket.assignee:
        return [dm_to(ticket.assignee)]
    team = team_conversation(ctx, ticket)
    if team is not None:
        return [team]
    return [dm_to(lead) for lead in leads(ctx.session, desk)]


def _escalation_targets(ctx: Context, ticket: Ticket, desk: Desk, notify: list[str]) -> list[ConversationRef]:
    out: list[ConversationRef] = []
    for who in notify:
        if who == "assignee":
            if ticket.assignee:
                out.append(dm_to(ticket.assignee))
        elif who == "leads":
            out.extend(dm_to(lead) for lead in leads(ctx.session, desk))
        elif who == "team_chat":
            team = team_conversation(ctx, ticket)
            if team is not None:
                out.append(team)
        elif who.startswith("chat:"):
            out.append(parse_chat(who[len("chat:"):]))
        elif ":" in who:
            out.append(dm_to(who))
        else:
            log.warning("sla escalation names %r, which is neither assignee, leads, team_chat nor platform:user_id",
                        who, extra={"desk": desk.name})
    return out


def leads(session: Session, desk: Desk) -> list[str]:
    """The desk's leads from config and role grants (revocations respected)."""
    people = set(desk.roles.leads)
    people |= set(session.exec(select(RoleGrant.identity).where(
        RoleGrant.desk == desk.name, RoleGrant.role == "lead", RoleGrant.granted)).all())  # type: ignore[arg-type]
    return sorted(p for p in people if "lead" in roles_of(session, desk, p))


