"""Exactly once: each SLA alert survives restarts and crashes, and two processes on PostgreSQL send it once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.clock import FakeClock
from core.context import Context
from core.db.engine import make_engine
from core.db.models import SlaAlert, Ticket
from core.sla import engine as sla_engine
from core.sla.display import calendar_for
from core.sla.engine import clock_for, fire, plan
from core.sla.restart import recompute_all
from tests.sla.conftest import SlaDesk, sla_settings
from tests.sla.helpers import cst, local


class Crash(BaseException):
    """A process dying mid-transaction (not an error the sweep would catch and retry)."""


def test_restart_in_the_middle_misses_nothing_and_repeats_nothing(engine: Engine) -> None:
    first = SlaDesk(engine)
    key = first.open("P1")
    first.clock.advance(minutes=25)
    assert [t for _, t in first.alert_messages()] == []
    first.sweep()  # the warning goes out, then the process stops
    assert [t for _, t in first.alert_messages()] == ["⏰ SLA due soon · IT-1"]

    # a new process on the same database, started after the breach moment
    second = SlaDesk(engine, start=cst(2025, 11, 17, 10, 40))
    stats = recompute_all(second.uow, second.h.services)
    assert (stats.tickets, stats.changed) == (1, 0)  # same config: nothing to rewrite
    assert local(second.ticket(key).sla_next_at) == "2025-11-17 Mon 10:30"  # still due
    second.sweep()
    second.sweep()
    first.clock.set(second.clock.now())
    first.sweep()  # the old process comes back too: nothing new
    assert [t for _, t in second.alert_messages()] == [
        "⏰ SLA due soon · IT-1", "🔴 SLA breached · IT-1", "🔺 SLA escalation level 1 · IT-1"]
    assert second.alert_rows(key) == [("respond_warn", 0), ("respond_breach", 0), ("respond_escalate_1", 0)]


def test_crash_mid_sweep_rolls_back_alert_rows_with_their_messages(engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = SlaDesk(engine)
    for _ in range(3):
        first.open("P0")
    first.clock.advance(minutes=12)  # all three first-response warnings are due
    calls = 0
    real_send = Context.send

    def send_then_die(self: Context, out) -> None:  # noqa: ANN001
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Crash
        real_send(self, out)

    monkeypatch.setattr(Context, "send", send_then_die)
    with pytest.raises(Crash):
        first.sweep()
    monkeypatch.undo()
    assert first.alert_rows() == [] and first.alert_messages() == []  # the first alert went down with the rest

    second = SlaDesk(engine, clock=first.clock)
    recompute_all(second.uow, second.h.services)
    second.sweep()
    second.sweep()
    assert Counter(t for _, t in second.alert_messages()) == {
        "⏰ SLA due soon · IT-1": 1, "⏰ SLA due soon · IT-2": 1, "⏰ SLA due soon · IT-3": 1}


def test_restart_with_a_new_policy_recomputes_open_tickets(engine: Engine) -> None:
    first = SlaDesk(engine)
    open_key = first.open("P1")
    done_key = first.open("P1")
    first.command("wang", f"resolve {done_key} fixed")
    settings = sla_settings()
    settings.desks[0].sla.targets["P1"].resolve = "6h"
    second = SlaDesk(engine, settings=settings, clock=first.clock)
    stats = recompute_all(second.uow, second.h.services)
    assert (stats.tickets, stats.changed) == (1, 1)
    assert local(second.ticket(open_key).resolve_by) == "2025-11-17 Mon 16:00"
    assert local(second.ticket(done_key).resolve_by) == "2025-11-17 Mon 18:00"  # history is not rewritten


def test_a_failing_ticket_does_not_hold_back_the_others(desk: SlaDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk.open("P0", subject="broken")
    desk.open("P0", subject="fine")
    desk.clock.advance(minutes=12)
    real_send = sla_engine.alerts.send

    def picky(ctx, ticket, *a, **kw):  # noqa: ANN001, ANN202
        if ticket.subject == "broken":
            raise RuntimeError("boom")
        return real_send(ctx, ticket, *a, **kw)

    monkeypatch.setattr(sla_engine.alerts, "send", picky)
    desk.sweep()
    assert [t for _, t in desk.alert_messages()] == ["⏰ SLA due soon · IT-2"]
    assert desk.alert_rows() == [("respond_warn", 0)]  # the failed ticket's row was rolled back
    assert desk.ticket("IT-1").sla_next_at == desk.clock.now() + timedelta(minutes=5)  # retried later
    monkeypatch.undo()
    desk.clock.advance(minutes=5)
    desk.sweep()
    assert Counter(t for _, t in desk.alert_messages())["🔴 SLA breached · IT-1"] == 1


# ---------------------------------------------------------------- two processes on PostgreSQL


@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgres"):
        pytest.skip("needs PostgreSQL (set DESKBOT_TEST_PG_URL)")
    return db_url


def test_two_processes_sweeping_together_send_each_alert_once(pg_url: str, engine: Engine) -> None:
    setup = SlaDesk(engine)
    for _ in range(20):
        setup.open("P0")
    clock = FakeClock(setup.clock.now())
    processes = [SlaDesk(make_engine(pg_url), clock=clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(process: SlaDesk) -> None:
        try:
            for minutes in (12, 16, 80, 260, 300):  # warn, breach, escalation 2, resolve breach, ...
                barrier.wait(timeout=30)
                if process is processes[0]:
                    clock.set(setup.clock.now() + timedelta(minutes=minutes))
                barrier.wait(timeout=30)
                for _ in range(3):
                    process.sweep()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in processes]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    for p in processes:
        p.h.uow.engine.dispose()
    assert errors == []
    with setup.uow.begin() as s:
        rows = s.exec(select(SlaAlert.ticket_id, SlaAlert.kind)).all()
    # respond warn/breach/escalation 1/escalation 2, resolve breach/escalation 1/escalation 2 (the
    # resolve warning was stale by the 260-minute sweep)
    assert len(rows) == len(set(rows)) == 20 * 7
    expected: Counter[tuple[str, str]] = Counter()
    for n in range(1, 21):
        expected[("it-team", f"⏰ SLA due soon · IT-{n}")] += 1
        for _ in ("respond", "resolve"):
            expected[("it-team", f"🔴 SLA breached · IT-{n}")] += 1
            expected[("@lead", f"🔺 SLA escalation level 1 · IT-{n}")] += 1
            expected[("@boss", f"🔺 SLA escalation level 2 · IT-{n}")] += 1
    assert Counter(setup.alert_messages()) == expected


def test_racing_for_one_alert_the_database_lets_one_send(pg_url: str, engine: Engine) -> None:
    """No row locks at all (timer in one process, sweep in another): the unique key alone decides."""
    setup = SlaDesk(engine)
    key = setup.open("P0")
    setup.clock.advance(minutes=16)
    barrier = threading.Barrier(2)
    won: list[int] = []
    errors: list[BaseException] = []

    def race() -> None:
        process = SlaDesk(make_engine(pg_url), clock=setup.clock)
        try:
            with process.uow.begin() as session:
                ticket = session.exec(select(Ticket).where(Ticket.key == key)).one()
                ctx = Context(session=session, services=process.h.services, now=process.clock.now())
                desk = ctx.desks.by_name(ticket.desk)
                clock = clock_for(ticket, desk, ctx.now)
                assert clock is not None
                due = plan(clock, calendar_for(desk), set(), ctx.now).due
                barrier.wait(timeout=30)
                won.append(fire(ctx, ticket, desk, clock, due, set()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            process.uow.engine.dispose()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    assert sorted(won) == [0, 2]  # breach + escalation 1 went to one process only
    assert Counter(setup.alert_messages()) == {("it-team", "🔴 SLA breached · IT-1"): 1,
                                                ("@lead", "🔺 SLA escalation level 1 · IT-1"): 1}
