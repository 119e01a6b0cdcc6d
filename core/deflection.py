"""Knowledge suggestions in chat: answer before a ticket is needed, and count what helped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from core.context import Context
from core.db.models import ArticleFeedback, Deflection
from core.desks import Refusal
from core.events import ConversationRef, UserRef
from core.i18n import t
from core.ports import Suggestion
from core.replies import Button, Outgoing, Reply
from core.settings import Desk


def record_feedback(ctx: Context, article_ids: Sequence[str], kind: str, *, identity: str | None,
                    ticket_id: int | None = None, deflection_id: int | None = None) -> None:
    for article_id in article_ids:
        ctx.session.add(ArticleFeedback(article_id=article_id, kind=kind, identity=identity, ticket_id=ticket_id,
                                        deflection_id=deflection_id, at=ctx.now))


def suggestion_lines(suggestions: Sequence[Suggestion]) -> str:
    def indented(summary: str) -> str:
        return "".join(f"\n  {line}" for line in summary.splitlines())

    return "\n".join(f"• {s.title} ({s.article_id})" + indented(s.summary) for s in suggestions)


def offer(ctx: Context, *, desk: Desk, requester: UserRef, conversation: ConversationRef, message_id: str | None,
          text: str, lang: str, suggestions: Sequence[Suggestion]) -> Deflection:
    """Suggest-first: hold the question, show the articles with [This solved it] [I still need help]."""
    row = Deflection(desk=desk.name, requester=requester.identity, requester_name=requester.display_name,
                     conversation=json.dumps(conversation.to_json(), ensure_ascii=False), message_id=message_id,
                     text=text, lang=lang, created_at=ctx.now,
                     suggestions=json.dumps([{"id": s.article_id, "title": s.title} for s in suggestions],
                                            ensure_ascii=False))
    ctx.session.add(row)
    ctx.session.flush()
    record_feedback(ctx, [s.article_id for s in suggestions], "shown", identity=requester.identity,
                    deflection_id=row.id)
    ids = {"deflection": str(row.id)}
    ctx.send(Outgoing(to=conversation, reply=Reply(
        fallback_text=t("kb.suggest_title", lang) + "\n" + suggestion_lines(suggestions),
        title=t("kb.suggest_title", lang),
        body_md=suggestion_lines(suggestions) + "\n\n" + t("kb.suggest_body", lang),
        buttons=(Button(label=t("btn.kb_solved", lang), action_id="kb.solved", value=ids, style="primary"),
                 Button(label=t("btn.kb_need_help", lang), action_id="kb.need_help", value=ids)),
        card_key=f"deflect:{row.id}", lang=lang)))
    return row


# words under a suggestion card count as an answer to it for this long
ANSWER_WINDOW = timedelta(hours=24)


def pending_for(ctx: Context, requester: UserRef, conversation: ConversationRef, *,
                thread_id: str | None) -> Deflection | None:
    """The asker's newest undecided suggestions in this chat (under this message, when a thread is given)."""
    rows = ctx.session.exec(select(Deflection).where(
        Deflection.requester == requester.identity, Deflection.status == "pending",
        Deflection.created_at >= ctx.now - ANSWER_WINDOW).order_by(Deflection.id.desc()).limit(5)).all()  # type: ignore[union-attr]
    for row in rows:
        where = ConversationRef.from_json(json.loads(row.conversation))
        if (where.platform, where.chat_id) != (conversation.platform, conversation.chat_id):
            continue
        if thread_id is None or thread_id in (row.message_id, where.thread_id):
            return row
    return None


def decide(ctx: Context, deflection_id: str | None, actor: UserRef, solved: bool) -> tuple[Deflection, bool]:
    """Conditional write: only the asker, only once. Returns (row, won)."""
    row = ctx.session.get(Deflection, int(deflection_id)) if deflection_id and deflection_id.isdigit() else None
    if row is None:
        raise Refusal("unknown.action")
    if row.requester != actor.identity:
        raise Refusal("kb.not_yours")
    won = ctx.session.execute(
        update(Deflection).execution_options(synchronize_session=False)
        .where(col(Deflection.id) == row.id, col(Deflection.status) == "pending")
        .values(status="deflected" if solved else "escalated", decided_at=ctx.now)
    ).rowcount  # type: ignore[attr-defined]
    ctx.session.refresh(row)
    ids = [s["id"] for s in json.loads(row.suggestions)]
    if won:
        record_feedback(ctx, ids, "helpful" if solved else "not_helpful", identity=actor.identity,
                        deflection_id=row.id)
    return row, bool(won)


def closed_card(row: Deflection, text_key: str, **kw: object) -> Reply:
    return Reply(fallback_text=t(text_key, row.lang, **kw), body_md=t(text_key, row.lang, **kw),
                 title=t("kb.suggest_title", row.lang), card_key=f"deflect:{row.id}", lang=row.lang)


def deflection_count(ctx: Context) -> int:
    return len(ctx.session.exec(select(Deflection.id).where(Deflection.status == "deflected")).all())


def suggestions_of(row: Deflection) -> list[Suggestion]:
    return [Suggestion(article_id=s["id"], title=s["title"], score=0.0) for s in json.loads(row.suggestions)]
