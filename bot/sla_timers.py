"""SLA timers of the running service: an APScheduler date job at the next due alert, and the reconciliation sweep."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.context import Context, Services
from core.db.uow import UnitOfWork
from core.sla.engine import SWEEP_LIMIT, engine_of, next_due, sla_sweep, sweep
from core.sla.restart import RecomputeStats, recompute_on_start

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("deskbot.sla.timers")

RECONCILE_SECONDS = 60.0  # the safety net: catches what no timer announced (another process, a clock jump)
REARM_SECONDS = 10.0  # how often the next due moment is re-read (changes made by other processes)
JOB_ID = "sla-next"
REARM_JOB_ID = "sla-rearm"


def sweeps() -> list[tuple[str, float, Callable[[Context], object]]]:
    """The periodic reconciliation sweep, for Runtime.sweeps."""
    return [("sla-reconcile", RECONCILE_SECONDS, sla_sweep)]


class SlaTimers:
    """Fires SLA alerts at their exact moments.

    One APScheduler date job always points at the earliest pending alert of any ticket
    (`tickets.sla_next_at`): it runs the sweep, then re-arms itself for the next moment. A ticket
    change moves it earlier (the engine announces new moments after commit); a light interval job
    re-reads the earliest moment so changes made by another process are honoured too. On start,
    every open ticket's deadlines are recomputed under the current config and holiday data when
    these differ from what the stored deadlines were computed under (core.sla.restart).
    """

    def __init__(self, *, rearm_seconds: float = REARM_SECONDS, batch: int = SWEEP_LIMIT) -> None:
        self.rearm_seconds = rearm_seconds
        self.batch = batch
        self.restart: RecomputeStats | None = None
        # (ctx.now of the run, commit time, alerts sent), newest last: what the benchmark reads
        self.runs: deque[tuple[datetime, datetime, int]] = deque(maxlen=10_000)
        self._scheduled: datetime | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: BaseScheduler | None = None
        self._runtime: Any = None
        self._uow: UnitOfWork | None = None
        self._services: Services | None = None
        self._run_done: asyncio.Event | None = None
        self._recompute_task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, runtime: Any) -> None:
        """Call after `runtime.start()` (it needs the runtime's started scheduler)."""
        container = runtime.container
        self._runtime = runtime
        self._uow, self._services = container.uow, container.services
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._run_done = asyncio.Event()
        self._scheduler = runtime.scheduler
        engine = engine_of(self._services)
        if engine is None:
            raise RuntimeError("install the SLA engine first: core.sla.engine.install(services)")
        engine.listeners.append(self._announced)
        assert self._scheduler is not None
        self._scheduler.add_job(self._rearm, "interval", seconds=self.rearm_seconds, id=REARM_JOB_ID,
                                replace_existing=True, max_instances=1, coalesce=True)
        # the stored moments are valid unless config or holiday data changed: arm on them at once,
        # then (only when they changed) recompute every open ticket in the background and re-arm
        await self._rearm()
        self._recompute_task = asyncio.create_task(self._recompute(), name="sla-recompute")

    async def recomputed(self) -> RecomputeStats | None:
        """Wait for the start-up recompute to finish; returns its figures."""
        if self._recompute_task is not None:
            await asyncio.shield(self._recompute_task)
        return self.restart

    async def _recompute(self) -> None:
        assert self._uow is not None and self._services is not None
        try:
            self.restart = await asyncio.to_thread(recompute_on_start, self._uow, self._services,
                                                   should_stop=lambda: self._stopping)
        except Exception:  # noqa: BLE001 - stored deadlines stay in force; the sweep keeps running
            log.exception("sla start-up recompute failed")
            return
        if self.restart.skipped:
            log.info("sla settings and holiday data unchanged since the deadlines were stored; nothing to recompute")
            return
        log.info("sla deadlines recomputed", extra={"tickets": self.restart.tickets, "changed": self.restart.changed,
                                                    "seconds": round(self.restart.seconds, 3),
                                                    "complete": self.restart.complete})
        await self._rearm()

    async def stop(self) -> None:
        self._stopping = True
        if self._recompute_task is not None:
            await asyncio.wait({self._recompute_task}, timeout=30)  # it stops after its current batch
        engine = engine_of(self._services) if self._services is not None else None
        if engine is not None and self._announced in engine.listeners:
            engine.listeners.remove(self._announced)
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            for job_id in (JOB_ID, REARM_JOB_ID):
                if scheduler.get_job(job_id) is not None:
                    scheduler.remove_job(job_id)
        self._scheduled = None

    async def wait_run(self) -> None:
        """Wait for the next timer run to finish (tests await this instead of sleeping)."""
        assert self._run_done is not None
        self._run_done.clear()
        await self._run_done.wait()

    # ------------------------------------------------------------ internals

    def _announced(self, at: datetime) -> None:
        """From any thread, after a commit: a ticket's next alert moment is now `at`."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._want, at)

    def _want(self, at: datetime) -> None:
        if self._scheduled is not None and self._scheduled <= at:
            return
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        # The delay is taken from our clock and the job placed on the wall clock, so an injected
        # clock and the scheduler's real one agree on "in 30 seconds".
        delay = max((at - self._now()).total_seconds(), 0.0)
        scheduler.add_job(self._fire, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay), id=JOB_ID,
                          replace_existing=True, misfire_grace_time=None, max_instances=3)
        self._scheduled = at

    def _now(self) -> datetime:
        assert self._services is not None
        return self._services.clock.now()

    async def _fire(self) -> None:
        assert self._lock is not None
        async with self._lock:
            self._scheduled = None
            try:
                sent = await asyncio.to_thread(self._drain)
            except Exception:  # noqa: BLE001 - the reconciliation sweep and the next re-arm try again
                log.exception("sla timer run failed")
                sent = 0
            if sent:
                self._runtime.deliverer.wake.set()
            if self._run_done is not None:
                self._run_done.set()
        await self._rearm(after_run=True)

    def _drain(self) -> int:
        """Sweep until a batch comes back short (several batches when many alerts fall at once)."""
        assert self._uow is not None and self._services is not None
        total = 0
        while True:
            with self._uow.begin() as session:
                now = self._now()
                result = sweep(Context(session=session, services=self._services, now=now), limit=self.batch)
            self.runs.append((now, datetime.now(UTC), result.alerts))
            total += result.alerts
            if result.tickets < self.batch:
                return total

    async def _rearm(self, *, after_run: bool = False) -> None:
        assert self._uow is not None

        def read() -> datetime | None:
            assert self._uow is not None
            with self._uow.begin() as session:
                return next_due(session)

        try:
            nxt = await asyncio.to_thread(read)
        except Exception:  # noqa: BLE001
            log.exception("sla timer could not read the next due moment")
            return
        if nxt is None:
            return
        now = self._now()
        if after_run and nxt <= now:
            # still due right after a run: rows locked by another process, or a failing ticket;
            # look again shortly instead of spinning
            nxt = now + timedelta(seconds=1)
        self._want(nxt)
