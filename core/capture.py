"""Knowledge captured from solved tickets: a draft article, reviewed and published by staff."""

from __future__ import annotations

import hashlib
import json

from core.context import Context
from core.db.models import Article, Ticket
from core.desks import Refusal, require
from core.events import UserRef
from core.i18n import ZH, t
from core.records import audit
from core.replies import Button, Reply, clip
from core.settings import Desk


def draft_from_ticket(ctx: Context, ticket: Ticket, actor: UserRef, *, lang: str | None = None) -> Reply:
    """Write (or rewrite) the draft article for a solved ticket; returns the draft for `actor` to review, in
    `lang`, with a Publish button (only to them)."""
    desk = ctx.desks.by_name(ticket.desk)
    require(ctx.session, desk, actor.identity, "technician", "status")
    if ticket.status not in ("resolved", "closed"):
        raise Refusal("kb.need_resolved")
    article_id = f"kb-{ticket.key.lower()}"
    body = "\n\n".join(part for part in (
        ticket.description,
        ("## 解决方法\n" if ticket.lang == ZH else "## Resolution\n") + (ticket.resolution or ""),
    ) if part)
    article = ctx.session.get(Article, article_id)
    if article is None:  # the table's default status is "published" (imports); a capture starts as a draft
        article = Article(id=article_id, title=ticket.subject, status="draft", updated_at=ctx.now)
    article.title = ticket.subject
    article.lang = "zh" if ticket.lang == ZH else "en"
    article.category = ticket.category
    article.aliases = json.dumps([ticket.description[:120]] if ticket.description != ticket.subject else [],
                                 ensure_ascii=False)
    article.body = body
    article.checksum = hashlib.sha256(body.encode()).hexdigest()
    article.status = "draft" if article.status != "published" else article.status
    article.source_ticket_id = ticket.id
    article.author = actor.identity
    article.updated_at = ctx.now
    ctx.session.add(article)
    audit(ctx.session, ctx.now, actor.identity, "article.draft", "article", article_id, None,
          {"ticket": ticket.key})
    if article.status == "published":  # captured again after publishing: the live article changed
        _after_publish(ctx, article)
    return review_card(article, ticket.key, lang or desk.default_lang, actor)


def review_card(article: Article, key: str, lang: str, reviewer: UserRef) -> Reply:
    """The captured article as it will be published: title and body to check, and [Publish]."""
    note = t("kb.captured", lang, id=article.id, key=key)
    published = article.status == "published"
    return Reply(fallback_text=note, title=article.title, body_md=f"{clip(article.body, 1500)}\n\n{note}",
                 buttons=() if published else (Button(label=t("btn.kb_publish", lang), action_id="kb.publish",
                                                      value={"article": article.id}, style="primary"),),
                 lang=lang, only_visible_to=reviewer)


def _after_publish(ctx: Context, article: Article) -> None:
    """Once the transaction commits, let the knowledge index see the article as stored."""
    for callback in ctx.services.on_article_published:
        ctx.after_commit.append(lambda cb=callback, a=article: cb(a))


def publish(ctx: Context, desk: Desk, article_id: str, actor: UserRef, *, lang: str | None = None) -> str:
    require(ctx.session, desk, actor.identity, "technician", "publish")
    # ids captured from tickets are lower case; people type them as they see the ticket key ("KB-IT-12")
    article = ctx.session.get(Article, article_id) or ctx.session.get(Article, article_id.lower())
    if article is None:
        raise Refusal("kb.not_found", id=article_id)
    article_id = article.id
    before = {"status": article.status}
    article.status = "published"
    article.updated_at = ctx.now
    ctx.session.add(article)
    ctx.session.flush()
    audit(ctx.session, ctx.now, actor.identity, "article.publish", "article", article_id, before,
          {"status": "published"})
    _after_publish(ctx, article)
    return t("kb.published", lang or desk.default_lang, id=article_id)
