"""Entry points for child processes in the two-process tests (importable, so `spawn` can start them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.clock import FakeClock
from core.context import Context, Services
from core.db.engine import make_engine
from core.db.uow import UnitOfWork
from core.dispatch import dispatch
from core.events import CommandInvoked, ConversationRef, MessageReceived, UserRef
from core.intake import process_batch, store
from core.settings import Roles
from tests.harness import default_settings

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def services() -> Services:
    settings = default_settings(roles=Roles(technicians=["webchat:wang", "webchat:li"], leads=["webchat:lead"]))
    return Services(settings=settings, clock=FakeClock(NOW))


def report(tag: str, n: int) -> MessageReceived:
    user = UserRef(platform="webchat", user_id=f"{tag}-user{n}", display_name=f"{tag} {n}")
    return MessageReceived(platform="webchat", event_id=f"{tag}-ev{n}", received_at=NOW, user=user,
                           conversation=ConversationRef(platform="webchat", chat_id="it-help"),
                           message_id=f"{tag}-m{n}", text=f"Problem {n} reported by {tag}", mentions_bot=True)


def create_tickets(db_url: str, tag: str, n: int, ready: Any, go: Any) -> int:
    """Store n reports, wait for the other process, then process events one transaction at a time."""
    engine = make_engine(db_url)
    uow = UnitOfWork(engine)
    svc = services()
    for i in range(1, n + 1):
        store(uow, report(tag, i))
    ready.set()
    go.wait()
    processed = 0
    while True:
        done = process_batch(uow, svc, limit=1)
        if not done:
            break
        processed += len(done)
    engine.dispose()
    return processed


def claim(db_url: str, who: str, barrier: Any) -> list[str]:
    """Claim IT-1 as `who` in one unit of work, started together with the other process."""
    engine = make_engine(db_url)
    uow = UnitOfWork(engine)
    svc = services()
    event = CommandInvoked(platform="webchat", event_id=f"claim-{who}", received_at=NOW,
                           user=UserRef(platform="webchat", user_id=who, display_name=who.title()),
                           conversation=ConversationRef(platform="webchat", chat_id="it-team"), name="ticket",
                           args=("claim", "IT-1"))
    barrier.wait()
    try:
        with uow.begin() as session:
            out = dispatch(Context(session=session, services=svc, now=NOW), event)
            answers = [o.reply.as_text() for o in out if o.reply.only_visible_to is not None]
    except Exception as exc:  # noqa: BLE001 - reported to the test
        answers = [f"error: {type(exc).__name__}: {exc}"]
    engine.dispose()
    return answers


class _Hang:
    """A hook that freezes processing inside the transaction of the `at`-th ticket."""

    def __init__(self, at: int, reached: Any, never: Any) -> None:
        self.at, self.reached, self.never, self.seen = at, reached, never, 0

    def on_ticket_change(self, ctx: Any, ticket: Any, what: str) -> None:
        if what != "opened":
            return
        self.seen += 1
        if self.seen == self.at:
            self.reached.set()
            self.never.wait()  # killed here, mid-transaction


def store_then_process_until_killed(db_url: str, n: int, hang_at: int, stored: Any, reached: Any,
                                    never: Any) -> None:
    engine = make_engine(db_url)
    uow = UnitOfWork(engine)
    svc = services()
    for i in range(1, n + 1):
        store(uow, report("k", i))
    stored.set()
    svc.hooks.append(_Hang(hang_at, reached, never))
    while process_batch(uow, svc, limit=1):
        pass


def process_all(db_url: str) -> int:
    engine = make_engine(db_url)
    uow = UnitOfWork(engine)
    svc = services()
    total = 0
    while True:
        done = process_batch(uow, svc, limit=10)
        if not done:
            break
        total += len(done)
    engine.dispose()
    return total


def call(results: Any, name: str, *args: Any) -> None:
    """Run one of this module's entry points and put (name, result or error) on the results queue."""
    try:
        results.put((name, globals()[name](*args)))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        results.put((name, f"error: {type(exc).__name__}: {exc}"))
