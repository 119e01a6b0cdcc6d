"""Benchmark: SLA engine over 100,000 open tickets on an SQLite file — restarts, sweep, alert lateness under load."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select, text
from sqlmodel import Session

from core import tickets
from core.clock import SystemClock
from core.context import Context, Services
from core.db.engine import make_engine
from core.db.models import SlaAlert, Ticket, TicketPause
from core.db.uow import UnitOfWork
from core.events import UserRef
from core.migrations import upgrade
from core.settings import CoreSettings, Desk, Roles
from core.sla.display import calendar_for
from core.sla.engine import clock_for, install, next_due, sweep
from core.sla.restart import recompute_on_start

WARN_AFTER = timedelta(minutes=11, seconds=15)  # 75 % of P0's 15-minute first response


def settings() -> CoreSettings:
    return CoreSettings(desks=[Desk(name="IT", prefix="IT", team_chat="webchat:it-team",
                                    roles=Roles(technicians=["webchat:wang"], leads=["webchat:lead"]))])


def build(uow: UnitOfWork, services: Services, *, total: int, burst: int, burst_start: datetime,
          burst_seconds: float, now: datetime, rng: random.Random) -> list[int]:
    """Insert `total` open tickets; the first `burst` are P0s whose first-response warning falls in the
    burst window. Of the rest, a third breached long ago with every alert already sent, a fifth wait
    on the requester, the others have their next alert in the future. Returns the burst ticket ids."""
    desk = services.desks.default
    rows, pauses, burst_ids = [], [], []
    for n in range(1, total + 1):
        kind = "burst" if n <= burst else rng.choice(("old", "old", "future", "future", "future", "waiting"))
        if kind == "burst":
            created = burst_start + timedelta(seconds=burst_seconds * (n - 1) / burst) - WARN_AFTER
            priority = "P0"
            burst_ids.append(n)
        elif kind == "old":
            created = now - timedelta(days=rng.uniform(5, 40))
            priority = rng.choice(("P0", "P1", "P2", "P3"))
        else:
            priority = rng.choice(("P2", "P3"))
            created = now - timedelta(minutes=rng.uniform(0, 90))
        assigned = kind != "burst" and rng.random() < 0.6
        status = "waiting" if kind == "waiting" else ("in_progress" if assigned else "new")
        rows.append(dict(
            id=n, desk=desk.name, number=n, key=f"IT-{n}", subject=f"problem {n}", description="", priority=priority,
            status=status, requester=f"webchat:user{n % 997}", lang="zh-CN",
            assignee="webchat:wang" if assigned or kind == "waiting" else None,
            assignee_name="wang" if assigned or kind == "waiting" else None,
            created_at=created, updated_at=created, reopen_count=0, sla_cycle=0, version=1,
            paused_seconds=0.0, paused_since=created + timedelta(minutes=5) if kind == "waiting" else None,
            first_response_at=created + timedelta(minutes=5) if assigned or kind == "waiting" else None,
        ))
        if kind == "waiting":
            pauses.append(dict(ticket_id=n, cycle=0, started_at=created + timedelta(minutes=5), ended_at=None))
    with uow.begin() as session:
        conn = session.connection()
        for i in range(0, len(rows), 5000):
            conn.execute(Ticket.__table__.insert(), rows[i:i + 5000])  # type: ignore[attr-defined]
        conn.execute(TicketPause.__table__.insert(), pauses)  # type: ignore[attr-defined]
        # the long-breached tickets already had every alert: the once-only rows exist
        alerts = []
        for row in rows[burst:]:
            if row["created_at"] < now - timedelta(days=4):
                clock = clock_for(SimpleNamespace(**row, sla_started_at=None, resolved_at=None, closed_at=None),
                                  desk, now)
                assert clock is not None
                alerts.extend(dict(ticket_id=row["id"], kind=k, cycle=0, at=at) for k, at in clock.moments()
                              if at <= now)
        for i in range(0, len(alerts), 5000):
            conn.execute(SlaAlert.__table__.insert(), alerts[i:i + 5000])  # type: ignore[attr-defined]
        conn.execute(text("INSERT INTO ticket_counters (desk, last_number) VALUES ('IT', :n)"), {"n": total})
    return burst_ids


def timed(label: str, fn, *args, **kw):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    result = fn(*args, **kw)
    took = time.perf_counter() - started
    print(f"  {label}: {took:.2f} s")
    return result, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=3000, help="alerts coming due during the lateness run")
    parser.add_argument("--burst-seconds", type=float, default=30.0)
    parser.add_argument("--changes-per-second", type=float, default=50.0,
                        help="concurrent ticket changes (priority) while alerts fire")
    parser.add_argument("--lead-seconds", type=float, default=120.0,
                        help="the burst starts this long after the tickets are created")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    path = args.db or Path(tempfile.mkdtemp(prefix="deskbot-bench-")) / "sla.db"
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    uow = UnitOfWork(engine)
    rng = random.Random(args.seed)
    wall = SystemClock()
    now = wall.now()
    services = Services(settings=settings(), clock=wall)
    install(services)
    burst_start = now + timedelta(seconds=args.lead_seconds)  # time for building and the restart figures
    print(f"SLA benchmark: {args.tickets:,} open tickets in {path}")
    burst_ids, _ = timed("insert tickets", build, uow, services, total=args.tickets, burst=args.burst,
                         burst_start=burst_start, burst_seconds=args.burst_seconds, now=now, rng=rng)

    print("restart:")
    stats, _ = timed("first start ever (no deadlines stored): recompute all, store the fingerprint",
                     recompute_on_start, uow, services)
    print(f"    {stats.tickets:,} tickets, {stats.changed:,} written")

    def arm() -> datetime | None:
        with uow.begin() as session:
            return next_due(session)

    _, armed = timed("timers armed on the stored moments (what a restart waits for)", arm)
    stats, unchanged = timed("restart, settings and holiday data unchanged: fingerprint check",
                             recompute_on_start, uow, services)
    assert stats.skipped
    print(f"    skipped: {stats.skipped}")
    # a policy change: the lunch break now ends at 13:00 instead of 13:30, which moves every
    # working-time deadline (a business day grows from 7.5 h to 8 h)
    changed_settings = settings()
    changed_settings.desks[0].calendar.hours = ["09:00-12:00", "13:00-18:00"]
    changed_services = Services(settings=changed_settings, clock=wall)
    install(changed_services)
    stats, restart = timed("restart after a policy change (lunch break ends 13:00): full recompute",
                           recompute_on_start, uow, changed_services)
    assert not stats.skipped
    print(f"    {stats.tickets:,} tickets, {stats.changed:,} written")
    changed_count = stats.changed
    stats, _ = timed("restart back on the original policy: full recompute", recompute_on_start, uow, services)
    print(f"    {stats.tickets:,} tickets, {stats.changed:,} written")

    print("reconciliation sweep (index range on sla_next_at):")

    def one_sweep(at: datetime) -> tuple[int, int]:
        # rolled back: these alerts belong to the real timers below
        session = Session(engine)
        try:
            result = sweep(Context(session=session, services=services, now=at))
        finally:
            session.rollback()
            session.close()
        return result.tickets, result.alerts

    (n_tickets, n_alerts), sweep_empty = timed("nothing due", one_sweep, wall.now())
    print(f"    {n_tickets} tickets due, {n_alerts} alerts")
    with uow.begin() as session:
        due = session.execute(select(Ticket.sla_next_at).where(Ticket.sla_next_at.is_not(None))  # type: ignore[union-attr]
                              .order_by(Ticket.sla_next_at).limit(1).offset(99)).scalar()
    # a sweep that finds 100 due tickets (as if the clock had jumped to the 100th next moment)
    (n_tickets, n_alerts), sweep_100 = timed("100 tickets due", one_sweep, due)
    print(f"    {n_tickets} tickets due, {n_alerts} alerts sent")

    print(f"alert lateness: {args.burst:,} first-response warnings due over {args.burst_seconds:.0f} s, "
          f"{args.changes_per_second:.0f} ticket changes/s alongside, real clock, APScheduler timers")
    lateness = asyncio.run(lateness_run(uow, services, args, burst_start, burst_ids, rng))
    lateness.sort()
    p = lambda q: lateness[min(len(lateness) - 1, int(q * len(lateness)))]  # noqa: E731
    print(f"  {len(lateness):,} alerts: p50 {p(0.50):.3f} s, p95 {p(0.95):.3f} s, p99 {p(0.99):.3f} s, "
          f"max {lateness[-1]:.3f} s, mean {statistics.mean(lateness):.3f} s")
    print(f"summary: restart: timers armed in {armed * 1000:.0f} ms; unchanged settings {unchanged * 1000:.0f} ms "
          f"(no recompute), after a policy change full recompute {restart:.2f} s ({changed_count:,} of "
          f"{args.tickets:,} rewritten) (target 5); sweep {sweep_empty:.3f} s idle / {sweep_100:.2f} s with "
          f"100 due (target 1), lateness p99 {p(0.99):.3f} s (target 2)")
    engine.dispose()


async def lateness_run(uow: UnitOfWork, services: Services, args: argparse.Namespace, burst_start: datetime,
                       burst_ids: list[int], rng: random.Random) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.sla_timers import SlaTimers

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    runtime = SimpleNamespace(container=SimpleNamespace(uow=uow, services=services, clock=services.clock),
                              scheduler=scheduler, deliverer=SimpleNamespace(wake=asyncio.Event()))
    timers = SlaTimers()
    await timers.start(runtime)
    stop = threading.Event()
    changes = threading.Thread(target=change_tickets, args=(uow, services, args, rng, stop, len(burst_ids)),
                               daemon=True)
    changes.start()
    end = burst_start + timedelta(seconds=args.burst_seconds + 3)
    while datetime.now(UTC) < end:
        await asyncio.sleep(0.5)  # the benchmark lets real time pass; the timers do the work
    stop.set()
    await asyncio.to_thread(changes.join)
    await timers.stop()
    scheduler.shutdown(wait=False)

    commits = {ran_at: committed for ran_at, committed, _ in timers.runs}
    desk = services.desks.default
    out = []
    with uow.begin() as session:
        rows = session.execute(select(SlaAlert.ticket_id, SlaAlert.at).where(
            SlaAlert.kind == "respond_warn", SlaAlert.ticket_id.in_(burst_ids))).all()  # type: ignore[attr-defined]
        created = dict(session.execute(select(Ticket.id, Ticket.created_at).where(
            Ticket.id.in_(burst_ids))).all())  # type: ignore[union-attr]
        duplicates = session.execute(text(
            "SELECT COUNT(*) FROM (SELECT 1 FROM sla_alerts GROUP BY ticket_id, kind, cycle HAVING COUNT(*) > 1)"
        )).scalar()
    calendar_for(desk)
    for ticket_id, at in rows:
        due = created[ticket_id] + WARN_AFTER
        out.append((commits[at] - due).total_seconds())
    missing = len(burst_ids) - len(rows)
    print(f"  timer runs: {len(timers.runs)}, warnings sent: {len(rows):,}, missing: {missing}, "
          f"duplicate alert rows: {duplicates}")
    return out


def change_tickets(uow: UnitOfWork, services: Services, args: argparse.Namespace, rng: random.Random,
                   stop: threading.Event, first_id: int) -> None:
    """Technicians changing priorities on other tickets: each change goes through the SLA hook."""
    actor = UserRef(platform="webchat", user_id="wang", display_name="wang")
    gap = 1.0 / args.changes_per_second if args.changes_per_second > 0 else None
    done = 0
    while gap is not None and not stop.is_set():
        started = time.perf_counter()
        ticket_id = rng.randrange(first_id + 1, args.tickets + 1)
        callbacks = []
        with uow.begin() as session:
            ctx = Context(session=session, services=services, now=services.clock.now())
            ticket = session.get(Ticket, ticket_id)
            if ticket is not None and ticket.status != "waiting":
                tickets.set_priority(ctx, ticket, actor, rng.choice(("P2", "P3")))
                done += 1
            callbacks = ctx.after_commit
        for cb in callbacks:
            cb()
        stop.wait(max(gap - (time.perf_counter() - started), 0))
    print(f"  ticket changes made alongside: {done:,}")


if __name__ == "__main__":
    main()
