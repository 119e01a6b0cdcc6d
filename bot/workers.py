"""Background work of a running deskbot: process stored events, deliver the outbox, run sweeps."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import threading
from collections import defaultdict, deque

from adapters.base import Adapter
from bot.metrics import Metrics
from bot.sink import RuntimeSink
from core import intake, outbox
from core.clock import Clock
from core.context import Services
from core.db.uow import UnitOfWork
from core.replies import DeliveryError
from core.settings import Delivery

log = logging.getLogger(__name__)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object()):x}"


class IntakeWorker:
    """Processes stored events in order; wakes on new events, polls for other processes' and old ones.

    Up to `batch` events share a transaction: under a burst, bigger batches both process more events
    per second and answer sooner (bench/intake.py); when events trickle in, batches are small anyway."""

    def __init__(self, uow: UnitOfWork, services: Services, sink: RuntimeSink, metrics: Metrics,
                 deliver_wake: asyncio.Event, *, poll_seconds: float = 1.0, batch: int = 200) -> None:
        self.uow, self.services, self.sink, self.metrics = uow, services, sink, metrics
        self.deliver_wake = deliver_wake
        self.poll_seconds, self.batch = poll_seconds, batch
        self.stopping = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            if await asyncio.to_thread(self._drain, loop):
                continue
            self.sink.wake.clear()
            try:
                await asyncio.wait_for(self.sink.wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    def _drain(self, loop: asyncio.AbstractEventLoop) -> int:
        """Process batches back to back while events are pending (in the worker's thread, which does not
        wait for the event loop between batches); each batch's results reach the loop once committed."""
        count = 0
        while not self.stopping:
            processed = intake.process_batch(self.uow, self.services, limit=self.batch,
                                             should_stop=lambda: self.stopping)
            if not processed:
                break
            count += len(processed)
            loop.call_soon_threadsafe(self._finished, processed)
        return count

    def _finished(self, processed: list[intake.Processed]) -> None:
        for item in processed:
            self.sink.processed(item.intake_id, item.sent)
            self.metrics.inc("events_failed" if item.failed else "events_processed", item.platform)
        self.deliver_wake.set()


class RateWindow:
    """At most `count` sends per `seconds` for each conversation, in this process."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def wait_time(self, key: tuple[str, str], rate: tuple[int, float], now: float) -> float:
        count, seconds = rate
        times = self._sent[key]
        while times and now - times[0] >= seconds:
            times.popleft()
        return 0.0 if len(times) < count else seconds - (now - times[0])

    def record(self, key: tuple[str, str], now: float) -> None:
        self._sent[key].append(now)


class Deliverer:
    """Claims due outbox rows (oldest first per conversation) and sends them through their adapter."""

    def __init__(self, uow: UnitOfWork, adapters: dict[str, Adapter], clock: Clock, policy: Delivery,
                 metrics: Metrics, *, poll_seconds: float = 1.0, batch: int = 50) -> None:
        self.uow, self.adapters, self.clock, self.policy, self.metrics = uow, adapters, clock, policy, metrics
        self.owner = owner_id()
        self.wake = asyncio.Event()
        self.poll_seconds, self.batch = poll_seconds, batch
        self.rates = RateWindow()
        # adapters whose send() takes an idempotency key get the outbox row's, so a retry is not shown twice
        self.keyed = {name for name, a in adapters.items()
                      if "idempotency_key" in inspect.signature(a.send).parameters}
        self.stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        # a claim still running in its thread when the runtime stops must not take rows after they were
        # handed back: claims and the final hand-back take this lock, and nothing is claimed after it
        self._claims_lock = threading.Lock()
        self._handed_back = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            claimed, next_in = await asyncio.to_thread(self._claim, loop.time())
            if self.stopping:  # drain hands these rows back; sending them now could send them twice
                break
            for item in claimed:
                task = asyncio.create_task(self._send(item))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if self._inflight:
                await asyncio.wait(set(self._inflight))
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), min(self.poll_seconds, next_in or self.poll_seconds))
            except TimeoutError:
                pass

    def _claim(self, mono_now: float) -> tuple[list[outbox.Claimed], float | None]:
        with self._claims_lock:
            if self._handed_back:
                return [], None
            return self._claim_due(mono_now)

    def _claim_due(self, mono_now: float) -> tuple[list[outbox.Claimed], float | None]:
        now = self.clock.now()
        claimed: list[outbox.Claimed] = []
        next_in: float | None = None
        with self.uow.begin() as session:
            for row in outbox.due_rows(session, now, self.batch, set(self.adapters)):
                adapter = self.adapters[row.platform]
                chat = row.conversation_key.split("|")[2]
                wait = self.rates.wait_time((row.platform, chat), adapter.send_rate, mono_now)
                if wait > 0:
                    next_in = wait if next_in is None else min(next_in, wait)
                    continue
                item = outbox.claim(session, row, self.owner, now, self.policy.lease_seconds)
                if item is None:
                    continue
                if outbox.superseded(session, row):
                    outbox.mark_superseded(session, item.id, self.owner, now)
                    continue
                self.rates.record((row.platform, chat), mono_now)
                claimed.append(item)
        return claimed, next_in

    async def _send(self, item: outbox.Claimed) -> None:
        adapter = self.adapters[item.platform]
        extra = {"idempotency_key": f"deskbot-outbox-{item.id}"} if item.platform in self.keyed else {}
        try:
            result = await adapter.send(item.to, item.reply, update_message_id=item.update_message_id,
                                        reply_to_message_id=item.reply_to_message_id, **extra)
        except DeliveryError as exc:
            self.metrics.inc("outbox_failed", item.platform)
            outcome = await asyncio.to_thread(self._failed, item, exc.reason, exc.retryable, exc.retry_after)
            log.warning("delivery failed", extra={"outbox_id": item.id, "platform": item.platform,
                                                  "reason": exc.reason, "outcome": outcome})
            return
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not kill delivery
            self.metrics.inc("outbox_failed", item.platform)
            log.exception("adapter send raised", extra={"outbox_id": item.id})
            await asyncio.to_thread(self._failed, item, f"{type(exc).__name__}: {exc}", True, None)
            return
        self.metrics.inc("outbox_sent", item.platform)
        await asyncio.to_thread(self._sent, item, result.message_id)

    def _sent(self, item: outbox.Claimed, message_id: str | None) -> None:
        with self.uow.begin() as session:
            outbox.mark_sent(session, item, self.owner, message_id, self.clock.now())

    def _failed(self, item: outbox.Claimed, reason: str, retryable: bool, retry_after: float | None) -> str:
        with self.uow.begin() as session:
            return outbox.mark_failed(session, item, self.owner, self.clock.now(), reason=reason,
                                      retryable=retryable, retry_after=retry_after, policy=self.policy)

    async def drain(self, timeout: float) -> None:
        """On shutdown: let in-flight sends finish for a moment, then hand back what is left."""
        self.stopping = True
        self.wake.set()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        with self._claims_lock:
            self._handed_back = True
            with self.uow.begin() as session:
                outbox.release_owned(session, self.owner)
