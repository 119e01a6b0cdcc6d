"""The running service in-process: submit → store → process → deliver, retries, Retry-After, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.config import Config
from bot.container import Container, build
from bot.runtime import Runtime
from core import intake, tickets
from core.clock import FakeClock
from core.events import ConversationRef, MessageReceived, UserRef
from core.ports import NoKnowledge
from core.replies import DeliveryError
from tests.harness import default_settings
from tests.integration.helpers import FakeAdapter, count, quick_delivery

ALICE = UserRef(platform="webchat", user_id="alice", display_name="Alice")
WANG = UserRef(platform="webchat", user_id="wang", display_name="Wang")
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def make_container(db_url: str, clock: FakeClock, adapter: FakeAdapter, **delivery: Any) -> Container:
    config = Config(database={"url": db_url}, desks=default_settings().desks, delivery=quick_delivery(**delivery))
    container = build(config, clock=clock, knowledge=NoKnowledge(), with_adapters=False)
    container.adapters = {"webchat": adapter}
    return container


def message(n: int, text: str | None = None, user: UserRef = ALICE, *, at: datetime = START) -> MessageReceived:
    return MessageReceived(platform="webchat", event_id=f"ev{n}", received_at=at, user=user,
                           conversation=ConversationRef(platform="webchat", chat_id="it-help"),
                           message_id=f"m{n}", text=text or f"Problem number {n}", mentions_bot=True)


class Tracked:
    """A started Runtime whose delivery outcomes can be awaited (no sleeping)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.outcomes: list[int] = []
        self.changed = asyncio.Event()
        original = runtime.deliverer._send

        async def send(item: Any) -> None:
            await original(item)
            self.outcomes.append(item.id)
            self.changed.set()

        runtime.deliverer._send = send  # type: ignore[method-assign]
        self.cycles = 0
        loop = asyncio.get_running_loop()
        original_claim = runtime.deliverer._claim

        def claim(mono_now: float) -> Any:
            result = original_claim(mono_now)
            loop.call_soon_threadsafe(self._cycled)
            return result

        runtime.deliverer._claim = claim  # type: ignore[method-assign]

    def _cycled(self) -> None:
        self.cycles += 1
        self.changed.set()

    async def next_claims(self) -> None:
        """Wait until the deliverer has looked at the outbox afresh (a whole claim pass after now)."""
        target = self.cycles + 2
        self.runtime.deliverer.wake.set()
        await self.until(lambda: self.cycles >= target)

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), timeout)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
async def running(db_url: str, engine: Engine, clock: FakeClock, adapter: FakeAdapter) -> AsyncIterator[Tracked]:
    container = make_container(db_url, clock, adapter)
    runtime = Runtime(container, poll_seconds=0.05)
    tracked = Tracked(runtime)
    await runtime.start()
    yield tracked
    await runtime.stop(drain_seconds=2)
    container.close()


def outbox_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all())  # type: ignore[arg-type]


async def test_submit_is_processed_and_delivered(running: Tracked, adapter: FakeAdapter, engine: Engine) -> None:
    assert adapter.started
    result = await running.runtime.sink.submit(message(1, "Laptop will not boot"))
    assert result.stored and not result.duplicate and result.outputs == ()
    await adapter.wait_for(lambda a: len(a.sent) >= 2)
    cards = {(s.to.chat_id, s.reply.card_key) for s in adapter.sent}
    assert cards == {("it-help", "ticket:1"), ("it-team", "ticket:1")}
    await running.until(lambda: outbox_status(engine).get("sent") == 2)
    assert count(engine, "intake_events", "status = 'done'") == 1


async def test_wait_returns_what_core_produced(running: Tracked) -> None:
    result = await running.runtime.sink.submit(message(1, "Printer on fire"), wait=5.0)
    assert any(o.reply.card_key == "ticket:1" and o.to.chat_id == "it-help" for o in result.outputs)
    again = await running.runtime.sink.submit(message(1, "Printer on fire"), wait=5.0)
    assert again.duplicate and again.outputs == ()
    counters = running.runtime.metrics.counters
    assert (counters[("events_received", "webchat")], counters[("events_duplicate", "webchat")],
            counters[("events_processed", "webchat")]) == (2, 1, 1)


