"""Routing: rules pick a support group; inside it, least-loaded or round-robin picks an assignee."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from core.db.models import Ticket
from core.settings import Desk, SupportGroup

OPEN = ("new", "assigned", "in_progress", "waiting")


def route(desk: Desk, *, category: str | None, text: str, location: str | None) -> SupportGroup | None:
    """The first rule whose every non-empty condition matches; None when no rule applies."""
    lowered = text.lower()
    groups = {g.name: g for g in desk.groups}
    for rule in desk.routing:
        if rule.categories and (category or "") not in rule.categories:
            continue
        if rule.keywords and not any(k.lower() in lowered for k in rule.keywords):
            continue
        if rule.locations and (location or "") not in rule.locations:
            continue
        return groups.get(rule.group)
    return None


def pick_assignee(session: Session, desk: Desk, group: SupportGroup) -> tuple[str | None, str]:
    """Choose a member by the desk's strategy. Returns (identity or None, strategy used)."""
    members = list(group.members)
    if not members or desk.assignment == "none":
        return None, desk.assignment
    if desk.assignment == "least_loaded":
        rows = session.exec(
            select(Ticket.assignee, func.count()).where(
                Ticket.desk == desk.name, Ticket.assignee.in_(members), Ticket.status.in_(OPEN)  # type: ignore[union-attr,attr-defined]
            ).group_by(Ticket.assignee)
        ).all()
        load = {m: 0 for m in members}
        load.update({a: n for a, n in rows if a})
        return min(members, key=lambda m: (load[m], members.index(m))), "least_loaded"
    # round robin: after whoever in the group got the most recent ticket
    last = session.exec(
        select(Ticket.assignee).where(Ticket.desk == desk.name, Ticket.support_group == group.name,
                                      Ticket.assignee.in_(members))  # type: ignore[union-attr]
        .order_by(Ticket.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    if last is None:
        return members[0], "round_robin"
    return members[(members.index(last) + 1) % len(members)], "round_robin"
