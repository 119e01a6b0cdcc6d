"""The `deskbot` command: check-config, db upgrade, tickets, outbox, and the terminal chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli import main
from bot.config import load_config
from bot.terminal import run_terminal_chat
from core import outbox
from core.db.engine import make_engine
from core.db.uow import UnitOfWork
from core.migrations import current_revision
from tests.harness import DeskHarness, default_settings
from tests.integration.helpers import desk_config

TECHNICIANS = '[desks.roles]\ntechnicians = ["webchat:wang"]\n'


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "deskbot.toml"
    path.write_text(desk_config(tmp_path / "desk.db", webchat=False, extra=TECHNICIANS), encoding="utf-8")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> object:
    return runner.invoke(main, list(args), env={"DESKBOT_CONFIG": None, **(env or {})},  # type: ignore[dict-item]
                         catch_exceptions=False)


@pytest.fixture
def seeded(runner: CliRunner, config_path: Path, tmp_path: Path) -> Iterator[DeskHarness]:
    result = invoke(runner, "--config", str(config_path), "db", "upgrade")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    h = DeskHarness(make_engine(f"sqlite:///{tmp_path / 'desk.db'}"), default_settings())
    h.say(h.user("alice"), "VPN is down")
    h.say(h.user("bob"), "Printer is jammed")
    h.command(h.user("wang"), "claim IT-2")
    yield h
    h.uow.engine.dispose()


def test_check_config_ok(runner: CliRunner, config_path: Path) -> None:
    result = invoke(runner, "check-config", str(config_path))
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.output.strip() == f"{config_path}: OK — desks IT; platforms none; database sqlite"  # type: ignore[attr-defined]


def test_run_refuses_a_public_web_chat_without_a_token(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "webchat.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "desk.db"}"\n[webchat]\nenabled = true\n',
                    encoding="utf-8")
    result = invoke(runner, "--config", str(path), "run", "--host", "0.0.0.0")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "webchat.access_token is required" in result.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "desk.db").exists()


def test_check_config_finds_the_file_from_the_environment(runner: CliRunner, config_path: Path) -> None:
    result = invoke(runner, "check-config", env={"DESKBOT_CONFIG": str(config_path)})
    assert result.exit_code == 0 and str(config_path) in result.output  # type: ignore[attr-defined]


def test_check_config_reports_each_problem_with_its_key_path(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[slack]\nenabled = true\n[server]\nprot = 80\n', encoding="utf-8")
    result = invoke(runner, "check-config", str(path))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "server.prot is not a known option" in result.stderr  # type: ignore[attr-defined]
    path.write_text('[slack]\nenabled = true\n', encoding="utf-8")
    result = invoke(runner, "check-config", str(path))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stderr.splitlines() == [  # type: ignore[attr-defined]
        "slack.bot_token is required when slack.enabled = true",
        "slack.signing_secret is required when slack.enabled = true"]
    result = invoke(runner, "check-config", str(path), env={"DESKBOT_SLACK__BOT_TOKEN": "xoxb-1",
                                                            "DESKBOT_SLACK__SIGNING_SECRET": "s"})
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_a_missing_config_file_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "--config", str(tmp_path / "nope.toml"), "tickets", "list")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "does not exist" in result.stderr  # type: ignore[attr-defined]


def test_db_upgrade(runner: CliRunner, config_path: Path, tmp_path: Path) -> None:
    result = invoke(runner, "--config", str(config_path), "db", "upgrade")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    revision = current_revision(engine)
    assert revision and result.output.strip() == f"database at revision {revision}"  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        tables = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    assert {"tickets", "timeline", "audit_log", "intake_events", "outbox"} <= tables
    again = invoke(runner, "--config", str(config_path), "db", "upgrade")
    assert again.exit_code == 0, "upgrading twice is harmless"  # type: ignore[attr-defined]
    engine.dispose()


def test_tickets_list(runner: CliRunner, config_path: Path, seeded: DeskHarness) -> None:
    result = invoke(runner, "--config", str(config_path), "tickets", "list", "--json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    data = json.loads(result.output)  # type: ignore[attr-defined]
    assert [(t["key"], t["status"]) for t in data] == [("IT-2", "in_progress"), ("IT-1", "new")]
    result = invoke(runner, "--config", str(config_path), "tickets", "list", "--status", "new", "--json")
    assert [t["key"] for t in json.loads(result.output)] == ["IT-1"]  # type: ignore[attr-defined]
    table = invoke(runner, "--config", str(config_path), "tickets", "list").output.splitlines()  # type: ignore[attr-defined]
    assert table[0].split() == ["KEY", "STATUS", "PRI", "ASSIGNEE", "SUBJECT"]
    assert table[1].split()[:4] == ["IT-2", "in_progress", "P2", "Wang"]


def test_tickets_show(runner: CliRunner, config_path: Path, seeded: DeskHarness) -> None:
    result = invoke(runner, "--config", str(config_path), "tickets", "show", "it-2", "--json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    data = json.loads(result.output)  # type: ignore[attr-defined]
    assert data["key"] == "IT-2" and data["assignee"] == "webchat:wang"
    assert [e["kind"] for e in data["timeline"]] == ["opened", "claimed"]
    plain = invoke(runner, "--config", str(config_path), "tickets", "show", "IT-2").output  # type: ignore[attr-defined]
    assert "Printer is jammed" in plain and "Claimed by Wang" in plain
    for short in ("2", "#2"):
        same = invoke(runner, "--config", str(config_path), "tickets", "show", short, "--json")
        assert json.loads(same.output)["key"] == "IT-2", short  # type: ignore[attr-defined]
    missing = invoke(runner, "--config", str(config_path), "tickets", "show", "IT-9")
    assert missing.exit_code == 1 and "ticket IT-9 not found" in missing.stderr  # type: ignore[attr-defined]


def test_outbox_list_and_retry(runner: CliRunner, config_path: Path, seeded: DeskHarness) -> None:
    uow: UnitOfWork = seeded.uow
    now = seeded.clock.now()
    with uow.begin() as s:
        row = outbox.due_rows(s, now, 1, {"webchat"})[0]
        item = outbox.claim(s, row, "d", now, 60)
        assert item is not None
        outbox.mark_failed(s, item, "d", now, reason="bot was removed from the chat", retryable=False,
                           retry_after=None, policy=seeded.services.settings.delivery)
    result = invoke(runner, "--config", str(config_path), "outbox", "list", "--json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    parked = json.loads(result.output)  # type: ignore[attr-defined]
    assert [(p["id"], p["status"], p["error"]) for p in parked] == [(item.id, "parked",
                                                                     "bot was removed from the chat")]
    table = invoke(runner, "--config", str(config_path), "outbox", "list").output  # type: ignore[attr-defined]
    assert "bot was removed from the chat" in table
    everything = json.loads(invoke(runner, "--config", str(config_path), "outbox", "list", "--status", "all",
                                   "--json").output)  # type: ignore[attr-defined]
    assert len(everything) == len(seeded.outbox())
    result = invoke(runner, "--config", str(config_path), "outbox", "retry", str(item.id))
    assert result.exit_code == 0 and f"outbox row {item.id} queued again" in result.output  # type: ignore[attr-defined]
    with uow.begin() as s:
        assert s.execute(text("SELECT status, attempts FROM outbox WHERE id = :i"), {"i": item.id}).one() == \
            ("pending", 0)
    again = invoke(runner, "--config", str(config_path), "outbox", "retry", str(item.id))
    assert again.exit_code == 1 and "is not parked" in again.stderr  # type: ignore[attr-defined]


async def test_terminal_chat_as_an_employee(config_path: Path, tmp_path: Path) -> None:
    config = load_config(config_path, {})
    printed: list[str] = []
    await run_terminal_chat(config, name="alice", role="employee", lang=None,
                            lines=["My VPN is down", "/ticket mine", "hi", "/quit", "never read"],
                            write=printed.append)
    screen = "\n".join(printed)
    assert "│ IT-1 · My VPN is down" in screen
    assert "│ [1] Cancel my request" in screen  # an employee's own card offers what they may do
    assert "│ [1] Claim" not in screen
    assert "│ Your open tickets" in screen and "IT-1 [P2] New — My VPN is down" in screen
    assert "deskbot> Hi alice!" in screen
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM intake_events")).scalar() == 3
        assert conn.execute(text("SELECT requester FROM tickets")).scalar() == "cli:alice"
    engine.dispose()


async def test_terminal_chat_buttons_are_numbered_choices(config_path: Path, tmp_path: Path) -> None:
    config = load_config(config_path, {})
    printed: list[str] = []
    await run_terminal_chat(config, name="wang", role="technician", lang=None,
                            lines=["/ticket new Monitor is flickering", "/ticket claim IT-1", "/ticket show IT-1",
                                   "2"], write=printed.append)
    screen = "\n".join(printed)
    assert "wang claimed IT-1." in screen
    assert "│ [1] Ask requester" in screen and "│ [2] Resolve" in screen
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM tickets")).scalar() == "resolved"
    engine.dispose()


async def test_a_second_chat_session_is_heard(config_path: Path, tmp_path: Path) -> None:
    config = load_config(config_path, {})
    await run_terminal_chat(config, name="alice", role="employee", lang=None, lines=["My VPN is down"],
                            write=lambda _: None)
    printed: list[str] = []
    await run_terminal_chat(config, name="alice", role="employee", lang=None, lines=["Printer is jammed"],
                            write=printed.append)
    assert any("IT-2 · Printer is jammed" in p for p in printed)


async def test_messages_for_another_console_are_marked_with_their_chat(config_path: Path) -> None:
    config = load_config(config_path, {})
    await run_terminal_chat(config, name="alice", role="employee", lang=None, lines=["My VPN is down"],
                            write=lambda _: None)
    printed: list[str] = []  # wang resolves alice's ticket; her survey is queued for her console
    await run_terminal_chat(config, name="wang", role="technician", lang=None,
                            lines=["/ticket claim IT-1", "/ticket resolve IT-1 new profile"], write=printed.append)
    survey = [p for p in printed if "Is it fixed?" in p]
    assert survey and all(p.startswith("[→ dm:alice] ") for p in survey)
    own = [p for p in printed if "wang claimed IT-1." in p]
    assert own and not any(p.startswith("[→") for p in own)
