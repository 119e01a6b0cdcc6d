"""The running service: adapters, intake worker, delivery, scheduled sweeps, and a graceful stop."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.container import Container
from bot.metrics import Metrics
from bot.sink import RuntimeSink
from bot.sla_timers import SlaTimers
from bot.sla_timers import sweeps as sla_sweeps
from bot.workers import Deliverer, IntakeWorker
from core import outbox, tickets
from core.context import Context

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """What start-up built (settings, models, the knowledge index) lives as long as the process:
    collect once, then keep the cycle collector from scanning it again on every full collection."""
    gc.collect()
    gc.freeze()


class Runtime:
    def __init__(self, container: Container, *, poll_seconds: float = 1.0) -> None:
        self.container = container
        self.metrics = Metrics()
        self.sink = RuntimeSink(container.uow, self.metrics)
        self.deliverer = Deliverer(container.uow, container.adapters, container.clock, container.config.delivery,
                                   self.metrics, poll_seconds=poll_seconds)
        self.intake = IntakeWorker(container.uow, container.services, self.sink, self.metrics, self.deliverer.wake,
                                   poll_seconds=poll_seconds)
        self.scheduler: AsyncIOScheduler | None = None
        self.sweeps: list[tuple[str, float, Callable[[Context], object]]] = [
            ("survey-auto-close", 300.0, tickets.auto_close_sweep),
        ]
        self.sweeps.extend(sla_sweeps())
        self.sla_timers = SlaTimers()
        knowledge = container.extras.get("knowledge")
        if knowledge is not None:  # articles imported by `deskbot kb import` reach a running desk
            self.sweeps.append(("knowledge-refresh", 60.0, knowledge.refresh_sweep))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.intake.run(), name="intake"),
                       asyncio.create_task(self.deliverer.run(), name="delivery")]
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(self._release_leases, "interval", seconds=30, id="outbox-leases",
                               max_instances=1, coalesce=True)
        for name, every, sweep in self.sweeps:
            self.scheduler.add_job(self.run_sweep, "interval", seconds=every, args=[sweep], id=name,
                                   max_instances=1, coalesce=True)
        self.scheduler.start()
        await self.sla_timers.start(self)
        for name, adapter in self.container.adapters.items():
            await adapter.start(self.sink)
            log.info("adapter started", extra={"platform": name})
        settle_heap()

    async def run_sweep(self, sweep: Callable[[Context], object]) -> object:
        """Run a core sweep in one unit of work off the loop, then wake delivery."""
        def work() -> object:
            with self.container.uow.begin() as session:
                ctx = Context(session=session, services=self.container.services, now=self.container.clock.now())
                return sweep(ctx)

        result = await asyncio.to_thread(work)
        self.deliverer.wake.set()
        return result

    async def _release_leases(self) -> None:
        def work() -> int:
            with self.container.uow.begin() as session:
                return outbox.release_expired(session, self.container.clock.now())

        if await asyncio.to_thread(work):
            self.deliverer.wake.set()

    async def stop(self, *, drain_seconds: float = 10.0) -> None:
        """Refuse new events, finish the event in hand, let sends finish briefly, hand back the rest,
        then close the adapters (they may still be needed by the sends being finished)."""
        self.sink.accepting = False
        await self.sla_timers.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.intake.stopping = True
        self.sink.wake.set()
        intake_task = self._tasks[0] if self._tasks else None
        if intake_task is not None:
            await asyncio.wait({intake_task}, timeout=drain_seconds)
        await self.deliverer.drain(drain_seconds)
        for name, adapter in self.container.adapters.items():
            try:
                await adapter.stop()
            except Exception:  # noqa: BLE001
                log.exception("adapter stop failed", extra={"platform": name})
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
