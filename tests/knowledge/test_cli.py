"""`deskbot kb`: import, list, show, stats and search against the configured database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from bot import kb_cli
from bot.cli import main
from knowledge import STARTER_DIR
from knowledge.articles import load_dir
from tests.harness import DeskHarness, default_settings, find_button

STARTER_COUNT = len(load_dir(STARTER_DIR)[0])


@pytest.fixture
def config_file(db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n\n[webchat]\nenabled = false\n', encoding="utf-8")
    return path


@pytest.fixture
def kb(config_file: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(main, ["--config", str(config_file), "kb", *args], input=stdin,
                             catch_exceptions=False)

    return run


@pytest.fixture
def imported(kb, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path / "kb"
    shutil.copytree(STARTER_DIR, target)
    result = kb("import", str(target))
    assert result.exit_code == 0, result.output
    return target


def test_import_reports_what_changed_and_is_idempotent(kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "kb"
    shutil.copytree(STARTER_DIR, target)
    first = kb("import", str(target))
    assert first.exit_code == 0
    assert f"{STARTER_COUNT} added, 0 updated, 0 unchanged, 0 invalid" in first.stdout
    assert "  added      access-card" in first.stdout
    assert f"  added      … and {STARTER_COUNT - kb_cli.LIST_AT_MOST} more" in first.stdout

    second = kb("import", str(target))
    assert second.exit_code == 0
    assert f"0 added, 0 updated, {STARTER_COUNT} unchanged, 0 invalid" in second.stdout
    assert "restart" not in second.stdout  # nothing changed, nothing to pick up

    (target / "bad.md").write_text("---\nid: bad one\ntitle: x\nlang: en\n---\nbody\n", encoding="utf-8")
    blue = target / "blue-screen.md"
    blue.write_text(blue.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    third = kb("import", str(target))
    assert third.exit_code == 1  # invalid files make the exit status fail, the valid ones are still imported
    assert f"0 added, 1 updated, {STARTER_COUNT - 1} unchanged, 1 invalid" in third.stdout
    assert "  updated    blue-screen" in third.stdout
    assert "invalid    bad.md: bad id 'bad one'" in third.stderr


def test_import_as_json_and_with_a_progress_bar(kb, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "kb"
    shutil.copytree(STARTER_DIR, target)
    report = json.loads(kb("import", "--json", str(target)).stdout)
    assert report["added"] == STARTER_COUNT and report["invalid_files"] == []
    monkeypatch.setattr(kb_cli, "PROGRESS_MIN_FILES", 10)
    result = kb("import", str(target))
    assert "Reading articles" in result.stderr
    assert f"{STARTER_COUNT} unchanged" in result.stdout


def test_import_of_a_missing_folder_is_a_usage_error(kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = kb("import", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_list_and_show(kb, imported: Path) -> None:  # type: ignore[no-untyped-def]
    listing = kb("list").stdout.splitlines()
    assert listing[0].split() == ["ID", "STATUS", "LANG", "CATEGORY", "TITLE"]
    assert listing[-1] == f"{STARTER_COUNT} article(s)"
    assert any(line.startswith("blue-screen ") and " published " in line for line in listing)
    items = json.loads(kb("list", "--json", "--lang", "zh").stdout)
    assert items and {i["lang"] for i in items} == {"zh"}
    assert json.loads(kb("list", "--json", "--status", "draft").stdout) == []

    shown = kb("show", "blue-screen").stdout
    assert shown.startswith("blue-screen  [published]  Blue screen")
    assert "shown 0, helpful 0, not helpful 0" in shown
    data = json.loads(kb("show", "--json", "access-card").stdout)
    assert data["lang"] == "zh" and "工牌丢了怎么办" in data["aliases"] and data["status"] == "published"

    missing = kb("show", "no-such-article")
    assert missing.exit_code == 1 and "article no-such-article not found" in missing.stderr


def test_search_one_query(kb, imported: Path) -> None:  # type: ignore[no-untyped-def]
    table = kb("search", "lost my badge").stdout.splitlines()
    assert table[0].split() == ["SCORE", "ID", "TITLE"] and table[1].split()[1] == "access-card"
    data = json.loads(kb("search", "--json", "--limit", "1", "蓝屏了").stdout)
    assert data["q"] == "蓝屏了"
    assert [(r["id"], set(r)) for r in data["results"]] == [("blue-screen", {"id", "title", "score"})]
    assert 0.4 <= data["results"][0]["score"] <= 1.0
    assert kb("search", "good morning everyone").stdout.strip() == "no article is a confident match"
    assert json.loads(kb("search", "--json", "good morning everyone").stdout)["results"] == []


def test_search_reads_queries_from_stdin_and_writes_json_lines(kb, imported: Path) -> None:  # type: ignore[no-untyped-def]
    result = kb("search", "--limit", "2", stdin="wifi keeps dropping\nhello\n\n打印机卡纸了\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["q"] for line in lines] == ["wifi keeps dropping", "hello", "", "打印机卡纸了"]
    assert lines[0]["results"][0]["id"] == "wifi-slow-dropping"
    assert lines[1]["results"] == [] and lines[2]["results"] == []
    assert lines[3]["results"][0]["id"] == "printer-paper-jam" and len(lines[3]["results"]) <= 2


def test_search_only_sees_published_articles(kb, imported: Path, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("UPDATE articles SET status = 'draft' WHERE id = 'blue-screen'"))
    data = json.loads(kb("search", "--json", "蓝屏了").stdout)
    assert "blue-screen" not in [r["id"] for r in data["results"]]


def test_stats_counts_feedback_and_deflections(kb, imported: Path, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from core.db.uow import UnitOfWork
    from knowledge.suggest import StoredKnowledge

    empty = kb("stats").stdout
    assert f"articles: {STARTER_COUNT} published, 0 draft" in empty and "no suggestions shown yet" in empty

    knowledge = StoredKnowledge(uow=UnitOfWork(engine))
    knowledge.load()
    h = DeskHarness(engine, default_settings(knowledge_mode="suggest_first"), knowledge=knowledge)
    alice, bob = h.user("alice"), h.user("bob")
    h.click(alice, find_button(h.say(alice, "电脑蓝屏了"), "kb.solved"), chat="it-help")
    h.click(bob, find_button(h.say(bob, "blue screen again after the update"), "kb.need_help"), chat="it-help")
    h.say(alice, "wifi keeps dropping")  # shown, not answered yet

    out = kb("stats").stdout
    assert "deflections: 1 solved by an article, 1 still needed help, 1 unanswered (deflection rate 50%)" in out
    row = next(line for line in out.splitlines() if line.startswith("blue-screen "))
    assert row.split()[1:5] == ["2", "1", "1", "50%"]
    data = json.loads(kb("stats", "--json").stdout)
    assert data["deflections"] == {"deflected": 1, "escalated": 1, "pending": 1, "rate": 0.5}
    blue = next(a for a in data["articles"] if a["id"] == "blue-screen")
    assert (blue["shown"], blue["helpful"], blue["not_helpful"], blue["helpful_rate"]) == (2, 1, 1, 0.5)
    assert len(json.loads(kb("stats", "--json", "--all").stdout)["articles"]) == STARTER_COUNT


def test_a_new_install_searches_the_starter_articles(kb, config_file: Path) -> None:  # type: ignore[no-untyped-def]
    found = kb("search", "蓝屏了", "--json")
    assert found.exit_code == 0
    assert json.loads(found.stdout)["results"][0]["id"] == "blue-screen"
    assert kb("list").stdout.strip().endswith(f"{STARTER_COUNT} article(s)")


def test_without_the_starter_an_empty_knowledge_base_stays_empty(kb, config_file: Path) -> None:  # type: ignore[no-untyped-def]
    config_file.write_text(config_file.read_text(encoding="utf-8") + "\n[knowledge]\nstarter = false\n",
                           encoding="utf-8")
    assert json.loads(kb("search", "蓝屏了", "--json").stdout)["results"] == []


def test_show_markdown_round_trips_through_import(kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = kb("show", "printer-offline", "--markdown").stdout
    folder = tmp_path / "edited"
    folder.mkdir()
    (folder / "printer-offline.md").write_text(text, encoding="utf-8")
    assert "0 added, 0 updated, 1 unchanged, 0 invalid" in kb("import", str(folder)).stdout
    (folder / "printer-offline.md").write_text(text.replace("脱机", "离线", 1), encoding="utf-8")
    assert "0 added, 1 updated, 0 unchanged, 0 invalid" in kb("import", str(folder)).stdout