async def test_card_changes_update_the_posted_message(running: Tracked, adapter: FakeAdapter) -> None:
    from core.events import CommandInvoked

    await running.runtime.sink.submit(message(1), wait=5.0)
    await adapter.wait_for(lambda a: len(a.sent) >= 2)
    team_card = next(s for s in adapter.sent if s.to.chat_id == "it-team")
    await running.runtime.sink.submit(CommandInvoked(
        platform="webchat", event_id="c1", received_at=START, user=WANG,
        conversation=ConversationRef(platform="webchat", chat_id="it-team"), name="ticket",
        args=("claim", "IT-1")), wait=5.0)
    await adapter.wait_for(lambda a: any(s.update_message_id == team_card.message_id for s in a.sent))
    updated = [s for s in adapter.sent if s.update_message_id == team_card.message_id]
    assert updated[-1].reply.status == "in_progress"


async def test_retry_after_is_respected(running: Tracked, adapter: FakeAdapter, clock: FakeClock,
                                        engine: Engine) -> None:
    adapter.failures.append(DeliveryError("rate limited", retryable=True, retry_after=30))
    await running.runtime.sink.submit(message(1))
    await running.until(lambda: len(running.outcomes) >= 2)  # one failed, the other chat's card sent
    assert adapter.attempts == 2 and len(adapter.sent) == 1
    with engine.connect() as conn:
        status, attempts, due = conn.execute(text("SELECT status, attempts, next_attempt_at FROM outbox "
                                                  "WHERE last_error IS NOT NULL")).one()
    assert (status, attempts) == ("pending", 1)
    assert str(due) >= "2026-11-23 02:00:30"
    # nothing is due until the platform's Retry-After has passed
    clock.advance(seconds=29)
    await running.next_claims()
    assert len(adapter.sent) == 1 and adapter.attempts == 2
    clock.advance(seconds=2)
    running.runtime.deliverer.wake.set()
    await adapter.wait_for(lambda a: len(a.sent) == 2)
    await running.until(lambda: outbox_status(engine) == {"sent": 2})


async def test_a_permanent_error_parks_without_retrying(running: Tracked, adapter: FakeAdapter,
                                                        engine: Engine) -> None:
    adapter.failures.append(DeliveryError("bot removed from chat", retryable=False))
    await running.runtime.sink.submit(message(1))
    await running.until(lambda: len(running.outcomes) >= 2)
    assert outbox_status(engine) == {"parked": 1, "sent": 1}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_error FROM outbox WHERE status = 'parked'")).scalar() == \
            "bot removed from chat"


async def test_repeated_retryable_failures_park_after_max_attempts(running: Tracked, adapter: FakeAdapter,
                                                                   clock: FakeClock, engine: Engine) -> None:
    adapter.fail_only = "it-team"
    adapter.failures.extend(DeliveryError("timeout", retryable=True) for _ in range(3))  # max_attempts = 3
    await running.runtime.sink.submit(message(1))
    for n in range(2, 5):
        await running.until(lambda n=n: len(running.outcomes) >= n)
        clock.advance(seconds=10)
        running.runtime.deliverer.wake.set()
    assert outbox_status(engine) == {"parked": 1, "sent": 1}
    assert [s.to.chat_id for s in adapter.sent] == ["it-help"]


async def test_sweeps_run_in_a_unit_of_work(running: Tracked, clock: FakeClock, engine: Engine) -> None:
    from core.events import CommandInvoked

    sink = running.runtime.sink
    await sink.submit(message(1), wait=5.0)
    for n, args in enumerate((("claim", "IT-1"), ("resolve", "IT-1", "done")), start=1):
        await sink.submit(CommandInvoked(platform="webchat", event_id=f"c{n}", received_at=START, user=WANG,
                                         conversation=ConversationRef(platform="webchat", chat_id="it-team"),
                                         name="ticket", args=args), wait=5.0)
    assert await running.runtime.run_sweep(tickets.auto_close_sweep) == 0
    clock.advance(days=3, seconds=1)
    assert await running.runtime.run_sweep(tickets.auto_close_sweep) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM tickets")).scalar() == "closed"


