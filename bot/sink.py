"""The runtime's EventSink: durable store off the event loop, then a wake-up for the intake worker."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from adapters.base import IntakeResult
from bot.metrics import Metrics
from core import intake
from core.db.uow import UnitOfWork
from core.events import Inbound
from core.replies import Outgoing

log = logging.getLogger(__name__)


class RuntimeSink:
    """Events submitted at the same moment are stored in one transaction (group commit); each
    submitter is answered only once its event is durable."""

    def __init__(self, uow: UnitOfWork, metrics: Metrics, *, max_group: int = 200) -> None:
        self.uow = uow
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.accepting = True
        self.max_group = max_group
        self._waiters: dict[int, asyncio.Future[list[Outgoing]]] = {}
        self._recent: OrderedDict[int, list[Outgoing]] = OrderedDict()
        self._queue: list[tuple[Inbound, asyncio.Future[int | None]]] = []
        self._storing: asyncio.Task[None] | None = None

    async def _store(self, event: Inbound) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((event, future))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_queued())
        return await future

    async def _store_queued(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group:]
            try:
                ids = await asyncio.to_thread(intake.store_many, self.uow, [e for e, _ in group])
            except Exception as exc:  # noqa: BLE001 - every submitter of the group learns it failed
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), row_id in zip(group, ids, strict=True):
                if not future.done():
                    future.set_result(row_id)

    async def submit(self, event: Inbound, *, wait: float = 0.0) -> IntakeResult:
        if not self.accepting:
            raise RuntimeError("deskbot is shutting down")
        row_id = await self._store(event)
        self.metrics.inc("events_received", event.platform)
        if row_id is None:
            self.metrics.inc("events_duplicate", event.platform)
            return IntakeResult(stored=True, duplicate=True)
        future: asyncio.Future[list[Outgoing]] | None = None
        if wait > 0:
            if row_id in self._recent:  # the worker was quicker than this coroutine's wake-up
                return IntakeResult(stored=True, outputs=tuple(self._recent.pop(row_id)))
            future = asyncio.get_running_loop().create_future()
            self._waiters[row_id] = future
        self.wake.set()
        if future is None:
            return IntakeResult(stored=True)
        try:
            outputs = await asyncio.wait_for(asyncio.shield(future), wait)
        except TimeoutError:
            outputs = []
        finally:
            self._waiters.pop(row_id, None)
        return IntakeResult(stored=True, outputs=tuple(outputs))

    def processed(self, intake_id: int, sent: list[Outgoing]) -> None:
        future = self._waiters.get(intake_id)
        if future is not None:
            if not future.done():
                future.set_result(sent)
            return
        # nobody waits yet: keep the answer briefly for a submitter that is about to ask for it
        self._recent[intake_id] = sent
        while len(self._recent) > 256:
            self._recent.popitem(last=False)
