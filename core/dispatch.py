"""One event in, changes and outgoing messages out: the single entry point adapters feed."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, or_
from sqlmodel import Session, col, select

from core import deflection, tickets
from core.cards import ticket_card, ticket_list
from core.context import Context
from core.db import fast
from core.db.models import Deflection, RoleGrant, ThreadLink, Ticket
from core.desks import Refusal, require, roles_of
from core.events import (
    ActionClicked,
    BotAdded,
    CommandInvoked,
    ConversationRef,
    FormSubmitted,
    Inbound,
    MessageReceived,
    ReactionAdded,
    UserRef,
)
from core.help import help_text
from core.i18n import detect_lang, norm_lang, status_name, t
from core.intents import (
    PUBLISH_WORDS,
    ROLE_ACTIONS,
    STATUS_WORDS,
    Command,
    Greeting,
    Report,
    StatusQuestion,
    classify,
    find_ticket_ref,
    is_helped,
    is_not_helped,
    parse_ticket_ref,
)
from core.masking import mask_secrets
from core.records import audit, autoflush, columns_of, loaded, row_type, save_tickets
from core.replies import Outgoing, Reply
from core.settings import PRIORITIES, Desk

log = logging.getLogger(__name__)

LINK_WORDS = {"duplicate": "duplicate_of", "dup": "duplicate_of", "duplicate_of": "duplicate_of", "重复": "duplicate_of",
              "related": "related_to", "related_to": "related_to", "相关": "related_to"}
_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|([^>]*))?>$")


class Turn:
    """Where answers to this event go and in which language."""

    def __init__(self, ctx: Context, event: Inbound, desk: Desk, lang: str) -> None:
        self.ctx, self.event, self.desk = ctx, event, desk
        self.lang = lang
        conv = event.conversation
        if not conv.is_direct and not conv.thread_id and event.message_id and isinstance(event, MessageReceived):
            conv = conv.in_thread(event.message_id)  # answer under the person's message
        self.where = conv

    @property
    def lang(self) -> str:
        return self.ctx.lang or self.desk.default_lang

    @lang.setter
    def lang(self, value: str) -> None:
        self.ctx.lang = value  # ticket operations answer in it too

    def say(self, text: str, *, private: bool = False) -> None:
        self.ctx.send(Outgoing(to=self.where, reply=Reply(
            fallback_text=text, lang=self.lang, only_visible_to=self.event.user if private else None)))

    def show(self, reply: Reply) -> None:
        self.ctx.send(Outgoing(to=self.where, reply=reply))


class RefusedAfterWriting(Exception):
    """Raised instead of answering a refusal when no savepoint was taken and the event had already
    written something: the caller must undo its transaction and run the event again with one."""


def dispatch(ctx: Context, event: Inbound, *, savepoint: bool = True) -> list[Outgoing]:
    """Handle one event inside the caller's transaction. A refusal rolls back its changes only.

    `savepoint=False` (the intake runner's first pass) skips the savepoint where the database can
    tell whether the event wrote anything (SQLite): most refusals come before any write and need no
    undo; one that comes after a write raises RefusedAfterWriting."""
    desk = ctx.desks.for_conversation(event.conversation)
    text = getattr(event, "text", "") or " ".join(getattr(event, "args", ()))
    lang = detect_lang(text, norm_lang(event.lang_hint, desk.default_lang)) if text.strip() \
        else norm_lang(event.lang_hint, desk.default_lang)
    if isinstance(event, ActionClicked) and not event.lang_hint:
        clicked = tickets.by_id(ctx, event.value.get("ticket"))
        if clicked is not None and clicked.requester == event.user.identity:
            lang = clicked.lang  # a click has no words: answer the requester as their ticket speaks
    turn = Turn(ctx, event, desk, lang)
    sent_before = ctx.checkpoint()
    rows_before = None if savepoint else _rows_changed(ctx.session)
    nested = ctx.session.begin_nested() if rows_before is None else None
    try:
        _route(turn)
        save_tickets(ctx.session)  # nothing can refuse after this point
        if nested is not None:
            nested.commit()
    except Refusal as refusal:
        if nested is not None:
            nested.rollback()
        elif _rows_changed(ctx.session) != rows_before or ctx.session.new or ctx.session.dirty \
                or ctx.session.deleted:
            raise RefusedAfterWriting(refusal.key) from refusal
        ctx.rewind(sent_before)
        turn.say(refusal.text(lang), private=True)
        if isinstance(event, ActionClicked):
            _refresh_clicked_card(turn)
    return ctx.sent


def _rows_changed(session: Session) -> int | None:
    """Rows inserted, updated or deleted so far on this connection (SQLite); None where unknown."""
    dbapi = session.connection().connection.dbapi_connection
    return getattr(dbapi, "total_changes", None)


def _route(turn: Turn) -> None:
    event = turn.event
    if isinstance(event, MessageReceived):
        _on_message(turn, event)
    elif isinstance(event, CommandInvoked):
        _run(turn, Command(_verb(event.args), tuple(event.args[1:]), event.args[0] if event.args else ""))
    elif isinstance(event, ActionClicked):
        _on_click(turn, event)
    elif isinstance(event, ReactionAdded):
        _on_reaction(turn, event)
    elif isinstance(event, FormSubmitted):
        _on_form(turn, event)
    elif isinstance(event, BotAdded):
        turn.ctx.send(Outgoing(to=event.conversation, reply=Reply(
            fallback_text=t("welcome", turn.lang, desk=turn.desk.name), lang=turn.lang)))


def _verb(args: tuple[str, ...]) -> str:
    from core.intents import _BY_WORD

    return "help" if not args else _BY_WORD.get(args[0].lower(), "")


# ---------------------------------------------------------------- messages

def _on_message(turn: Turn, event: MessageReceived) -> None:
    ctx = turn.ctx
    limit = ctx.settings.max_message_chars
    text = mask_secrets(event.text or "")
    note = ""
    if len(text) > limit:
        text, note = text[:limit], t("message.truncated", turn.lang, n=limit)
    conv = event.conversation
    addressed = conv.is_direct or event.mentions_bot or event.in_intake_chat or ctx.desks.is_intake_chat(conv)
    intent = classify(text, set(ctx.services.command_names))
    if isinstance(intent, Command):
        _run(turn, intent)
        return
    threaded = tickets.by_thread(ctx, conv) if event.is_thread_reply else None
    if threaded is None and event.quoted_text:
        threaded = _quoted_ticket(turn, event.quoted_text)
    if threaded is not None:
        ticket, _side = threaded
        if not text.strip():
            return
        if isinstance(intent, Greeting) and intent.thanks and event.user.identity == ticket.requester \
                and ticket.status == "resolved":
            turn.say(tickets.close(ctx, ticket, event.user, by_survey=True))
            return
        if event.user.identity == ticket.requester and ticket.status == "closed" and ticket.rating is not None \
                and not is_not_helped(text):
            saved = tickets.remark_on_rating(ctx, ticket, event.user, text)
            if saved is not None:
                turn.say(saved)
                return
        tickets.comment(ctx, ticket, event.user, text, origin=conv)
        if ticket.status == "resolved" and event.user.identity == ticket.requester:
            turn.say(t("ticket.resolved_hint", turn.lang, key=ticket.key))
        return
    if _answers_suggestions(turn, event, text, intent):
        return
    if event.is_thread_reply and not event.mentions_bot:
        return  # chatter in a thread that is not a ticket's
    if not addressed:
        return
    if not text.strip():
        turn.say(t("empty.message", turn.lang))
        return
    if conv.is_direct and not isinstance(intent, Greeting | StatusQuestion):
        target = _named_own_ticket(turn, text) or _latest_from(ctx, event.user, conv, ("waiting",))
        if target is not None:
            tickets.comment(ctx, target, event.user, text, origin=conv)
            turn.say(t("ticket.comment_added", turn.lang, key=target.key))
            return
    if isinstance(intent, Greeting):
        resolved = _latest_from(ctx, event.user, conv, ("resolved",)) if intent.thanks else None
        if resolved is not None:
            turn.say(tickets.close(ctx, resolved, event.user, by_survey=True))
        else:
            turn.say(t("thanks", turn.lang) if intent.thanks else
                     t("greeting", turn.lang, who=event.user.display_name or ""))
        return
    if isinstance(intent, StatusQuestion):
        _answer_status(turn, intent)
        return
    assert isinstance(intent, Report)
    if not intent.text.strip():  # only a mention: nothing to report yet
        turn.say(t("greeting", turn.lang, who=event.user.display_name or ""))
        return
    _intake(turn, event, text, note)


def _answers_suggestions(turn: Turn, event: MessageReceived, text: str, intent: object) -> bool:
    """Words instead of a button under knowledge suggestions: "that fixed it" means solved; in the card's
    thread anything else, and in a chat without threads a clear "that did not help", opens the ticket."""
    conv = event.conversation
    if not (event.is_thread_reply or conv.is_direct) or isinstance(intent, StatusQuestion) or not text.strip():
        return False
    solved = is_helped(text)
    if event.is_thread_reply:
        thread_id = conv.thread_id
    elif solved or is_not_helped(text):
        thread_id = None
    else:
        return False
    if isinstance(intent, Greeting) and not solved:
        return False
    row = deflection.pending_for(turn.ctx, event.user, conv, thread_id=thread_id)
    if row is None:
        return False
    _decide_deflection(turn, str(row.id), solved=solved, follow_up="" if solved else text)
    return True


def _quoted_ticket(turn: Turn, quoted: str) -> tuple[Ticket, str] | None:
    """A reply quoting a ticket's card (platforms without threads) comments on that ticket, when it is
    written in the ticket's own chat or the team chat."""
    ref = find_ticket_ref(quoted, turn.ctx.desks.prefixes)
    if ref is None:
        return None
    try:
        ticket = tickets.find(turn.ctx, ref, turn.desk)
    except Refusal:
        return None
    conv = turn.event.conversation
    for side, place in (("requester", tickets.source_conversation(ticket)),
                        ("team", tickets.team_conversation(turn.ctx, ticket))):
        if place is not None and (place.platform, place.chat_id) == (conv.platform, conv.chat_id):
            return ticket, side
    return None


def _named_own_ticket(turn: Turn, text: str) -> Ticket | None:
    """In a chat without threads, "IT-1 still broken" from its requester is about that open ticket."""
    ref = find_ticket_ref(text, turn.ctx.desks.prefixes)
    if ref is None or ref.prefix is None:
        return None
    try:
        ticket = tickets.find(turn.ctx, ref, turn.desk)
    except Refusal:
        return None
    if ticket.requester != turn.event.user.identity or ticket.status not in tickets.OPEN:
        return None
    return ticket


# a person's newest tickets in some statuses, one statement per set of statuses (building a statement
# costs more than running it, and fixed statuses let it run on the fast path)
_LATEST: dict[tuple[str, ...], Any] = {}
_TICKET_ROW = row_type(Ticket)


def _latest(ctx: Context, user: UserRef, statuses: tuple[str, ...]) -> list[Any]:
    """As rows (after the autoflush a query does): only a ticket acted upon needs to be a session object."""
    stmt = _LATEST.get(statuses)
    if stmt is None:
        stmt = _LATEST[statuses] = (
            select(*columns_of(Ticket))
            .where(col(Ticket.requester) == bindparam("b_requester"), or_(*(col(Ticket.status) == s for s in statuses)))
            .order_by(col(Ticket.id).desc()).limit(10))  # type: ignore[union-attr]
    autoflush(ctx.session)
    return [_TICKET_ROW._make(row) for row in fast.execute(ctx.session, stmt, {"b_requester": user.identity}).all()]


def _latest_from(ctx: Context, user: UserRef, conv: ConversationRef, statuses: tuple[str, ...]) -> Ticket | None:
    for row in _latest(ctx, user, statuses):
        source = tickets.source_conversation(row)
        if source is not None and source.platform == conv.platform and source.chat_id == conv.chat_id:
            return loaded(ctx.session, Ticket, [row])[0]
    return None


def _intake(turn: Turn, event: MessageReceived, text: str, note: str) -> None:
    ctx, desk = turn.ctx, turn.desk
    suggestions = ctx.services.knowledge.suggest(text, limit=3) if desk.knowledge_mode != "off" else []
    if suggestions and desk.knowledge_mode == "suggest_first":
        deflection.offer(ctx, desk=desk, requester=event.user, conversation=turn.where, message_id=event.message_id,
                         text=text, lang=turn.lang, suggestions=suggestions)
        return
    ticket = _open_from_text(turn, event.user, text, event.conversation, event.message_id, suggestions)
    if suggestions:
        deflection.record_feedback(ctx, [s.article_id for s in suggestions], "shown", identity=event.user.identity,
                                   ticket_id=ticket.id)
        turn.say(t("kb.suggest_title", turn.lang) + "\n" + deflection.suggestion_lines(suggestions))
    if note:
        turn.say(note)


def _open_from_text(turn: Turn, user: UserRef, text: str, conversation: ConversationRef, message_id: str | None,
                    suggestions: list, **kw: object) -> Ticket:
    subject = text.strip().splitlines()[0][:80] if text.strip() else "—"
    return tickets.open_ticket(turn.ctx, desk=turn.desk, requester=user, subject=subject, description=text,
                               conversation=conversation, message_id=message_id, lang=turn.lang,
                               suggestions=suggestions, **kw)  # type: ignore[arg-type]


def _answer_status(turn: Turn, question: StatusQuestion) -> None:
    ctx, user = turn.ctx, turn.event.user
    if question.ref is not None:
        ticket = tickets.find(ctx, question.ref, turn.desk)
        tickets.can_see(ctx, ticket, user)
        turn.show(_card_for(turn, ticket))
        return
    mine = _latest(ctx, user, tickets.OPEN)
    if not mine:
        turn.say(t("status.none", turn.lang))
    elif len(mine) == 1:
        ticket = loaded(ctx.session, Ticket, mine)[0]
        turn.show(_card_for(turn, ticket))
    else:
        turn.show(ticket_list(mine, turn.lang, "status.list_title"))


# ---------------------------------------------------------------- reactions and forms

def _on_reaction(turn: Turn, event: ReactionAdded) -> None:
    ctx = turn.ctx
    conv = event.conversation
    exists = tickets.pending_thread_link(ctx, conv.platform, conv.chat_id, event.target_message_id) \
        or ctx.session.exec(select(ThreadLink).where(
            col(ThreadLink.platform) == conv.platform, col(ThreadLink.chat_id) == conv.chat_id,
            col(ThreadLink.thread_id) == event.target_message_id)).first()
    if exists is not None:
        return  # that message is already a ticket
    if conv.thread_id and tickets.by_thread(ctx, conv) is not None:
        return  # a reply inside a ticket's thread is already part of that ticket
    requester = event.target_user or event.user
    text = mask_secrets(event.target_text or "")[: ctx.settings.max_message_chars] or "—"
    turn.lang = detect_lang(text, turn.lang)
    # a reacted reply keeps its thread: the card goes under the thread's root message
    _open_from_text(turn, requester, text, conv, event.target_message_id, [])


def _on_form(turn: Turn, event: FormSubmitted) -> None:
    if event.form_id != "ticket.new":
        raise Refusal("unknown.action")
    values = dict(event.values)
    subject = mask_secrets((values.get("subject") or "").strip())
    if not subject:
        raise Refusal("form.subject_required")
    priority = (values.get("priority") or "").upper() or None
    if priority and priority not in PRIORITIES:
        raise Refusal("priority.bad")
    description = mask_secrets(values.get("description") or subject)
    turn.lang = detect_lang(subject + description, turn.lang)
    tickets.open_ticket(turn.ctx, desk=turn.desk, requester=event.user, subject=subject[:200],
                        description=description, conversation=event.conversation, message_id=event.message_id,
                        lang=turn.lang, category=values.get("category") or None, priority=priority,
                        location=values.get("location") or None)


# ---------------------------------------------------------------- clicks

def _on_click(turn: Turn, event: ActionClicked) -> None:
    ctx, user, value = turn.ctx, event.user, event.value
    action = event.action_id
    if action in ("kb.solved", "kb.need_help"):
        _decide_deflection(turn, value.get("deflection"), action == "kb.solved")
        return
    if action == "kb.publish":
        from core import capture

        turn.say(capture.publish(ctx, turn.desk, value.get("article", ""), user, lang=turn.lang), private=True)
        return
    ticket = tickets.by_id(ctx, value.get("ticket"))
    if ticket is None:
        raise Refusal("unknown.action")
    turn.desk = tickets.desk_of(ctx, ticket)
    if action == "ticket.claim":
        if ticket.status not in ("new", "assigned"):
            _stale(turn, ticket)
            return
        tickets.claim(ctx, ticket, user)
    elif action == "ticket.resolve":
        if ticket.status in ("resolved", "closed"):
            _stale(turn, ticket)
            return
        tickets.resolve(ctx, ticket, user, "")
    elif action == "ticket.waiting":
        if ticket.status != "in_progress":
            _stale(turn, ticket)
            return
        tickets.set_status(ctx, ticket, user, "waiting")
    elif action == "ticket.cancel":
        if ticket.status in ("resolved", "closed"):
            _stale(turn, ticket)
            return
        if user.identity != ticket.requester:  # the button is on the requester's own card
            raise Refusal("cancel.only_requester", key=ticket.key)
        turn.say(tickets.cancel(ctx, ticket, user), private=True)
    elif action in ("ticket.reopen", "survey.reopen"):
        if ticket.status not in ("resolved", "closed"):
            _stale(turn, ticket)
            return
        turn.say(tickets.reopen(ctx, ticket, user), private=True)
    elif action == "survey.fixed":
        if ticket.status != "resolved":
            _stale(turn, ticket)
            return
        if user.identity != ticket.requester:
            raise Refusal("survey.only_requester", key=ticket.key)
        tickets.close(ctx, ticket, user, by_survey=True)
    elif action == "survey.rate":
        rating = value.get("rating", "")
        if not rating.isdigit():
            raise Refusal("rate.bad")
        turn.say(tickets.rate(ctx, ticket, user, int(rating)), private=True)
    elif action == "kb.capture":
        from core import capture

        turn.show(capture.draft_from_ticket(ctx, ticket, user, lang=turn.lang))
    else:
        raise Refusal("unknown.action")


def _card_for(turn: Turn, ticket: Ticket) -> Reply:
    """The ticket's card as an answer to the person asking (a snapshot: not updated later); the
    requester gets their own buttons."""
    requester = tickets.requester_view(turn.ctx, turn.desk, ticket, turn.event.user.identity)
    return replace(ticket_card(turn.ctx.session, ticket, turn.desk, turn.lang, requester=requester), card_key=None)


def _stale(turn: Turn, ticket: Ticket) -> None:
    """A click on an outdated card changes nothing: refresh that card and say so."""
    turn.say(t("stale.action", turn.lang, key=ticket.key, status=status_name(ticket.status, turn.lang),
               who=ticket.assignee_name or ticket.assignee or t("nobody", turn.lang)), private=True)
    tickets.refresh_cards(turn.ctx, ticket)


def _refresh_clicked_card(turn: Turn) -> None:
    event = turn.event
    assert isinstance(event, ActionClicked)
    ticket = tickets.by_id(turn.ctx, event.value.get("ticket"))
    if ticket is not None:
        tickets.refresh_cards(turn.ctx, ticket)


def _decide_deflection(turn: Turn, deflection_id: str | None, solved: bool, follow_up: str = "") -> None:
    ctx = turn.ctx
    row, won = deflection.decide(ctx, deflection_id, turn.event.user, solved)
    conv = ConversationRef.from_json(json.loads(row.conversation))
    if not won:
        turn.say(t("kb.already_decided", row.lang), private=True)
        return
    if solved:
        ctx.send(Outgoing(to=conv, reply=deflection.closed_card(row, "kb.deflected")))
        audit(ctx.session, ctx.now, turn.event.user.identity, "deflection.solved", "deflection", row.id)
        return
    user = turn.event.user
    turn.desk = ctx.desks.by_name(row.desk)
    turn.lang = row.lang
    ticket = _open_from_text(turn, UserRef(platform=user.platform, user_id=user.user_id,
                                           display_name=row.requester_name or user.display_name),
                             "\n\n".join(filter(None, (row.text, follow_up))), conv, row.message_id,
                             deflection.suggestions_of(row))
    ctx.session.execute(Deflection.__table__.update().where(Deflection.id == row.id).values(ticket_id=ticket.id))  # type: ignore[attr-defined]
    ctx.send(Outgoing(to=conv, reply=deflection.closed_card(row, "ticket.created", key=ticket.key)))


# ---------------------------------------------------------------- commands

def _run(turn: Turn, command: Command) -> None:
    ctx, user, args, verb = turn.ctx, turn.event.user, list(command.args), command.verb
    if verb == "":
        turn.say(help_text(turn.lang), private=True)
        return
    if verb == "help":
        target = _verb(tuple(args)) if args else None
        turn.say(help_text(turn.lang, target or None), private=True)
        return
    if verb == "new":
        text = mask_secrets(" ".join(args)).strip()
        if not text:
            turn.say(help_text(turn.lang, "new"), private=True)
            return
        turn.lang = detect_lang(text, turn.lang)
        conv = turn.event.conversation
        _open_from_text(turn, user, text, conv, turn.event.message_id, [])
        return
    if verb in ("mine", "list"):
        _list(turn, verb, args)
        return
    if verb == "role":
        _role(turn, args)
        return
    if verb == "report":
        from core import reports

        require(ctx.session, turn.desk, user.identity, "lead", "report")
        turn.say(reports.chat_report(ctx, turn.desk, args, turn.lang), private=True)
        return
    if verb == "kb" and args and args[0].lower() in PUBLISH_WORDS:
        from core import capture

        if len(args) < 2:
            turn.say(help_text(turn.lang, "kb"), private=True)
            return
        turn.say(capture.publish(ctx, turn.desk, args[1], user, lang=turn.lang), private=True)
        return
    ref = parse_ticket_ref(args[0]) if args else None
    if ref is None:
        turn.say(help_text(turn.lang, verb), private=True)
        return
    ticket = tickets.find(ctx, ref, turn.desk)
    turn.desk = tickets.desk_of(ctx, ticket)
    rest = args[1:]
    note = mask_secrets(" ".join(rest))
    answer: str | None = None
    if verb == "show":
        tickets.can_see(ctx, ticket, user)
        turn.show(replace(_card_for(turn, ticket), only_visible_to=user))
    elif verb == "claim":
        answer = tickets.claim(ctx, ticket, user)
    elif verb == "assign":
        assignee = _identity(turn, " ".join(rest)) if rest else None
        if assignee is None:
            turn.say(t("assign.bad", turn.lang), private=True)
            return
        answer = tickets.assign(ctx, ticket, user, assignee[0], assignee[1])
    elif verb == "priority":
        if not rest:
            turn.say(help_text(turn.lang, "priority"), private=True)
            return
        answer = tickets.set_priority(ctx, ticket, user, rest[0])
    elif verb == "status":
        status = STATUS_WORDS.get(rest[0].lower()) if rest else None
        if status is None:
            if not rest:
                tickets.can_see(ctx, ticket, user)
                turn.show(_card_for(turn, ticket))
                return
            turn.say(t("status.bad", turn.lang, status=rest[0], choices=", ".join(tickets.STATUSES)), private=True)
            return
        answer = tickets.set_status(ctx, ticket, user, status, mask_secrets(" ".join(rest[1:])))
    elif verb == "comment":
        if not note:
            turn.say(help_text(turn.lang, "comment"), private=True)
            return
        answer = tickets.comment(ctx, ticket, user, note, origin=turn.event.conversation)
    elif verb == "resolve":
        answer = tickets.resolve(ctx, ticket, user, note)
    elif verb == "close":
        answer = tickets.close(ctx, ticket, user)
    elif verb == "reopen":
        answer = tickets.reopen(ctx, ticket, user, note)
    elif verb == "cancel":
        answer = tickets.cancel(ctx, ticket, user)
    elif verb == "rate":
        if not rest or not rest[0].isdigit():
            turn.say(help_text(turn.lang, "rate"), private=True)
            return
        answer = tickets.rate(ctx, ticket, user, int(rest[0]), mask_secrets(" ".join(rest[1:])))
    elif verb == "link":
        kind = LINK_WORDS.get(rest[0].lower()) if rest else None
        other_ref = parse_ticket_ref(rest[1]) if len(rest) > 1 else None
        if kind is None or other_ref is None:
            turn.say(t("link.bad", turn.lang), private=True)
            return
        answer = tickets.link(ctx, ticket, user, tickets.find(ctx, other_ref, turn.desk), kind)
    elif verb == "sla":
        from core import sla_chat

        tickets.can_see(ctx, ticket, user)
        answer = sla_chat.explain(ctx, ticket, turn.lang)
    elif verb == "kb":
        from core import capture

        turn.show(capture.draft_from_ticket(ctx, ticket, user, lang=turn.lang))
    if answer:
        turn.say(answer, private=True)


# platforms whose user ids are the names people type (web chat slugs, the terminal, WeCom userids)
_NAME_IS_ID = {"webchat", "cli", "wecom"}


def _identity(turn: Turn, token: str) -> tuple[str, str | None] | None:
    """`platform:user_id`, Slack's `<@U123|name>`, or `@name` resolved through the message's mentions.

    An `@name` that no mention explains is refused (None) rather than guessed, except where names are
    ids (web chat, terminal)."""
    m = _SLACK_MENTION.match(token.split()[0])
    if m:
        return f"{turn.event.platform}:{m.group(1)}", m.group(2)
    if ":" in token and not token.startswith("@"):
        first = token.split()[0]
        return first, first.partition(":")[2]
    if token.startswith("@") and len(token) > 1:
        # display names may hold spaces ("@Bob Tech"): match the longest mention that starts the text
        written = token[1:]
        for user in sorted(turn.event.mentions, key=lambda u: -len(u.display_name or u.user_id)):
            name = user.display_name or user.user_id
            if written == user.user_id or written == name or written.startswith(name + " "):
                return user.identity, name
        name = written.split()[0]
        if turn.event.platform in _NAME_IS_ID:
            return f"{turn.event.platform}:{name}", name
    return None


def _list(turn: Turn, verb: str, args: list[str]) -> None:
    ctx, user = turn.ctx, turn.event.user
    staff = "technician" in roles_of(ctx.session, turn.desk, user.identity)
    query = select(Ticket).where(col(Ticket.desk) == turn.desk.name)
    status = STATUS_WORDS.get(args[0].lower()) if args else None
    if status:
        query = query.where(col(Ticket.status) == status)
    else:
        query = query.where(col(Ticket.status).in_(tickets.OPEN))  # type: ignore[attr-defined]
    if verb == "mine":
        cond = col(Ticket.requester) == user.identity
        if staff:
            cond = cond | (col(Ticket.assignee) == user.identity)  # type: ignore[assignment]
        query = query.where(cond)
    elif not staff:
        query = query.where(col(Ticket.requester) == user.identity)
    rows = ctx.session.exec(query.order_by(col(Ticket.priority), col(Ticket.id)).limit(25)).all()  # type: ignore[arg-type]
    turn.show(replace(ticket_list(list(rows), turn.lang, "status.list_title" if verb == "mine" else "list.title"),
                      only_visible_to=user))


def _role(turn: Turn, args: list[str]) -> None:
    ctx, user = turn.ctx, turn.event.user
    require(ctx.session, turn.desk, user.identity, "admin", "admin")
    action = ROLE_ACTIONS.get(args[0].lower()) if args else None
    if len(args) != 3 or action is None or args[2].lower() not in (
            "technician", "lead", "admin") or ":" not in args[1]:
        turn.say(t("role.bad", turn.lang), private=True)
        return
    granted = action == "grant"
    role = args[2].lower()
    grant = ctx.session.exec(select(RoleGrant).where(col(RoleGrant.desk) == turn.desk.name,
                                                     col(RoleGrant.identity) == args[1], col(RoleGrant.role) == role)).first()
    if grant is None:
        grant = RoleGrant(desk=turn.desk.name, identity=args[1], role=role, at=ctx.now)
    grant.granted, grant.by, grant.at = granted, user.identity, ctx.now  # the audit log keeps the history
    ctx.session.add(grant)
    audit(ctx.session, ctx.now, user.identity, "role.grant" if granted else "role.revoke", "identity", args[1],
          None, {"desk": turn.desk.name, "role": role})
    key = "role.granted" if granted else "role.revoked"
    turn.say(t(key, turn.lang, who=args[1], role=role, desk=turn.desk.name), private=True)
