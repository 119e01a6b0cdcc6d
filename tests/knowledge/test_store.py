"""Articles in the database: idempotent imports, the index built from published rows, start-up seeding."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.db.models import Article as ArticleRow
from core.db.uow import UnitOfWork
from knowledge import STARTER_DIR
from knowledge.articles import Article, load_dir
from knowledge.store import article_from_row, import_articles, import_dir, published_articles
from knowledge.suggest import StoredKnowledge

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

SCANNER = """---
id: barcode-scanner
title: Barcode scanner beeps but nothing is typed
tags: [scanner, warehouse]
category: hardware
lang: en
aliases:
  - warehouse scanner does not enter anything
---

Set the scanner to keyboard mode by scanning the set-up code on its base.
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(STARTER_DIR, target)
    return target


def rows(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(text("SELECT id, status, title FROM articles")).all()}


def test_import_is_idempotent_and_reports_added_updated_unchanged_invalid(engine: Engine, kb_dir: Path) -> None:
    uow = UnitOfWork(engine)
    with uow.begin() as session:
        first = import_dir(session, kb_dir, now=NOW)
    starter, _ = load_dir(STARTER_DIR)
    assert sorted(first.added) == sorted(a.id for a in starter)
    assert (first.updated, first.unchanged, first.invalid) == ([], [], [])
    with uow.begin() as session:
        again = import_dir(session, kb_dir, now=NOW + timedelta(hours=1))
    assert again.counts() == {"added": 0, "updated": 0, "unchanged": len(starter), "invalid": 0}
    assert again.changed == []

    vpn = kb_dir / "vpn-cannot-connect.md"
    vpn.write_text(vpn.read_text(encoding="utf-8").replace("title: ", "title: (edited) ", 1), encoding="utf-8")
    (kb_dir / "scanner.md").write_text(SCANNER, encoding="utf-8")
    (kb_dir / "broken.md").write_text("---\ntitle: no id here\nlang: en\n---\nbody\n", encoding="utf-8")
    (kb_dir / "french.md").write_text(SCANNER.replace("lang: en", "lang: fr").replace("barcode-scanner", "x"),
                                      encoding="utf-8")
    with uow.begin() as session:
        third = import_dir(session, kb_dir, now=NOW + timedelta(hours=2))
    assert third.added == ["barcode-scanner"] and third.updated == ["vpn-cannot-connect"]
    assert len(third.unchanged) == len(starter) - 1
    assert sorted(third.invalid) == [("broken.md", "missing id"), ("french.md", "bad lang 'fr' (must be zh or en)")]
    assert sorted(a.id for a in third.changed) == ["barcode-scanner", "vpn-cannot-connect"]
    stored = rows(engine)
    assert stored["vpn-cannot-connect"][1].startswith("(edited) ")
    assert stored["barcode-scanner"][0] == "published"


