"""The ticket lifecycle: open, claim, assign, comment, resolve, close, reopen, rate — with checks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, update
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select

from core.cards import recent_timeline, survey_card, ticket_cards
from core.context import Context
from core.db import deferred, fast
from core.db.models import CardMessage, ThreadLink, Ticket, TicketLink
from core.desks import Refusal, parse_chat, require, roles_of
from core.events import ConversationRef, UserRef
from core.i18n import status_name, t
from core.intents import TicketRef
from core.jsontext import dumps, loads
from core.ports import Suggestion
from core.records import (
    audit,
    autoflush,
    columns_of,
    insert_loaded,
    loaded,
    next_ticket_number,
    timeline,
    with_defaults,
)
from core.replies import Outgoing, Reply
from core.routing import pick_assignee, route
from core.settings import PRIORITIES, Desk

_THREAD_LINKS = ThreadLink.__table__  # type: ignore[attr-defined]

STATUSES = ("new", "assigned", "in_progress", "waiting", "resolved", "closed")
OPEN = ("new", "assigned", "in_progress", "waiting")
ALLOWED: dict[str, set[str]] = {
    "new": {"assigned", "in_progress", "waiting", "resolved", "closed"},
    "assigned": {"new", "in_progress", "waiting", "resolved", "closed"},
    "in_progress": {"assigned", "waiting", "resolved", "closed"},
    "waiting": {"in_progress", "resolved", "closed"},
    "resolved": {"closed", "in_progress"},
    "closed": {"in_progress"},
}


def name_of(user: UserRef) -> str:
    return user.display_name or user.user_id


def dm_to(identity: str) -> ConversationRef:
    """A direct message to a person: adapters read chat_id "@<user_id>" as "open a DM with this user"."""
    platform, _, user_id = identity.partition(":")
    return ConversationRef(platform=platform, chat_id="@" + user_id, is_direct=True)


def snapshot(ticket: Ticket) -> dict[str, object]:
    return {k: getattr(ticket, k) for k in ("status", "priority", "assignee", "support_group", "category",
                                             "rating", "resolution")}


# ---------------------------------------------------------------- lookups

def find(ctx: Context, ref: TicketRef, desk: Desk) -> Ticket:
    target = ctx.desks.by_prefix(ref.prefix) if ref.prefix else desk
    if target is None:
        raise Refusal("ticket.not_found", ref=str(ref), prefix=desk.prefix)
    ticket = ctx.session.exec(select(Ticket).where(col(Ticket.desk) == target.name, col(Ticket.number) == ref.number)).first()
    if ticket is None:
        raise Refusal("ticket.not_found", ref=f"{target.prefix}-{ref.number}", prefix=target.prefix)
    return ticket


def by_id(ctx: Context, ticket_id: str | int | None) -> Ticket | None:
    """The ticket with this id, as `Session.get` finds it (the session's own object first), read on
    the fast path otherwise."""
    try:
        number = int(ticket_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    held = ctx.session.identity_map.get(identity_key(Ticket, number))
    if held is not None:
        return held  # type: ignore[no-any-return]
    autoflush(ctx.session)
    rows = fast.execute(ctx.session, _BY_ID, {"b_id": number}).all()
    return loaded(ctx.session, Ticket, rows)[0] if rows else None


# hot lookups, built once: constructing a statement costs more than running it
_BY_ID = select(*columns_of(Ticket)).where(col(Ticket.id) == bindparam("b_id"))  # type: ignore[call-overload]
_BY_THREAD = (select(*columns_of(Ticket), col(ThreadLink.side))  # type: ignore[call-overload]
              .join(ThreadLink, col(ThreadLink.ticket_id) == col(Ticket.id))
              .where(col(ThreadLink.platform) == bindparam("b_platform"), col(ThreadLink.chat_id) == bindparam("b_chat"),
                     col(ThreadLink.thread_id) == bindparam("b_thread")).limit(1))
_CARD_MESSAGE_ID = (select(col(CardMessage.message_id))
                    .where(col(CardMessage.card_key) == bindparam("b_card"),
                           col(CardMessage.conversation_key) == bindparam("b_conversation")).limit(1))


def pending_thread_link(ctx: Context, platform: str, chat_id: str, thread_id: str) -> tuple[int, str] | None:
    """(ticket id, side) of a thread link made in this session and not written yet."""
    for row in deferred.pending(ctx.session, _THREAD_LINKS, "thread_id", thread_id):
        if row["chat_id"] == chat_id and row["platform"] == platform:
            return row["ticket_id"], row["side"]
    return None


def by_thread(ctx: Context, conversation: ConversationRef) -> tuple[Ticket, str] | None:
    if not conversation.thread_id:
        return None
    link = pending_thread_link(ctx, conversation.platform, conversation.chat_id, conversation.thread_id)
    if link is not None:
        ticket = by_id(ctx, link[0])
        return (ticket, link[1]) if ticket is not None else None
    autoflush(ctx.session)
    rows = fast.execute(ctx.session, _BY_THREAD, {"b_platform": conversation.platform, "b_chat": conversation.chat_id,
                                                  "b_thread": conversation.thread_id}).all()
    return (loaded(ctx.session, Ticket, [rows[0][:-1]])[0], rows[0][-1]) if rows else None


def desk_of(ctx: Context, ticket: Ticket) -> Desk:
    return ctx.desks.by_name(ticket.desk)


def can_see(ctx: Context, ticket: Ticket, actor: UserRef) -> None:
    if ticket.requester == actor.identity:
        return
    if "technician" not in roles_of(ctx.session, desk_of(ctx, ticket), actor.identity):
        raise Refusal("perm.not_yours", key=ticket.key)


# ---------------------------------------------------------------- outbound helpers

def source_conversation(ticket: Ticket | Row[Any]) -> ConversationRef | None:
    if not ticket.source_conversation:
        return None
    return ConversationRef.from_json(loads(ticket.source_conversation))


def team_conversation(ctx: Context, ticket: Ticket) -> ConversationRef | None:
    desk = desk_of(ctx, ticket)
    chat = desk.team_chat
    for group in desk.groups:
        if group.name == ticket.support_group and group.chat:
            chat = group.chat
    return parse_chat(chat) if chat else None


def team_thread(ctx: Context, ticket: Ticket) -> ConversationRef | None:
    """The thread under the ticket's card in the team chat, once that card has been posted."""
    team = team_conversation(ctx, ticket)
    if team is None:
        return None
    # card rows are written by delivery, never pending in this session: a plain connection query will do
    message_id = fast.execute(
        ctx.session, _CARD_MESSAGE_ID, {"b_card": f"ticket:{ticket.id}", "b_conversation": team.key}).scalar()
    return team.in_thread(message_id) if message_id is not None else team


def refresh_cards(ctx: Context, ticket: Ticket, *, now: datetime | None = None) -> None:
    """Queue the ticket card for every place it is shown; delivery updates each in place.

    `now`: draw the SLA time left from this moment rather than from the ticket's last change."""
    desk = desk_of(ctx, ticket)
    source = source_conversation(ticket)
    team = team_conversation(ctx, ticket)
    # one card per chat: when people report in the team chat itself, the card there is the team's card
    if team is not None and source is not None and (source.platform, source.chat_id) == (team.platform, team.chat_id):
        team = None
    # a direct chat with the requester shows their buttons; a group chat or the team chat the technicians'
    mine = source is not None and source.is_direct and requester_view(ctx, desk, ticket, ticket.requester)
    places = [(place, view) for place, view in ((source, (ticket.lang, mine)), (team, (desk.default_lang, False)))
              if place is not None]
    if not places:
        return
    views = list(dict.fromkeys(view for _, view in places))  # the same view draws the same card
    cards = dict(zip(views, ticket_cards(ctx.session, ticket, desk, views, recent_timeline(ctx.session, ticket),
                                         now=now), strict=True))
    for place, view in places:
        ctx.send(Outgoing(to=place, reply=cards[view], ticket_id=ticket.id))


def requester_view(ctx: Context, desk: Desk, ticket: Ticket, identity: str) -> bool:
    """Whether a card for `identity` shows the requester's buttons rather than the technicians': they
    reported the ticket and do not work the desk (a technician's own ticket keeps the staff buttons)."""
    return identity == ticket.requester and "technician" not in roles_of(ctx.session, desk, identity)


def tell_requester(ctx: Context, ticket: Ticket, text: str, *, mention: bool = False) -> None:
    source = source_conversation(ticket)
    if source is None:
        return
    platform, _, user_id = ticket.requester.partition(":")
    who = UserRef(platform=platform, user_id=user_id, display_name=ticket.requester_name) if mention else None
    ctx.send(Outgoing(to=source, reply=Reply(fallback_text=text, lang=ticket.lang, mention=who), ticket_id=ticket.id))


def tell_team(ctx: Context, ticket: Ticket, message: str, **kw: object) -> None:
    conv = team_thread(ctx, ticket)
    desk = desk_of(ctx, ticket)
    if conv is not None:
        ctx.send(Outgoing(to=conv, reply=Reply(fallback_text=t(message, desk.default_lang, **kw),
                                               lang=desk.default_lang), ticket_id=ticket.id))
    elif ticket.assignee:
        ctx.send(Outgoing(to=dm_to(ticket.assignee), reply=Reply(fallback_text=t(message, desk.default_lang, **kw),
                                                                  lang=desk.default_lang), ticket_id=ticket.id))


def _reader(ctx: Context, desk: Desk) -> str:
    """The language of the person this answer goes to (the turn's), else the desk's."""
    return ctx.lang or desk.default_lang


def _changed(ctx: Context, ticket: Ticket, what: str) -> None:
    ticket.updated_at = ctx.now
    if ticket not in ctx.session:  # flushed with the next query or at the end of the event
        ctx.session.add(ticket)
    for hook in ctx.services.hooks:
        hook.on_ticket_change(ctx, ticket, what)


def _transition(ticket: Ticket, to: str, action: str) -> None:
    if to != ticket.status and to not in ALLOWED[ticket.status]:
        raise Refusal("transition.refused", key=ticket.key, status=f"@status.{ticket.status}", action=f"@action.{action}")
    ticket.status = to


def _first_response(ctx: Context, ticket: Ticket, actor: UserRef) -> None:
    if ticket.first_response_at is None and actor.identity != ticket.requester:
        ticket.first_response_at = ctx.now


# ---------------------------------------------------------------- operations

def open_ticket(ctx: Context, *, desk: Desk, requester: UserRef, subject: str, description: str,
                conversation: ConversationRef | None, message_id: str | None, lang: str,
                category: str | None = None, priority: str | None = None, location: str | None = None,
                suggestions: Sequence[Suggestion] = (), via: str = "chat") -> Ticket:
    number = next_ticket_number(ctx.session, desk.name)
    source = None
    if conversation is not None:
        thread = None if conversation.is_direct else (conversation.thread_id or message_id)
        source = conversation.in_thread(thread)
    group = route(desk, category=category, text=f"{subject}\n{description}", location=location)
    assignee, how = pick_assignee(ctx.session, desk, group) if group is not None else (None, "")
    values = dict(
        desk=desk.name, number=number, key=f"{desk.prefix}-{number}", subject=subject[:200],
        description=description, category=category, priority=priority or desk.default_priority,
        location=location, requester=requester.identity, requester_name=name_of(requester),
        support_group=group.name if group else None, lang=lang,
        source_platform=conversation.platform if conversation else via,
        source_conversation=dumps(source.to_json()) if source else None,
        source_message_id=message_id, created_at=ctx.now, updated_at=ctx.now,
        suggestions=dumps([{"id": s.article_id, "title": s.title} for s in suggestions]) if suggestions else None,
    )
    if assignee:
        values.update(assignee=assignee, assignee_name=assignee.partition(":")[2], status="assigned")
    row = with_defaults(Ticket, values)
    for hook in ctx.services.hooks:  # e.g. the SLA deadlines, written with the INSERT instead of after it
        before_open = getattr(hook, "before_open", None)
        if before_open is not None:
            before_open(ctx, desk, row)
    ticket = insert_loaded(ctx.session, Ticket, row)
    deferred.mark_fresh(ctx.session, ticket.id or 0)
    if source is not None and source.thread_id:
        deferred.insert(ctx.session, _THREAD_LINKS, dict(
            platform=source.platform, chat_id=source.chat_id, thread_id=source.thread_id,
            ticket_id=ticket.id, side="requester"))
    lang_d = desk.default_lang
    timeline(ctx.session, ticket, ctx.now, "opened", "tl.opened_api" if via == "api" else "tl.opened",
             who=ticket.requester_name, actor=requester.identity, actor_name=ticket.requester_name)
    if group is not None:
        timeline(ctx.session, ticket, ctx.now, "routed", "tl.routed", group=group.name)
        if assignee:
            timeline(ctx.session, ticket, ctx.now, "assigned", "tl.auto_assigned", to=ticket.assignee_name,
                     how=how)
    if suggestions:
        timeline(ctx.session, ticket, ctx.now, "suggested", "tl.suggested",
                 titles="; ".join(s.title for s in suggestions), public=False)
    audit(ctx.session, ctx.now, requester.identity, "ticket.open", "ticket", ticket.key, None, snapshot(ticket))
    _changed(ctx, ticket, "opened")
    refresh_cards(ctx, ticket)
    if ticket.assignee:
        ctx.send(Outgoing(to=dm_to(ticket.assignee), ticket_id=ticket.id, reply=Reply(
            fallback_text=t("ticket.assigned_you", lang_d, who="deskbot", key=ticket.key, subject=ticket.subject),
            lang=lang_d)))
    return ticket


def claim(ctx: Context, ticket: Ticket, actor: UserRef) -> str:
    desk = desk_of(ctx, ticket)
    require(ctx.session, desk, actor.identity, "technician", "claim")
    if ticket.assignee and ticket.assignee != actor.identity and ticket.status != "new":
        raise Refusal("ticket.already_claimed", key=ticket.key, who=ticket.assignee_name or ticket.assignee)
    if ticket.status not in ("new", "assigned"):
        raise Refusal("transition.refused", key=ticket.key, action="@action.claim", status=f"@status.{ticket.status}")
    before = snapshot(ticket)
    # conditional write: of two simultaneous claims exactly one matches this WHERE
    won = ctx.session.execute(
        update(Ticket).execution_options(synchronize_session=False).where(col(Ticket.id) == ticket.id, col(Ticket.version) == ticket.version,
                             col(Ticket.status).in_(("new", "assigned")))
        .values(assignee=actor.identity, assignee_name=name_of(actor), status="in_progress",
                version=col(Ticket.version) + 1, updated_at=ctx.now)
    ).rowcount  # type: ignore[attr-defined]
    ctx.session.refresh(ticket)
    if not won:
        raise Refusal("ticket.already_claimed", key=ticket.key, who=ticket.assignee_name or ticket.assignee or "?")
    _first_response(ctx, ticket, actor)
    timeline(ctx.session, ticket, ctx.now, "claimed", "tl.claimed", who=name_of(actor),
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.claim", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "claimed")
    refresh_cards(ctx, ticket)
    return t("ticket.claimed", _reader(ctx, desk), who=name_of(actor), key=ticket.key)


def assign(ctx: Context, ticket: Ticket, actor: UserRef, to: str, to_name: str | None) -> str:
    desk = desk_of(ctx, ticket)
    if to != actor.identity:
        require(ctx.session, desk, actor.identity, "lead", "assign")
    else:
        require(ctx.session, desk, actor.identity, "technician", "assign")
    if ticket.status in ("resolved", "closed"):
        raise Refusal("transition.refused", key=ticket.key, action="@action.assign", status=f"@status.{ticket.status}")
    before = snapshot(ticket)
    ticket.assignee, ticket.assignee_name = to, to_name or to.partition(":")[2]
    if ticket.status == "new":
        ticket.status = "assigned"
    _first_response(ctx, ticket, actor)
    timeline(ctx.session, ticket, ctx.now, "assigned", "tl.assigned", to=ticket.assignee_name, who=name_of(actor),
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.assign", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "assigned")
    refresh_cards(ctx, ticket)
    if to != actor.identity:
        ctx.send(Outgoing(to=dm_to(to), ticket_id=ticket.id, reply=Reply(
            fallback_text=t("ticket.assigned_you", desk.default_lang, who=name_of(actor), key=ticket.key,
                            subject=ticket.subject), lang=desk.default_lang)))
    return t("ticket.assigned", _reader(ctx, desk), key=ticket.key, to=ticket.assignee_name)


def set_priority(ctx: Context, ticket: Ticket, actor: UserRef, priority: str) -> str:
    desk = desk_of(ctx, ticket)
    require(ctx.session, desk, actor.identity, "technician", "status")
    priority = priority.upper()
    if priority not in PRIORITIES:
        raise Refusal("priority.bad")
    before = snapshot(ticket)
    old, ticket.priority = ticket.priority, priority
    _first_response(ctx, ticket, actor)
    timeline(ctx.session, ticket, ctx.now, "priority", "tl.priority", who=name_of(actor), old=old, new=priority,
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.priority", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "priority")
    refresh_cards(ctx, ticket)
    return t("ticket.priority_set", _reader(ctx, desk), key=ticket.key, priority=priority)


def set_status(ctx: Context, ticket: Ticket, actor: UserRef, status: str, note: str = "") -> str:
    if status == "resolved":
        return resolve(ctx, ticket, actor, note)
    if status == "closed":
        return close(ctx, ticket, actor)
    desk = desk_of(ctx, ticket)
    require(ctx.session, desk, actor.identity, "technician", "status")
    before = snapshot(ticket)
    if ticket.status in ("resolved", "closed") and status == "in_progress":
        return reopen(ctx, ticket, actor, note)
    _transition(ticket, status, "status")
    _first_response(ctx, ticket, actor)
    if status == "new":
        ticket.assignee = ticket.assignee_name = None
    timeline(ctx.session, ticket, ctx.now, "status", "tl.status", who=name_of(actor), status=f"@status.{status}",
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.status", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "status")
    refresh_cards(ctx, ticket)
    if status == "waiting":
        tell_requester(ctx, ticket, t("ticket.waiting_note", ticket.lang, who=name_of(actor), key=ticket.key,
                                      text=note or "…"), mention=True)
    lang = _reader(ctx, desk)
    return t("ticket.status_set", lang, key=ticket.key, status=status_name(status, lang))


def comment(ctx: Context, ticket: Ticket, actor: UserRef, text: str, *, origin: ConversationRef | None) -> str:
    desk = desk_of(ctx, ticket)
    is_requester = actor.identity == ticket.requester
    if not is_requester:
        require(ctx.session, desk, actor.identity, "technician", "comment")
    before = snapshot(ticket)
    _first_response(ctx, ticket, actor)
    timeline(ctx.session, ticket, ctx.now, "relay" if is_requester else "comment", "tl.comment",
             who=name_of(actor), text=text, actor=actor.identity, actor_name=name_of(actor))
    if is_requester and ticket.status == "waiting":
        ticket.status = "in_progress"  # the requester answered: the clock runs again
    audit(ctx.session, ctx.now, actor.identity, "ticket.comment", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "comment")
    source, team = source_conversation(ticket), team_conversation(ctx, ticket)
    from_source = origin is not None and source is not None and origin.chat_id == source.chat_id \
        and origin.platform == source.platform
    from_team = origin is not None and team is not None and origin.chat_id == team.chat_id \
        and origin.platform == team.platform
    if is_requester and not from_team:
        tell_team(ctx, ticket, "ticket.relay_to_team", who=name_of(actor), key=ticket.key, text=text)
    if not is_requester and not from_source:
        tell_requester(ctx, ticket, t("ticket.relay_to_requester", ticket.lang, who=name_of(actor), key=ticket.key,
                                      text=text), mention=True)
    refresh_cards(ctx, ticket)
    return t("ticket.comment_added", _reader(ctx, desk), key=ticket.key)


def resolve(ctx: Context, ticket: Ticket, actor: UserRef, note: str) -> str:
    desk = desk_of(ctx, ticket)
    require(ctx.session, desk, actor.identity, "technician", "resolve")
    before = snapshot(ticket)
    _transition(ticket, "resolved", "resolve")
    ticket.resolution = note.strip() or t("ticket.resolved", ticket.lang, key=ticket.key)
    ticket.resolved_at = ctx.now
    if not ticket.assignee:
        ticket.assignee, ticket.assignee_name = actor.identity, name_of(actor)
    _first_response(ctx, ticket, actor)
    timeline(ctx.session, ticket, ctx.now, "resolved", "tl.resolved", who=name_of(actor), text=ticket.resolution,
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.resolve", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "resolved")
    refresh_cards(ctx, ticket)
    source = source_conversation(ticket)
    if source is not None:
        platform, _, user_id = ticket.requester.partition(":")
        card = survey_card(ticket, ticket.lang, name_of(actor))
        ctx.send(Outgoing(to=source, ticket_id=ticket.id, reply=_with_mention(card, platform, user_id, ticket)))
    return t("ticket.resolved", _reader(ctx, desk), key=ticket.key)


def _with_mention(card: Reply, platform: str, user_id: str, ticket: Ticket) -> Reply:
    from dataclasses import replace

    return replace(card, mention=UserRef(platform=platform, user_id=user_id, display_name=ticket.requester_name))


def close(ctx: Context, ticket: Ticket, actor: UserRef, *, by_survey: bool = False) -> str:
    desk = desk_of(ctx, ticket)
    if actor.identity == ticket.requester:
        if ticket.status != "resolved":
            return cancel(ctx, ticket, actor)
    else:
        require(ctx.session, desk, actor.identity, "technician", "close")
    before = snapshot(ticket)
    _transition(ticket, "closed", "close")
    ticket.closed_at = ctx.now
    timeline(ctx.session, ticket, ctx.now, "closed", "tl.closed", who=name_of(actor),
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.close", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "closed")
    refresh_cards(ctx, ticket)
    _update_survey(ctx, ticket, "closed" if ticket.rating is None else "rated")
    return t("ticket.closed", ticket.lang if by_survey else _reader(ctx, desk), key=ticket.key)


def _update_survey(ctx: Context, ticket: Ticket, answered: str, cycle: int | None = None) -> None:
    """Change the survey card in place, if one was sent for this resolution."""
    source = source_conversation(ticket)
    cycle = ticket.reopen_count if cycle is None else cycle
    key = f"survey:{ticket.id}:{cycle}"
    if source is None or ctx.session.exec(select(col(CardMessage.id)).where(col(CardMessage.card_key) == key)).first() is None \
            and not any(o.reply.card_key == key for o in ctx.sent) and ticket.resolved_at is None:
        return
    from dataclasses import replace

    card = survey_card(ticket, ticket.lang, ticket.assignee_name or "", answered=answered)
    ctx.send(Outgoing(to=source, ticket_id=ticket.id, reply=replace(card, card_key=key)))


def cancel(ctx: Context, ticket: Ticket, actor: UserRef) -> str:
    desk = desk_of(ctx, ticket)
    if actor.identity != ticket.requester:
        require(ctx.session, desk, actor.identity, "technician", "cancel")
    if ticket.status in ("resolved", "closed"):
        raise Refusal("transition.refused", key=ticket.key, action="@action.cancel", status=f"@status.{ticket.status}")
    before = snapshot(ticket)
    ticket.status, ticket.closed_at = "closed", ctx.now
    ticket.resolution = t("ticket.cancelled", ticket.lang, key=ticket.key)
    timeline(ctx.session, ticket, ctx.now, "cancelled", "tl.cancelled", who=name_of(actor),
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.cancel", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "cancelled")
    refresh_cards(ctx, ticket)
    return t("ticket.cancelled", _reader(ctx, desk), key=ticket.key)


def reopen(ctx: Context, ticket: Ticket, actor: UserRef, reason: str = "") -> str:
    desk = desk_of(ctx, ticket)
    if actor.identity != ticket.requester:
        require(ctx.session, desk, actor.identity, "technician", "reopen")
    if ticket.status not in ("resolved", "closed"):
        raise Refusal("transition.refused", key=ticket.key, action="@action.reopen", status=f"@status.{ticket.status}")
    if ticket.status == "closed":
        window = timedelta(days=desk.reopen_window_days)
        if ticket.closed_at is None or ctx.now - ticket.closed_at > window:
            raise Refusal("ticket.reopen_window", key=ticket.key, days=int(desk.reopen_window_days))
    before = snapshot(ticket)
    old_cycle = ticket.reopen_count
    ticket.status = "in_progress" if ticket.assignee else "new"
    ticket.reopen_count += 1
    ticket.resolved_at = ticket.closed_at = None
    ticket.rating = None
    timeline(ctx.session, ticket, ctx.now, "reopened", "tl.reopened", who=name_of(actor), text=reason or "—",
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.reopen", "ticket", ticket.key, before, snapshot(ticket))
    _changed(ctx, ticket, "reopened")
    refresh_cards(ctx, ticket)
    _update_survey(ctx, ticket, "reopened", cycle=old_cycle)
    tell_team(ctx, ticket, "ticket.reopened_team", key=ticket.key, who=name_of(actor), text=reason or "—")
    return t("ticket.reopened", ticket.lang, key=ticket.key, who=ticket.assignee_name or t("nobody", ticket.lang))


def rate(ctx: Context, ticket: Ticket, actor: UserRef, rating: int, remark: str = "") -> str:
    if actor.identity != ticket.requester:
        raise Refusal("survey.only_requester", key=ticket.key)
    if not 1 <= rating <= 5:
        raise Refusal("rate.bad")
    if ticket.status not in ("resolved", "closed"):
        raise Refusal("transition.refused", key=ticket.key, action="@action.rate", status=f"@status.{ticket.status}")
    won = ctx.session.execute(
        update(Ticket).execution_options(synchronize_session=False).where(col(Ticket.id) == ticket.id, col(Ticket.rating).is_(None))
        .values(rating=rating, rating_comment=remark or None, version=col(Ticket.version) + 1)
    ).rowcount  # type: ignore[attr-defined]
    ctx.session.refresh(ticket)
    if not won:
        raise Refusal("survey.already", key=ticket.key)
    timeline(ctx.session, ticket, ctx.now, "rated", "tl.rated", who=name_of(actor),
             rating=rating, actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.rate", "ticket", ticket.key, None,
          {"rating": rating, "comment": remark or None})
    if ticket.status == "resolved":  # a rating means the fix held; closing updates the survey card
        close(ctx, ticket, actor, by_survey=True)
    else:
        _changed(ctx, ticket, "rated")
        refresh_cards(ctx, ticket)
        _update_survey(ctx, ticket, "rated")
    return t("survey.thanks", ticket.lang, key=ticket.key, rating=rating)


def remark_on_rating(ctx: Context, ticket: Ticket, actor: UserRef, remark: str) -> str | None:
    """The requester's words after rating become the rating's comment, once; None when it already has one."""
    won = ctx.session.execute(
        update(Ticket).execution_options(synchronize_session=False)
        .where(col(Ticket.id) == ticket.id, col(Ticket.rating).is_not(None), col(Ticket.rating_comment).is_(None))
        .values(rating_comment=remark, version=col(Ticket.version) + 1)
    ).rowcount  # type: ignore[attr-defined]
    if not won:
        return None
    ctx.session.refresh(ticket)
    timeline(ctx.session, ticket, ctx.now, "rated", "tl.rating_remark", who=name_of(actor), text=remark,
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.rate_remark", "ticket", ticket.key, None,
          {"comment": remark})
    _changed(ctx, ticket, "rated")
    tell_team(ctx, ticket, "ticket.rating_remark_to_team", who=name_of(actor), key=ticket.key,
              rating=ticket.rating, text=remark)
    _update_survey(ctx, ticket, "rated")
    return t("survey.remark_saved", ticket.lang, key=ticket.key)


def link(ctx: Context, ticket: Ticket, actor: UserRef, other: Ticket, kind: str) -> str:
    desk = desk_of(ctx, ticket)
    require(ctx.session, desk, actor.identity, "technician", "status")
    exists = ctx.session.exec(select(TicketLink).where(col(TicketLink.ticket_id) == ticket.id,
                                                       col(TicketLink.other_id) == other.id, col(TicketLink.kind) == kind)).first()
    if exists is None:
        ctx.session.add(TicketLink(ticket_id=ticket.id or 0, other_id=other.id or 0, kind=kind))
    kind_text = f"@link.{kind}"
    timeline(ctx.session, ticket, ctx.now, "linked", "tl.linked", who=name_of(actor), other=other.key, relation=kind_text,
             actor=actor.identity, actor_name=name_of(actor))
    audit(ctx.session, ctx.now, actor.identity, "ticket.link", "ticket", ticket.key, None,
          {"other": other.key, "kind": kind})
    _changed(ctx, ticket, "linked")
    refresh_cards(ctx, ticket)
    return t("ticket.linked", _reader(ctx, desk), key=ticket.key, other=other.key, relation=kind_text)


def auto_close_sweep(ctx: Context) -> int:
    """Close resolved tickets whose survey went unanswered for the desk's timeout."""
    closed = 0
    for desk in ctx.desks.desks:
        cutoff = ctx.now - timedelta(days=desk.survey_timeout_days)
        due = ctx.session.exec(select(Ticket).where(col(Ticket.desk) == desk.name, col(Ticket.status) == "resolved",
                                                    col(Ticket.resolved_at) <= cutoff)).all()
        for ticket in due:
            won = ctx.session.execute(update(Ticket).execution_options(synchronize_session=False).where(col(Ticket.id) == ticket.id, col(Ticket.status) == "resolved")
                                      .values(status="closed", closed_at=ctx.now, version=col(Ticket.version) + 1)
                                      ).rowcount  # type: ignore[attr-defined]
            if not won:
                continue
            ctx.session.refresh(ticket)
            timeline(ctx.session, ticket, ctx.now, "closed", "tl.auto_closed")
            audit(ctx.session, ctx.now, None, "ticket.auto_close", "ticket", ticket.key,
                  {"status": "resolved"}, {"status": "closed"})
            _changed(ctx, ticket, "closed")
            refresh_cards(ctx, ticket)
            _update_survey(ctx, ticket, "closed")
            closed += 1
    return closed
