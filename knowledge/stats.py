"""How the knowledge base helps: suggestions shown, helpful and not helpful per article, and deflections."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from core.db.models import Article as ArticleRow
from core.db.models import ArticleFeedback, Deflection

KINDS = ("shown", "helpful", "not_helpful")


@dataclass(frozen=True, slots=True)
class ArticleStats:
    id: str
    title: str
    status: str  # draft | published | retired, or "missing" when only feedback remains
    shown: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def helpful_rate(self) -> float | None:
        """Share of decided offers that helped; None before anyone decided."""
        decided = self.helpful + self.not_helpful
        return None if decided == 0 else self.helpful / decided


@dataclass(frozen=True, slots=True)
class KnowledgeStats:
    articles: list[ArticleStats]
    published: int
    drafts: int
    deflected: int  # questions answered by an article: no ticket
    escalated: int  # "I still need help": a ticket was opened
    pending: int  # suggestions nobody answered yet

    @property
    def deflection_rate(self) -> float | None:
        decided = self.deflected + self.escalated
        return None if decided == 0 else self.deflected / decided

    def to_json(self) -> dict[str, object]:
        return {
            "published": self.published,
            "drafts": self.drafts,
            "deflections": {"deflected": self.deflected, "escalated": self.escalated, "pending": self.pending,
                            "rate": self.deflection_rate},
            "articles": [asdict(a) | {"helpful_rate": a.helpful_rate} for a in self.articles],
        }


def feedback_counts(session: Session, article_id: str) -> dict[str, int]:
    """Shown / helpful / not helpful for one article."""
    rows = session.execute(
        select(ArticleFeedback.kind, func.count())  # type: ignore[call-overload]
        .where(ArticleFeedback.article_id == article_id).group_by(ArticleFeedback.kind)
    ).all()
    found = {kind: int(n) for kind, n in rows}
    return {kind: found.get(kind, 0) for kind in KINDS}


def gather(session: Session, *, include_unused: bool = False) -> KnowledgeStats:
    """Feedback per article (most shown first) and deflection outcomes, in three grouped queries."""
    counts: dict[str, dict[str, int]] = {}
    for article_id, kind, n in session.execute(
        select(ArticleFeedback.article_id, ArticleFeedback.kind, func.count())  # type: ignore[call-overload]
        .group_by(ArticleFeedback.article_id, ArticleFeedback.kind)
    ).all():
        if kind in KINDS:
            counts.setdefault(article_id, {})[kind] = int(n)
    rows = {
        row_id: (title, status)
        for row_id, title, status in session.execute(
            select(ArticleRow.id, ArticleRow.title, ArticleRow.status)  # type: ignore[call-overload]
        ).all()
    }
    ids = set(counts) | (set(rows) if include_unused else set())
    articles = [
        ArticleStats(id=i, title=rows.get(i, ("", "missing"))[0], status=rows.get(i, ("", "missing"))[1],
                     **counts.get(i, {}))
        for i in ids
    ]
    articles.sort(key=lambda a: (-a.shown, -a.helpful, a.id))
    outcomes: dict[str, int] = dict(session.execute(
        select(Deflection.status, func.count()).group_by(Deflection.status)  # type: ignore[call-overload]
    ).all())
    statuses = [status for _, status in rows.values()]
    return KnowledgeStats(
        articles=articles,
        published=statuses.count("published"),
        drafts=statuses.count("draft"),
        deflected=int(outcomes.get("deflected", 0)),
        escalated=int(outcomes.get("escalated", 0)),
        pending=int(outcomes.get("pending", 0)),
    )