async def test_stop_loses_nothing_and_a_new_runtime_finishes(db_url: str, engine: Engine, clock: FakeClock) -> None:
    first_adapter = FakeAdapter()
    container = make_container(db_url, clock, first_adapter)
    first = Runtime(container, poll_seconds=0.05)
    # events acked (stored) but the process stops before it gets to them
    for n in range(1, 6):
        assert intake.store(container.uow, message(n, user=UserRef(platform="webchat", user_id=f"u{n}")))
    await first.start()
    await first.stop(drain_seconds=2)
    assert first_adapter.stopped
    with pytest.raises(RuntimeError):
        await first.sink.submit(message(99))
    assert count(engine, "intake_events", "status = 'failed'") == 0
    assert count(engine, "outbox", "status = 'sending'") == 0, "in-flight sends were handed back"
    container.close()

    second_adapter = FakeAdapter()
    container = make_container(db_url, clock, second_adapter)
    second = Runtime(container, poll_seconds=0.05)
    tracked = Tracked(second)
    await second.start()
    try:
        await tracked.until(lambda: count(engine, "intake_events", "status = 'done'") == 5
                            and count(engine, "outbox", "status IN ('pending', 'sending')") == 0, timeout=15)
    finally:
        await second.stop(drain_seconds=2)
        container.close()
    with engine.connect() as conn:
        keys = sorted(conn.execute(text("SELECT key FROM tickets")).scalars())
    assert keys == [f"IT-{n}" for n in range(1, 6)]
    posted = [s.reply.card_key for s in first_adapter.sent + second_adapter.sent if s.to.chat_id == "it-help"]
    assert sorted(posted) == sorted(set(posted)), "every requester card was posted once"


async def test_stop_before_start_work_is_processed_by_the_next_runtime(db_url: str, engine: Engine,
                                                                       clock: FakeClock) -> None:
    container = make_container(db_url, clock, FakeAdapter())
    runtime = Runtime(container, poll_seconds=0.05)
    await runtime.start()
    runtime.intake.stopping = True  # the worker takes nothing more
    await runtime.sink.submit(message(1))  # acked while shutting down
    await runtime.stop(drain_seconds=2)
    container.close()
    pending = count(engine, "intake_events", "status = 'pending'")
    done = count(engine, "intake_events", "status = 'done'")
    assert pending + done == 1
    container = make_container(db_url, clock, FakeAdapter())
    second = Runtime(container, poll_seconds=0.05)
    await second.start()
    try:
        result = await second.sink.submit(message(2), wait=5.0)
        assert result.outputs
        await Tracked(second).until(lambda: count(engine, "intake_events", "status = 'done'") == 2)
    finally:
        await second.stop(drain_seconds=2)
        container.close()
    assert count(engine, "tickets") == 2


async def test_expired_leases_are_released_and_sent(running: Tracked, adapter: FakeAdapter, clock: FakeClock,
                                                    engine: Engine) -> None:
    from core import outbox
    from core.replies import Outgoing, Reply

    uow = running.runtime.container.uow
    with uow.begin() as s:  # a row leased by a deliverer that died (one transaction: the live one never sees it)
        outbox.enqueue(s, Outgoing(to=ConversationRef(platform="webchat", chat_id="it-team"),
                                   reply=Reply(fallback_text="orphan")), clock.now())
        row = outbox.due_rows(s, clock.now(), 1, {"webchat"})[0]
        assert outbox.claim(s, row, "dead-process", clock.now(), 60) is not None
    await running.runtime._release_leases()
    await running.next_claims()
    assert adapter.sent == []
    clock.advance(seconds=61)
    await running.runtime._release_leases()
    await adapter.wait_for(lambda a: [s.reply.fallback_text for s in a.sent] == ["orphan"])
