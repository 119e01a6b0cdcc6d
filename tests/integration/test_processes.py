"""Two OS processes on one database: unique ticket ids, exactly one claim, and a kill mid-way loses nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.harness import DeskHarness
from tests.integration import procs

SPAWN = multiprocessing.get_context("spawn")
TIMEOUT = 90


def start(results: Any, name: str, *args: Any) -> Any:
    process = SPAWN.Process(target=procs.call, args=(results, name, *args), daemon=True)
    process.start()
    return process


def collect(results: Any, processes: list[Any]) -> list[Any]:
    out = [results.get(timeout=TIMEOUT)[1] for _ in processes]
    for p in processes:
        p.join(TIMEOUT)
        assert p.exitcode == 0, p.exitcode
    return out


def rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(r) if len(r) > 1 else r[0] for r in conn.execute(text(sql))]


def test_two_processes_create_tickets_with_unique_ids(db_url: str, engine: Engine) -> None:
    results = SPAWN.Queue()
    ready = [SPAWN.Event(), SPAWN.Event()]
    go = SPAWN.Event()
    processes = [start(results, "create_tickets", db_url, tag, 50, ready[i], go) for i, tag in enumerate("ab")]
    for event in ready:
        assert event.wait(TIMEOUT)
    go.set()
    processed = collect(results, processes)
    assert all(isinstance(n, int) for n in processed), processed
    assert sum(processed) == 100, "each event was processed by exactly one process"
    keys = rows(engine, "SELECT key FROM tickets")
    assert sorted(keys, key=lambda k: int(k.split("-")[1])) == [f"IT-{n}" for n in range(1, 101)]
    subjects = rows(engine, "SELECT subject FROM tickets")
    assert len(set(subjects)) == 100
    assert rows(engine, "SELECT status, count(*) FROM intake_events GROUP BY status") == [("done", 100)]
    assert rows(engine, "SELECT last_number FROM ticket_counters") == [100]


def race_to_claim(db_url: str, engine: Engine) -> list[list[str]]:
    h = DeskHarness(engine)
    h.say(h.user("alice"), "Shared drive is gone")
    results = SPAWN.Queue()
    barrier = SPAWN.Barrier(2)
    answers = collect(results, [start(results, "claim", db_url, who, barrier) for who in ("wang", "li")])
    return answers


def test_two_processes_claim_at_once_exactly_one_wins(db_url: str, engine: Engine) -> None:
    race_to_claim(db_url, engine)
    claims = rows(engine, "SELECT actor FROM timeline WHERE kind = 'claimed'")
    assert len(claims) == 1
    assignee, status, version = rows(engine, "SELECT assignee, status, version FROM tickets")[0]
    assert assignee == claims[0] and status == "in_progress"
    assert len(rows(engine, "SELECT id FROM audit_log WHERE action = 'ticket.claim'")) == 1


def test_the_losing_claim_gets_the_already_claimed_answer(db_url: str, engine: Engine) -> None:
    answers = race_to_claim(db_url, engine)
    winner = rows(engine, "SELECT assignee_name FROM tickets")[0]
    assert sorted(answers) == sorted([[f"{winner} claimed IT-1."], [f"IT-1 is already being handled by {winner}."]])


def test_killed_mid_way_then_restarted_processes_everything_once(db_url: str, engine: Engine) -> None:
    results = SPAWN.Queue()
    stored, reached, never = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    child = start(results, "store_then_process_until_killed", db_url, 30, 10, stored, reached, never)
    assert stored.wait(TIMEOUT) and reached.wait(TIMEOUT)
    os.kill(child.pid, signal.SIGKILL)
    child.join(TIMEOUT)
    assert child.exitcode == -signal.SIGKILL
    # the killed transaction left nothing behind: 9 tickets done, the 10th rolled back with its event
    assert rows(engine, "SELECT count(*) FROM tickets") == [9]
    assert rows(engine, "SELECT status, count(*) FROM intake_events GROUP BY status ORDER BY status") == [
        ("done", 9), ("pending", 21)]
    # restart: a new process picks up every acked event
    restart = start(results, "process_all", db_url)
    assert collect(results, [restart]) == [21]
    assert rows(engine, "SELECT status, count(*) FROM intake_events GROUP BY status") == [("done", 30)]
    subjects = rows(engine, "SELECT subject FROM tickets")
    assert sorted(subjects) == sorted(f"Problem {n} reported by k" for n in range(1, 31))
    assert sorted(rows(engine, "SELECT number FROM tickets")) == list(range(1, 31)) or \
        len(set(rows(engine, "SELECT number FROM tickets"))) == 30
    # every ticket announced exactly once per conversation
    cards = rows(engine, "SELECT card_key, conversation_key, count(*) FROM outbox WHERE card_key LIKE 'ticket:%' "
                         "GROUP BY card_key, conversation_key")
    assert len(cards) == 60 and all(c[2] == 1 for c in cards)


@pytest.fixture(autouse=True)
def _no_leftover_children() -> Any:
    yield
    for child in multiprocessing.active_children():
        child.kill()
