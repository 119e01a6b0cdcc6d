"""SLA compliance reports per desk, priority and technician: in chat for leads and in the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.engine import Engine

from bot.cli import main
from core import reports
from tests.harness import texts
from tests.sla.conftest import SlaDesk
from tests.sla.helpers import cst


def _history(desk: SlaDesk) -> None:
    """Monday 2025-11-17, Shanghai: four tickets with known outcomes."""
    met = desk.open("P1")  # claimed in 10 min, resolved in 2 h: both met
    late = desk.open("P1")  # first response after 45 min, resolved after 9 h: both missed
    desk.open("P2")  # never touched: resolve-by Thursday 10:00 passes
    waiting = desk.open("P2")  # waiting on the requester: not counted against anyone
    desk.clock.advance(minutes=10)
    desk.command("wang", f"claim {met}")
    desk.command("wang", f"claim {waiting}")
    desk.command("wang", f"status {waiting} waiting")
    desk.clock.set(cst(2025, 11, 17, 10, 45))
    desk.command("lead", f"claim {late}")
    desk.clock.set(cst(2025, 11, 17, 12, 0))
    desk.command("wang", f"resolve {met} done")
    desk.clock.set(cst(2025, 11, 17, 19, 0))
    desk.command("lead", f"resolve {late} done")
    desk.clock.set(cst(2025, 11, 20, 11, 0))
    desk.sweep()


def test_compliance_per_desk_priority_and_technician(desk: SlaDesk) -> None:
    _history(desk)
    with desk.uow.begin() as s:
        report = reports.sla_report(s, desk.desk, cst(2025, 11, 17), cst(2025, 11, 21), now=desk.clock.now())
    data = report.as_dict()
    assert data["total"] == {"respond_met": 2, "respond_missed": 2, "resolve_met": 1, "resolve_missed": 2,
                             "open_overdue": 1, "respond_pct": 50.0, "resolve_pct": 33.3}
    assert data["by_priority"]["P1"]["resolve_met"] == 1 and data["by_priority"]["P1"]["resolve_missed"] == 1
    assert data["by_priority"]["P2"] == {"respond_met": 1, "respond_missed": 1, "resolve_met": 0,
                                         "resolve_missed": 1, "open_overdue": 1, "respond_pct": 50.0,
                                         "resolve_pct": 0.0}
    assert data["by_technician"]["Wang"]["resolve_met"] == 1
    assert data["by_technician"]["Lead"]["respond_missed"] == 1
    assert data["by_technician"][""]["open_overdue"] == 1
    # the one sweep on Thursday 11:00 found the untouched P2 (first response and resolution breached,
    # the warnings stale) and the late P1's first response long resolved: two breaches, four escalations
    assert data["alerts"] == {"warn": 0, "breach": 2, "escalate": 4}


def test_leads_get_it_in_chat_in_their_language(desk: SlaDesk) -> None:
    _history(desk)
    answer = texts(desk.command("lead", "report sla 7"))[0]
    assert answer.splitlines()[:2] == [
        "SLA compliance IT 2025-11-13 → 2025-11-20",
        "All: response met 2/4 (50%), resolution met 1/3 (33%), open overdue 1"]
    assert "  P2: response met 1/2 (50%), resolution met 0/1 (0%), open overdue 1" in answer
    assert "  (unassigned): response met 0/1 (0%), resolution met 0/1 (0%), open overdue 1" in answer
    refused = texts(desk.command("wang", "report sla 7"))[0]
    assert "only" in refused.lower()


def test_cli_report_sla(engine: Engine, db_url: str, tmp_path: Path) -> None:
    desk = SlaDesk(engine)
    _history(desk)
    config = tmp_path / "deskbot.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n\n[[desks]]\nname = "IT"\nprefix = "IT"\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "report", "sla", "--since", "2025-11-17",
                                  "--until", "2025-11-21", "--json"])
    assert result.exit_code == 0, result.output
    [data] = json.loads(result.output)
    assert (data["desk"], data["total"]["resolve_met"], data["total"]["resolve_missed"]) == ("IT", 1, 2)
    assert data["since"].startswith("2025-11-16T16:00")  # the desk's local midnight
    result = runner.invoke(main, ["--config", str(config), "report", "sla", "--since", "2025-11-17",
                                  "--lang", "zh-CN"])
    assert result.exit_code == 0, result.output
    assert "IT SLA 达标情况 2025-11-16" in result.output and "按技术人员" in result.output
    result = runner.invoke(main, ["--config", str(config), "report", "sla", "--since", "2025-11-17",
                                  "--desk", "HR"])
    assert result.exit_code == 2 and "no desk named 'HR'" in result.output