def test_a_stored_article_reads_back_as_the_file_said(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    starter, _ = load_dir(STARTER_DIR)
    with uow.begin() as session:
        import_articles(session, starter, now=NOW)
    with uow.begin() as session:
        back = published_articles(session)
    assert back == sorted(starter, key=lambda a: a.id)
    assert [a.checksum for a in back] == [a.checksum for a in sorted(starter, key=lambda a: a.id)]


def test_a_draft_or_retired_article_imported_again_is_published(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    article = Article(id="barcode-scanner", title="Barcode scanner", lang="en", body="Keyboard mode.\n")
    with uow.begin() as session:
        import_articles(session, [article], now=NOW)
        session.execute(text("UPDATE articles SET status = 'retired'"))
    with uow.begin() as session:
        assert published_articles(session) == []
        report = import_articles(session, [article], now=NOW)
    assert report.updated == ["barcode-scanner"]
    assert rows(engine)["barcode-scanner"][0] == "published"


def test_large_imports_write_in_chunks_and_stay_idempotent(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    articles = [Article(id=f"gen-{n:04d}", title=f"Generated printer article {n}", lang="en",
                        body=f"Body {n}: restart the printer.\n", tags=("printer",)) for n in range(1234)]
    with uow.begin() as session:
        chunks: list[int] = []
        report = import_articles(session, articles, now=NOW, on_chunk=chunks.append)
    assert len(report.added) == 1234 and chunks == [500, 500, 234]
    articles[1100] = Article(id="gen-1100", title="Changed", lang="en", body="New body.\n")
    with uow.begin() as session:
        report = import_articles(session, articles, now=NOW)
    assert report.counts() == {"added": 0, "updated": 1, "unchanged": 1233, "invalid": 0}
    assert rows(engine)["gen-1100"][1] == "Changed"


def test_the_index_holds_only_published_articles_and_follows_publishing(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    knowledge = StoredKnowledge(uow=uow, threshold=0.4)
    knowledge.import_dir(STARTER_DIR, now=NOW)
    draft = Article(id="barcode-scanner", title="Barcode scanner beeps but nothing is typed", lang="en",
                    body="Set the scanner to keyboard mode.\n", aliases=("warehouse scanner enters nothing",))
    with uow.begin() as session:
        import_articles(session, [draft], now=NOW)
        session.execute(text("UPDATE articles SET status = 'draft' WHERE id = 'barcode-scanner'"))
    assert knowledge.load() > 30
    question = "the warehouse barcode scanner beeps but types nothing"
    assert knowledge.suggest(question) == []

    with uow.begin() as session:
        row = session.get(ArticleRow, "barcode-scanner")
        assert row is not None
        row.status = "published"
        session.add(row)
    knowledge.article_published(row)  # a row from a closed session, as core passes it after commit
    assert [s.article_id for s in knowledge.suggest(question)] == ["barcode-scanner"]
    suggestion = knowledge.suggest(question)[0]
    assert suggestion.summary == "Set the scanner to keyboard mode." and suggestion.lang == "en"

    with uow.begin() as session:
        session.execute(text("UPDATE articles SET status = 'retired' WHERE id = 'barcode-scanner'"))
    knowledge.article_published("barcode-scanner")  # an id works too
    assert knowledge.suggest(question) == []


def test_refresh_picks_up_changes_made_by_another_process(engine: Engine, tmp_path: Path) -> None:
    uow = UnitOfWork(engine)
    knowledge = StoredKnowledge(uow=uow)
    knowledge.load()
    assert len(knowledge.matcher) == 0
    with uow.begin() as session:
        assert knowledge.refresh(session) is False  # one cheap query, nothing changed
    (tmp_path / "scanner.md").write_text(SCANNER, encoding="utf-8")
    with UnitOfWork(engine).begin() as session:  # `deskbot kb import` elsewhere
        import_dir(session, tmp_path, now=NOW)
    with uow.begin() as session:
        assert knowledge.refresh(session) is True
        assert knowledge.refresh(session) is False
    assert "barcode-scanner" in knowledge.matcher


def test_article_from_row_tolerates_odd_rows() -> None:
    row = ArticleRow(id="x", title="T", lang="zh-CN", category=None, tags="not json", aliases='["a"]', body="b",
                     updated_at=NOW)
    article = article_from_row(row)
    assert (article.lang, article.tags, article.aliases, article.category) == ("zh", (), ("a",), "")


# ---------------------------------------------------------------- start-up

def _config(db_url: str, **knowledge: object):  # type: ignore[no-untyped-def]
    from bot.config import Config

    return Config.model_validate({"database": {"url": db_url}, "webchat": {"enabled": False},
                                  "knowledge": knowledge})


def test_start_up_seeds_the_starter_articles_once_and_imports_folders_idempotently(db_url: str,
                                                                                      tmp_path: Path) -> None:
    from bot.startup import prepare

    (tmp_path / "scanner.md").write_text(SCANNER, encoding="utf-8")
    config = _config(db_url, import_dirs=[str(tmp_path)])
    container = prepare(config)
    try:
        knowledge = container.services.knowledge
        assert isinstance(knowledge, StoredKnowledge)
        assert "barcode-scanner" in knowledge.matcher and "access-card" in knowledge.matcher
        assert knowledge.suggest("蓝屏了")[0].article_id == "blue-screen"
        assert knowledge.article_published in container.services.on_article_published
        with container.uow.begin() as session:
            session.execute(text("DELETE FROM articles WHERE id = 'access-card'"))
    finally:
        container.close()

    # a second start: the knowledge base is not empty, so the starter is not imported again
    container = prepare(config)
    try:
        knowledge = container.services.knowledge
        assert isinstance(knowledge, StoredKnowledge)
        assert "access-card" not in knowledge.matcher and "barcode-scanner" in knowledge.matcher
        with container.uow.begin() as session:
            assert session.execute(text("SELECT count(*) FROM articles WHERE id = 'barcode-scanner'")).scalar() == 1
    finally:
        container.close()


def test_start_up_without_the_starter_leaves_the_knowledge_base_empty(db_url: str) -> None:
    from bot.startup import prepare

    container = prepare(_config(db_url, starter=False))
    try:
        knowledge = container.services.knowledge
        assert isinstance(knowledge, StoredKnowledge)
        assert len(knowledge.matcher) == 0 and knowledge.suggest("蓝屏了") == []
    finally:
        container.close()


def test_a_missing_import_folder_does_not_stop_the_desk(db_url: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from bot.startup import prepare

    container = prepare(_config(db_url, import_dirs=[str(tmp_path / "nowhere")]))
    try:
        assert "knowledge import folder not found" in caplog.text
        assert len(container.services.knowledge.matcher) > 30  # type: ignore[attr-defined]
    finally:
        container.close()
