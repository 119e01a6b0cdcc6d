"""`deskbot run` as a real process: SIGTERM stops it cleanly, nothing acknowledged is lost, a restart
finishes the work."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from core.db.engine import make_engine
from tests.integration.helpers import desk_config

MESSAGES = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen([sys.executable, "-c", "from bot.cli import main; main()", "--config",
                                 str(config), "run"], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"deskbot run exited early: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail("deskbot run did not become ready")


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, then a clean exit: the ASGI lifespan shut down (runtime stopped) before the process ended.
    uvicorn re-raises the signal once it has shut down, so the exit status is -SIGTERM (or 0)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Application shutdown complete" in err and "Traceback" not in err, err[-2000:]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one process tree on a file is the point
def test_sigterm_stops_cleanly_and_a_restart_finishes_the_work(db_url: str, tmp_path: Path) -> None:
    from websockets.sync.client import connect

    port, db = free_port(), tmp_path / "desk.db"
    config = tmp_path / "deskbot.toml"
    config.write_text(desk_config(db, webchat=True, extra=f'[server]\nhost = "127.0.0.1"\nport = {port}\n'),
                      encoding="utf-8")
    log = tmp_path / "deskbot.log"
    proc = start(config, port, log)
    with connect(f"ws://127.0.0.1:{port}/chat/ws") as ws:
        ws.send(json.dumps({"type": "hello", "name": "Li Lei", "role": "employee", "lang": "en"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        acked = 0
        for n in range(MESSAGES):
            ws.send(json.dumps({"type": "message", "room": "it-help", "text": f"Problem {n}", "ref": f"r{n}"}))
            while True:  # the page also gets pushes (cards); wait for this message's ack
                frame = json.loads(ws.recv(timeout=10))
                if frame.get("ref") == f"r{n}":
                    assert frame["type"] == "ack", frame
                    acked += 1
                    break
    stop(proc, log)  # right after the last ack
    events = rows(db, "SELECT status, count(*) FROM intake_events GROUP BY status")
    assert sum(int(c) for _, c in events) == acked == MESSAGES  # every acknowledged message was stored
    assert {s for s, _ in events} <= {"done", "pending"}
    assert rows(db, "SELECT count(*) FROM outbox WHERE status = 'sending'") == [(0,)], "in-flight sends handed back"

    proc = start(config, port, log)
    try:
        deadline = time.monotonic() + 30
        while rows(db, "SELECT count(*) FROM intake_events WHERE status != 'done'") != [(0,)]:
            assert time.monotonic() < deadline, "the restarted desk did not finish the stored events"
            time.sleep(0.1)
    finally:
        stop(proc, log)
    keys = [k for (k,) in rows(db, "SELECT key FROM tickets ORDER BY id")]
    assert keys == [f"IT-{n}" for n in range(1, MESSAGES + 1)]
