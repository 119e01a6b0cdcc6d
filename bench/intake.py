"""Benchmark: 5,000 chat messages from 200 people through intake → core → outbox on an SQLite file.

The messages go through the runtime's own path (RuntimeSink with group commit, IntakeWorker with its
default batch size), with every person writing concurrently. Prints events/s and per-event latency
(submitted → processed), then the floor: the very rows that run wrote, written with plain sqlite3
into deskbot's own schema. Each is run three times and the median reported.
Run: .venv/bin/python bench/intake.py [--events N] [--users N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bot.metrics import Metrics  # noqa: E402
from bot.runtime import settle_heap  # noqa: E402
from bot.sink import RuntimeSink  # noqa: E402
from bot.workers import IntakeWorker  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.context import Services  # noqa: E402
from core.db.engine import make_engine  # noqa: E402
from core.db.models import SQLModel  # noqa: E402
from core.db.uow import UnitOfWork  # noqa: E402
from core.events import ConversationRef, MessageReceived, UserRef  # noqa: E402
from core.migrations import upgrade  # noqa: E402
from core.settings import CoreSettings, Desk, Roles  # noqa: E402
from core.sla.engine import install as install_sla  # noqa: E402

PROBLEMS = ["VPN 连不上了", "printer on floor 3 is offline", "Outlook keeps asking for my password",
            "电脑蓝屏了", "wifi very slow in meeting room B", "需要安装 Visio", "my laptop battery won't charge",
            "共享盘没有权限", "can't join the Zoom call, no audio", "门禁卡丢了"]


def make_events(n: int, users: int, seed: int = 7) -> list[MessageReceived]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events = []
    opened: dict[int, str] = {}
    for i in range(n):
        u = rng.randrange(users)
        user = UserRef(platform="bench", user_id=f"u{u}", display_name=f"User {u}")
        roll = rng.random()
        if roll < 0.25 and u in opened:  # a reply in the thread of the person's ticket
            conv = ConversationRef(platform="bench", chat_id="it-help", thread_id=opened[u])
            events.append(MessageReceived(platform="bench", event_id=f"e{i}", received_at=now, user=user,
                                          conversation=conv, message_id=f"m{i}", text="still broken, any news?",
                                          is_thread_reply=True))
            continue
        text = ("谢谢" if roll < 0.30 else "我的工单进度？" if roll < 0.40 else rng.choice(PROBLEMS) + f" #{i}")
        conv = ConversationRef(platform="bench", chat_id="it-help")
        events.append(MessageReceived(platform="bench", event_id=f"e{i}", received_at=now, user=user,
                                      conversation=conv, message_id=f"m{i}", text=text, mentions_bot=True))
        if text.endswith(f"#{i}"):
            opened.setdefault(u, f"m{i}")
    return events


def run_core(path: Path, events: list[MessageReceived], users: int,
             rate: float | None = None) -> tuple[float, list[float], dict[str, int]]:
    """The runtime's own path: RuntimeSink (group commit) and IntakeWorker, people writing concurrently.

    Without `rate` everyone writes as fast as the store accepts (throughput, queues build up); with
    `rate` the messages arrive at that many per second in all (latency of a desk that keeps up)."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    uow = UnitOfWork(engine)
    desk = Desk(name="IT", prefix="IT", default_lang="en", intake_chats=["bench:it-help"],
                team_chat="bench:it-team", roles=Roles(technicians=["bench:tech"]), knowledge_mode="off")
    services = Services(settings=CoreSettings(desks=[desk]), clock=SystemClock())
    install_sla(services)  # as in production: deadlines are computed on every ticket change
    settle_heap()  # as the runtime does once it has started

    async def scenario() -> tuple[float, list[float]]:
        metrics = Metrics()
        sink = RuntimeSink(uow, metrics)
        worker = IntakeWorker(uow, services, sink, metrics, asyncio.Event())  # the runtime's batch size
        submitted: dict[int, float] = {}
        finished: dict[int, float] = {}
        all_done = asyncio.Event()
        original = sink.processed

        def processed(intake_id: int, sent: list) -> None:  # type: ignore[type-arg]
            original(intake_id, sent)
            # the worker may finish an event before its submitter resumes: pair the times at the end
            finished[intake_id] = time.perf_counter()
            if len(finished) == len(events):
                all_done.set()

        sink.processed = processed  # type: ignore[method-assign]
        by_user: dict[str, list[MessageReceived]] = {}
        for event in events:
            by_user.setdefault(event.user.user_id, []).append(event)

        async def person(mine: list[MessageReceived]) -> None:
            for event in mine:  # one person writes one message after another
                t = time.perf_counter()
                row_id = await sink._store(event)
                submitted[row_id] = t  # type: ignore[index]
                sink.wake.set()

        async def paced() -> None:
            assert rate
            begin = time.perf_counter()

            async def one(event: MessageReceived) -> None:
                t = time.perf_counter()
                row_id = await sink._store(event)
                submitted[row_id] = t  # type: ignore[index]
                sink.wake.set()

            pending = []
            for i, event in enumerate(events):
                delay = begin + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(one(event)))
            await asyncio.gather(*pending)

        task = asyncio.create_task(worker.run())
        start = time.perf_counter()
        if rate:
            await paced()
        else:
            await asyncio.gather(*(person(mine) for mine in by_user.values()))
        waiting = asyncio.create_task(all_done.wait())
        await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # the worker died: say why instead of waiting forever
            waiting.cancel()
            task.result()
            raise RuntimeError("intake worker stopped early")
        elapsed = time.perf_counter() - start
        worker.stopping = True
        sink.wake.set()
        await task
        return elapsed, [finished[row] - t for row, t in submitted.items()]

    elapsed, latencies = asyncio.run(scenario())
    counts = {}
    with uow.begin() as s:
        for table in SQLModel.metadata.sorted_tables:
            counts[table.name] = s.execute(select(func.count()).select_from(table)).scalar() or 0
    engine.dispose()
    return elapsed, latencies, counts


