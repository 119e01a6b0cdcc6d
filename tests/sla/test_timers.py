"""SlaTimers in a running loop: the APScheduler date job fires at the due moment and follows ticket changes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import Engine

from bot.sla_timers import SlaTimers, sweeps
from core.clock import SystemClock
from core.settings import SlaTarget
from core.sla.engine import sla_sweep
from tests.sla.conftest import SlaDesk, sla_settings


def test_sweeps_for_the_runtime() -> None:
    assert [(name, every, fn) for name, every, fn in sweeps()] == [("sla-reconcile", 60.0, sla_sweep)]


async def test_timer_fires_at_the_due_moment_and_follows_changes(engine: Engine) -> None:
    settings = sla_settings(default_priority="P1")
    # a first response due 0.6 s after opening (warning at 0.45 s), so the test runs on the real clock
    settings.desks[0].sla.targets["P1"] = SlaTarget(respond="0.01m", resolve="8h", business_hours=False)
    clock = SystemClock()
    desk = SlaDesk(engine, settings=settings, clock=clock)  # type: ignore[arg-type]
    desk.open("P1")
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    runtime = SimpleNamespace(container=SimpleNamespace(uow=desk.uow, services=desk.h.services, clock=clock),
                              scheduler=scheduler, deliverer=SimpleNamespace(wake=asyncio.Event()))
    timers = SlaTimers(rearm_seconds=30)  # the re-read is not what finds the moments below
    try:
        await timers.start(runtime)
        restart = await timers.recomputed()
        assert restart is not None and restart.tickets == 1
        first = desk.ticket("IT-1")
        await asyncio.wait_for(timers.wait_run(), timeout=5)
        assert [t for _, t in desk.alert_messages()] == ["⏰ SLA due soon · IT-1"]
        assert runtime.deliverer.wake.is_set()
        _, committed, sent = timers.runs[-1]
        # on time: within the lateness the SLA engine promises (p99 ≤ 2 s), however busy the machine
        assert sent == 1 and 0 <= (committed - first.sla_next_at).total_seconds() < 2
        await asyncio.wait_for(timers.wait_run(), timeout=5)  # re-armed for the breach
        assert [t for _, t in desk.alert_messages()][1:] == ["🔴 SLA breached · IT-1",
                                                             "🔺 SLA escalation level 1 · IT-1"]
        # the job now waits an hour for escalation level 2; a ticket opened through intake moves it
        # earlier (the engine announces the new moment after commit)
        waiting = asyncio.ensure_future(timers.wait_run())
        await asyncio.to_thread(desk.h.say, desk.h.user("bob"), "Email server is down")
        await asyncio.wait_for(waiting, timeout=5)
        assert [t for _, t in desk.alert_messages()][3:] == ["⏰ SLA due soon · IT-2"]
    finally:
        await timers.stop()
        scheduler.shutdown(wait=False)
    assert all(job.id not in ("sla-next", "sla-rearm") for job in scheduler.get_jobs())


async def test_a_second_start_with_the_same_settings_skips_the_recompute(engine: Engine) -> None:
    desk = SlaDesk(engine)
    desk.open("P2")
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    runtime = SimpleNamespace(container=SimpleNamespace(uow=desk.uow, services=desk.h.services, clock=desk.clock),
                              scheduler=scheduler, deliverer=SimpleNamespace(wake=asyncio.Event()))
    try:
        figures = []
        for _ in range(2):
            timers = SlaTimers(rearm_seconds=30)
            await timers.start(runtime)
            figures.append(await timers.recomputed())
            await timers.stop()
    finally:
        scheduler.shutdown(wait=False)
    first, second = figures
    assert first is not None and not first.skipped and first.tickets == 1
    assert second is not None and second.skipped and second.tickets == 0
