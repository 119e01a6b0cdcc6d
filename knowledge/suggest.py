"""KnowledgePort over the matcher: confident article suggestions for a chat message."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.ports import Suggestion
from knowledge.articles import Article
from knowledge.matcher import Matcher

if TYPE_CHECKING:
    from sqlmodel import Session

    from core.db.uow import UnitOfWork
    from knowledge.store import ImportReport

log = logging.getLogger(__name__)


class MatcherKnowledge:
    """Implements core.ports.KnowledgePort; `matcher` stays reachable so imports and edits update it."""

    def __init__(self, *, matcher: Matcher) -> None:
        self.matcher = matcher

    @classmethod
    def from_articles(
        cls, articles: Iterable[Article], *, threshold: float | None = None
    ) -> MatcherKnowledge:
        matcher = Matcher(articles) if threshold is None else Matcher(articles, threshold=threshold)
        return cls(matcher=matcher)

    def suggest(self, text: str, *, limit: int = 3) -> list[Suggestion]:
        suggestions = []
        for hit in self.matcher.search(text, limit=limit):
            article = self.matcher.get(hit.article_id)
            if article is None:  # removed between search and lookup by another thread
                continue
            suggestions.append(
                Suggestion(
                    article_id=hit.article_id,
                    title=hit.title,
                    score=hit.score,
                    summary=article.summary,
                    lang=article.lang,
                )
            )
        return suggestions


class StoredKnowledge:
    """The running desk's KnowledgePort: the matcher over the published articles in the database.

    The database is the source of truth. `load()` (re)builds the index from it; `import_dir()` and
    `article_published()` (called after a publish commits) update the index at once. Loading never happens
    inside `suggest()`: that runs inside the intake transaction, where a second SQLite transaction would
    wait on the first.
    """

    def __init__(self, *, uow: UnitOfWork, threshold: float | None = None) -> None:
        self.uow = uow
        self.threshold = threshold
        self._port = MatcherKnowledge.from_articles((), threshold=threshold)
        self._signature: tuple[object, ...] | None = None
        self._lock = threading.RLock()
        self.loaded = False

    @property
    def matcher(self) -> Matcher:
        return self._port.matcher

    def load(self, session: Session | None = None) -> int:
        """Build a fresh index from the published articles and swap it in; returns how many."""
        from knowledge.store import published_articles, signature

        if session is None:
            with self.uow.begin() as own:
                return self.load(own)
        # The first statement opens the transaction (on SQLite it takes the write lock) before the index lock:
        # locks are always taken database first, so a reload and a publish callback never wait on each other.
        mark = signature(session)
        # Held from the read to the swap, so an article indexed meanwhile is not lost with the old index.
        with self._lock:
            articles = published_articles(session)
            started = time.perf_counter()
            port = MatcherKnowledge.from_articles(articles, threshold=self.threshold)
            self._port = port  # one assignment: a concurrent suggest() sees the old or the new index, whole
            self._signature = mark
            self.loaded = True
        log.info("knowledge index built",
                 extra={"articles": len(articles), "ms": round((time.perf_counter() - started) * 1000, 1)})
        return len(articles)

    def refresh(self, session: Session) -> bool:
        """Reload when the stored articles changed behind this process's back (`deskbot kb import` run
        elsewhere, another deskbot process publishing). One cheap query when nothing changed."""
        from knowledge.store import signature

        if self.loaded and signature(session) == self._signature:
            return False
        self.load(session)
        return True

    def refresh_sweep(self, ctx: object) -> bool:
        """`refresh` as a scheduled core sweep (called with a Context in its own unit of work)."""
        return self.refresh(ctx.session)  # type: ignore[attr-defined]

    def import_dir(self, path: str | Path, *, now: datetime, author: str | None = None,
                   on_file: Callable[[str], None] | None = None) -> ImportReport:
        from knowledge.store import import_dir

        with self.uow.begin() as session:
            report = import_dir(session, path, now=now, author=author, on_file=on_file)
        with self._lock:
            for article in report.changed:
                self.matcher.upsert(article)
        return report

    def article_published(self, article: object) -> None:
        """An `on_article_published` callback (after commit): index the article, a row or an id, as stored."""
        from sqlalchemy import inspect

        from core.db.models import Article as ArticleRow
        from knowledge.store import article_from_row

        # Re-read rather than trust the row: it belongs to a closed session and may be expired.
        if isinstance(article, ArticleRow):
            identity = inspect(article).identity
            article_id = str(identity[0]) if identity else article.id
        else:
            article_id = str(article)
        with self.uow.begin() as session:
            row = session.get(ArticleRow, article_id)
            current = article_from_row(row) if row is not None and row.status == "published" else None
        # The lock is never held while waiting for the database (a reload holds both in that order).
        with self._lock:
            if current is None:
                self.matcher.remove(article_id)
            else:
                self.matcher.upsert(current)

    def suggest(self, text: str, *, limit: int = 3) -> list[Suggestion]:
        return self._port.suggest(text, limit=limit)
