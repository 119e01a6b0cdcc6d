"""Articles in the database (the source of truth): idempotent import from folders, and reading them back."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from core.db.models import Article as ArticleRow
from knowledge.articles import LANGS, Article, load_dir

log = logging.getLogger(__name__)

STATUSES = ("draft", "published", "retired")
# Rows are written in chunks: one statement per chunk keeps a 100,000-article import to seconds.
CHUNK = 500


@dataclass
class ImportReport:
    """What an import did, by article id; `invalid` lists (file, reason) for files that were skipped."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    changed: list[Article] = field(default_factory=list, repr=False)  # added + updated, for the matcher

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "invalid": len(self.invalid)}

    def summary(self) -> str:
        return ", ".join(f"{n} {name}" for name, n in self.counts().items())


def _json_list(raw: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def article_from_row(row: ArticleRow) -> Article:
    """The matcher's view of a stored article (the checksum is recomputed from the content)."""
    lang = (row.lang or "en").lower()
    return Article(
        id=row.id,
        title=row.title or "",
        lang="zh" if lang.startswith("zh") else lang if lang in LANGS else "en",
        body=row.body or "",
        tags=_json_list(row.tags),
        category=row.category or "",
        aliases=_json_list(row.aliases),
    )


def row_values(article: Article) -> dict[str, object]:
    return {
        "title": article.title,
        "lang": article.lang,
        "category": article.category or None,
        "tags": json.dumps(list(article.tags), ensure_ascii=False),
        "aliases": json.dumps(list(article.aliases), ensure_ascii=False),
        "body": article.body,
        "checksum": article.checksum,
    }


def published_articles(session: Session) -> list[Article]:
    """Every published article, by id: what the matcher indexes."""
    rows = session.execute(
        select(ArticleRow).where(ArticleRow.status == "published").order_by(ArticleRow.id)  # type: ignore[arg-type]
    ).scalars()
    return [article_from_row(row) for row in rows]


def signature(session: Session) -> tuple[object, ...]:
    """Changes whenever an article is added, edited, published or retired (every write sets updated_at)."""
    total, published, latest = session.execute(
        select(func.count(), func.count().filter(col(ArticleRow.status) == "published"), func.max(ArticleRow.updated_at))
    ).one()
    return int(total or 0), int(published or 0), latest


def article_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(ArticleRow)).scalar() or 0)


def get_row(session: Session, article_id: str) -> ArticleRow | None:
    return session.get(ArticleRow, article_id)


def list_rows(session: Session, *, status: str | None = None, lang: str | None = None) -> list[ArticleRow]:
    query = select(ArticleRow).order_by(ArticleRow.id)  # type: ignore[arg-type]
    if status:
        query = query.where(col(ArticleRow.status) == status)
    if lang:
        query = query.where(col(ArticleRow.lang) == lang)
    return list(session.execute(query).scalars())


def import_articles(
    session: Session,
    articles: Sequence[Article],
    *,
    now: datetime,
    author: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write articles as published: new ids are added, changed content is updated, the rest left alone.

    "Unchanged" means the same content (checksum) and already published; a draft or retired article whose
    file is imported again is published with the file's content. Articles missing from `articles` are kept.
    """
    report = ImportReport()
    existing = {
        row_id: (checksum, status)
        for row_id, checksum, status in session.execute(
            select(ArticleRow.id, ArticleRow.checksum, ArticleRow.status)  # type: ignore[call-overload]
        ).all()
    }
    for start in range(0, len(articles), CHUNK):
        chunk = articles[start : start + CHUNK]
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for article in chunk:
            values = row_values(article) | {"status": "published", "updated_at": now, "author": author}
            known = existing.get(article.id)
            if known is None:
                inserts.append(values | {"id": article.id})
                report.added.append(article.id)
                report.changed.append(article)
            elif known == (article.checksum, "published"):
                report.unchanged.append(article.id)
            else:
                updates.append(values | {"id": article.id})
                report.updated.append(article.id)
                report.changed.append(article)
            existing[article.id] = (article.checksum, "published")
        if inserts:
            session.execute(insert(ArticleRow), inserts)
        if updates:
            # ORM bulk UPDATE by primary key: one executemany for the whole chunk
            session.execute(update(ArticleRow), updates)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return report


def import_dir(
    session: Session,
    path: str | Path,
    *,
    now: datetime,
    author: str | None = None,
    on_file: Callable[[str], None] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read a folder of article files and import the valid ones; invalid files are reported, not fatal."""
    articles, invalid = load_dir(path, on_file=on_file)
    report = import_articles(session, articles, now=now, author=author, on_chunk=on_chunk)
    report.invalid = invalid
    for name, reason in invalid:
        log.warning("knowledge article skipped", extra={"file": name, "reason": reason})
    log.info("knowledge import", extra={"dir": str(path), **report.counts()})
    return report
