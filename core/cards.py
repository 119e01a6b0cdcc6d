"""Cards: the ticket card, the satisfaction survey and ticket lists, built as Replies from the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam
from sqlmodel import Session, select

from core.db import deferred, fast
from core.db.models import Ticket, TimelineEntry
from core.i18n import status_name, t
from core.jsontext import loads
from core.records import RecentEntry, pending_timeline, timeline_text
from core.replies import Button, Field, Reply, TimelineItem, clip
from core.settings import Desk
from core.sla.display import SlaNote, card_note, note_text

TIMELINE_ON_CARD = 8


def local(dt: datetime | None, desk: Desk, fmt: str = "%m-%d %H:%M") -> str:
    return "—" if dt is None else _local(dt, desk.calendar.timezone, fmt)


@lru_cache(maxsize=1024)
def _local(dt: datetime, timezone: str, fmt: str) -> str:
    return dt.astimezone(ZoneInfo(timezone)).strftime(fmt)  # one event's entries share their moment


def ticket_buttons(ticket: Ticket, lang: str, *, requester: bool = False) -> tuple[Button, ...]:
    """The card's buttons: the technicians' actions, or (`requester`, on a card only the requester sees)
    theirs: withdraw the request while it is open, reopen it once resolved."""
    ids = {"ticket": str(ticket.id)}
    if requester:
        if ticket.status in ("resolved", "closed"):
            return (Button(label=t("btn.reopen", lang), action_id="ticket.reopen", value=ids),)
        return (Button(label=t("btn.cancel", lang), action_id="ticket.cancel", value=ids, style="danger"),)
    if ticket.status in ("new", "assigned"):
        return (Button(label=t("btn.claim", lang), action_id="ticket.claim", value=ids, style="primary"),
                Button(label=t("btn.resolve", lang), action_id="ticket.resolve", value=ids))
    if ticket.status == "in_progress":
        return (Button(label=t("btn.waiting", lang), action_id="ticket.waiting", value=ids),
                Button(label=t("btn.resolve", lang), action_id="ticket.resolve", value=ids, style="primary"))
    if ticket.status == "waiting":
        return (Button(label=t("btn.resolve", lang), action_id="ticket.resolve", value=ids, style="primary"),)
    return (Button(label=t("btn.reopen", lang), action_id="ticket.reopen", value=ids, style="danger"),
            Button(label=t("btn.kb_capture", lang), action_id="kb.capture", value=ids))


# timeline rows are only ever written with Core inserts (core.records), so a connection query sees them all
_RECENT = (select(TimelineEntry.at, TimelineEntry.kind, TimelineEntry.text, TimelineEntry.data)  # type: ignore[call-overload]
           .where(TimelineEntry.ticket_id == bindparam("b_ticket"))
           .order_by(TimelineEntry.id.desc()).limit(TIMELINE_ON_CARD))  # type: ignore[union-attr]


def recent_timeline(session: Session, ticket: Ticket) -> list[RecentEntry]:
    """The newest entries first, at most TIMELINE_ON_CARD (those not written yet included)."""
    entries = pending_timeline(session, ticket)[::-1][:TIMELINE_ON_CARD]
    if len(entries) == TIMELINE_ON_CARD or deferred.is_fresh(session, ticket.id):
        return entries  # nothing older can make the card (a fresh ticket has no written entries)
    written = fast.execute(session, _RECENT, {"b_ticket": ticket.id}).all()
    entries.extend(map(RecentEntry._make, written))  # rows of the four columns, in that order
    return entries[:TIMELINE_ON_CARD]


def ticket_card(session: Session, ticket: Ticket, desk: Desk, lang: str,
                entries: Sequence[TimelineEntry | RecentEntry] | None = None, *, now: datetime | None = None,
                requester: bool = False) -> Reply:
    """The card for `ticket`; pass `entries` (newest first) when rendering several cards at once.

    `now` is when the card is drawn (SLA time left counts from it); by default the ticket's last change.
    `requester`: the card goes where only the requester sees it, with their buttons."""
    return ticket_cards(session, ticket, desk, [(lang, requester)], entries, now=now)[0]


def ticket_cards(session: Session, ticket: Ticket, desk: Desk, views: Sequence[tuple[str, bool]],
                 entries: Sequence[TimelineEntry | RecentEntry] | None = None, *,
                 now: datetime | None = None) -> list[Reply]:
    """The card for each (language, requester only) view: the ticket, its timeline and its SLA clock are
    read once for all."""
    if entries is None:
        entries = recent_timeline(session, ticket)
    status, priority, subject = ticket.status, ticket.priority, ticket.subject
    closed = status in ("resolved", "closed")
    drawn_at = now or ticket.updated_at
    respond = resolve = None
    if ticket.respond_by and ticket.first_response_at is None and not closed:
        respond = local(ticket.respond_by, desk), card_note(ticket, desk, "respond", drawn_at)
    if ticket.resolve_by and not closed:
        resolve = local(ticket.resolve_by, desk), card_note(ticket, desk, "resolve", drawn_at)
    requester = ticket.requester_name or ticket.requester
    assignee = ticket.assignee_name or ticket.assignee
    category, group, rating = ticket.category, ticket.support_group, ticket.rating
    titles = [s["title"] for s in loads(ticket.suggestions)] if ticket.suggestions else []
    resolution = ticket.resolution if ticket.resolution and closed else None
    body = clip(ticket.description, 600) if ticket.description and ticket.description != subject else None
    oldest_first = entries[::-1]
    ats = [local(e.at, desk) for e in oldest_first]
    title = f"{ticket.key} · {subject}"
    card_key = f"ticket:{ticket.id}"
    cards = []
    for lang, requester_only in views:
        status_text = status_name(status, lang)
        fields = [
            Field(label=t("field.status", lang), value=status_text),
            Field(label=t("field.priority", lang), value=priority),
            Field(label=t("field.requester", lang), value=requester),
            Field(label=t("field.assignee", lang), value=assignee or t("nobody", lang)),
        ]
        if category:
            fields.append(Field(label=t("field.category", lang), value=category))
        if group:
            fields.append(Field(label=t("field.group", lang), value=group))
        if respond:
            fields.append(Field(label=t("field.respond_by", lang), value=_with_note(*respond, lang)))
        if resolve:
            fields.append(Field(label=t("field.resolve_by", lang), value=_with_note(*resolve, lang)))
        if rating:
            fields.append(Field(label=t("field.rating", lang), value="★" * rating + f" {rating}/5"))
        if titles:
            fields.append(Field(label=t("field.suggested", lang), value="; ".join(titles)))
        text = clip(f"{t('field.resolution', lang)}: {resolution}", 600) if resolution else body
        cards.append(Reply(
            fallback_text=f"{title} — {status_text}",
            title=title,
            body_md=text,
            fields=tuple(fields),
            timeline=tuple(TimelineItem(at=at, text=timeline_text(e, lang)) for at, e in zip(ats, oldest_first,
                                                                                           strict=True)),
            buttons=ticket_buttons(ticket, lang, requester=requester_only),
            card_key=card_key,
            lang=lang,
            status=status,
            priority=priority,
        ))
    return cards


def survey_card(ticket: Ticket, lang: str, resolver: str, *, answered: str | None = None) -> Reply:
    ids = {"ticket": str(ticket.id)}
    buttons: tuple[Button, ...] = ()
    if answered is None:
        buttons = (
            Button(label=t("btn.fixed", lang), action_id="survey.fixed", value=ids, style="primary"),
            Button(label=t("btn.not_fixed", lang), action_id="survey.reopen", value=ids, style="danger"),
            *(Button(label=str(n), action_id="survey.rate", value={**ids, "rating": str(n)}) for n in range(1, 6)),
        )
    elif answered == "closed":
        buttons = tuple(Button(label=str(n), action_id="survey.rate", value={**ids, "rating": str(n)})
                        for n in range(1, 6))
    title = t("survey.title", lang, key=ticket.key)
    if answered in (None,):
        body = t("survey.body", lang, who=resolver, key=ticket.key, text=ticket.resolution or "—")
    elif answered == "closed":
        body = t("survey.closed_rate", lang, key=ticket.key)
    elif answered == "reopened":
        body = t("ticket.reopened", lang, key=ticket.key, who=ticket.assignee_name or t("nobody", lang))
    else:
        body = t("survey.thanks", lang, key=ticket.key, rating=ticket.rating) + (
            f"\n“{clip(ticket.rating_comment, 300)}”" if ticket.rating_comment else "\n" + t("survey.remark_hint", lang))
    return Reply(fallback_text=f"{title}\n{body}", title=title, body_md=body, buttons=buttons,
                 card_key=f"survey:{ticket.id}:{ticket.reopen_count}", lang=lang, status=ticket.status,
                 priority=ticket.priority)


def ticket_list(tickets: Sequence[Ticket | Row[Any]], lang: str, title_key: str) -> Reply:
    if not tickets:
        return Reply(fallback_text=t("list.empty", lang), lang=lang)
    lines = [f"{tk.key} [{tk.priority}] {status_name(tk.status, lang)} — {tk.subject}" for tk in tickets]
    title = t(title_key, lang)
    return Reply(fallback_text=title + "\n" + "\n".join(lines), title=title, body_md="\n".join(lines), lang=lang)


def _with_note(value: str, note: SlaNote | None, lang: str) -> str:
    return f"{value} · {note_text(note, lang)}" if note else value