def run_floor(source: Path, path: Path) -> tuple[float, float]:
    """The floor: the very rows deskbot wrote (every table, every column, as they ended up), written
    with plain sqlite3 into a fresh file with deskbot's own schema and indexes, in WAL mode. As the
    runtime does, the events are stored first (here one transaction each) and the rest follows in
    transactions of 200 events, each marking its events done; only the final version of a row is
    written, so nothing deskbot updates along the way costs the floor anything."""
    src = sqlite3.connect(source)
    schema = [sql for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    names = [name for (name,) in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    rows, inserts = {}, {}
    for name in names:
        cursor = src.execute(f"SELECT * FROM {name} ORDER BY rowid")
        rows[name] = cursor.fetchall()
        inserts[name] = f"INSERT INTO {name} VALUES ({', '.join('?' * len(cursor.description))})"
        if name == "intake_events":
            columns = [d[0] for d in cursor.description]
    src.close()
    # each event as it was stored (pending, not processed yet); it is marked done below
    status, processed_at = columns.index("status"), columns.index("processed_at")
    events = []
    for row in rows.pop("intake_events"):
        stored = list(row)
        stored[status], stored[processed_at] = "pending", None
        events.append((stored, (row[processed_at], row[columns.index("id")])))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        conn.execute(sql)
    others = {name: table for name, table in rows.items() if table}
    share = {name: len(table) / len(events) for name, table in others.items()}
    start = time.perf_counter()
    for row, _ in events:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(inserts["intake_events"], row)
        conn.execute("COMMIT")
    stores = time.perf_counter() - start
    written = dict.fromkeys(others, 0)
    carry = dict.fromkeys(others, 0.0)
    for first in range(0, len(events), 200):
        batch = events[first:first + 200]
        conn.execute("BEGIN IMMEDIATE")
        for _ in batch:
            for name, table in others.items():
                carry[name] += share[name]
                while carry[name] >= 1 and written[name] < len(table):
                    conn.execute(inserts[name], table[written[name]])
                    written[name] += 1
                    carry[name] -= 1
        conn.executemany("UPDATE intake_events SET status = 'done', processed_at = ? WHERE id = ?",
                         [done for _, done in batch])
        conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")  # what rounding left over
    for name, table in others.items():
        conn.executemany(inserts[name], table[written[name]:])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--paced", type=float, default=0.5,
                        help="second run: messages arrive at this share of the measured throughput")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of deskbot and of the floor; the median of each is reported")
    args = parser.parse_args()
    events = make_events(args.events, args.users)
    with tempfile.TemporaryDirectory() as tmp:
        runs = sorted(((run_core(Path(tmp) / f"deskbot{i}.db", events, args.users), i) for i in range(args.repeat)),
                      key=lambda run: run[0][0])
        (elapsed, latencies, counts), median_run = runs[len(runs) // 2]
        floors = sorted(run_floor(Path(tmp) / f"deskbot{median_run}.db", Path(tmp) / f"floor{i}.db")
                        for i in range(args.repeat))
        floor, floor_stores = floors[len(floors) // 2]
        rate = args.paced * len(events) / elapsed
        paced_events = events[: max(500, len(events) // 5)]
        _, paced_latencies, _ = run_core(Path(tmp) / "paced.db", paced_events, args.users, rate=rate)
    rows = sum(v for k, v in counts.items() if k != "alembic_version")
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"events: {len(events)} from {args.users} users; rows written: {rows} "
          f"({', '.join(f'{k}={v}' for k, v in counts.items() if v)})")
    print(f"deskbot end to end: {len(events) / elapsed:,.0f} events/s ({elapsed:.2f} s); "
          f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
    pq = statistics.quantiles(sorted(paced_latencies), n=100)
    print(f"at {rate:,.0f} events/s offered ({args.paced:.0%} of that): latency p50 {pq[49] * 1000:.1f} ms, "
          f"p99 {pq[98] * 1000:.1f} ms over {len(paced_latencies)} events")
    print(f"plain sqlite3 floor: {len(events) / floor:,.0f} events/s ({floor:.2f} s: storing the events "
          f"{floor_stores:.2f} s, the rest {floor - floor_stores:.2f} s)")
    print(f"ratio deskbot/floor: {elapsed / floor:.1f}x (medians of {args.repeat} runs each: deskbot "
          f"{', '.join(f'{r[0][0]:.2f}' for r in runs)} s; floor {', '.join(f'{f[0]:.2f}' for f in floors)} s)")


if __name__ == "__main__":
    main()
