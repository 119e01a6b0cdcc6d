"""Processing events in one batch writes exactly what processing them one by one writes.

Within a batch, rows are kept and written together before the commit (core.db.deferred); later
events of the batch must still see what earlier ones did: a reply in the thread of a ticket opened
a moment before, the timeline on its card, a refusal that undoes nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import intake
from core.db.engine import make_engine
from core.events import CommandInvoked, Inbound, MessageReceived, ReactionAdded
from tests.harness import DeskHarness

TABLES = ("tickets", "timeline", "audit_log", "outbox", "thread_links", "ticket_counters", "intake_events")


class Explodes:
    """A hook that fails whenever a ticket about 'boom' changes: one bad event in the batch."""

    def on_ticket_change(self, ctx: object, ticket: object, what: str) -> None:
        if "boom" in getattr(ticket, "subject", ""):
            raise RuntimeError("handler bug")


def conversation(h: DeskHarness, *, with_bad_event: bool) -> list[Inbound]:
    alice, bob, wang = h.user("alice"), h.user("bob"), h.user("wang")
    n = iter(range(1, 100))

    def say(user: object, words: str, *, thread: str | None = None) -> MessageReceived:
        i = next(n)
        return MessageReceived(platform="webchat", event_id=f"e{i}", received_at=h.clock.now(), user=user,
                               conversation=h.conv(thread=thread), message_id=f"m{i}", text=words,
                               mentions_bot=thread is None, is_thread_reply=thread is not None)

    def command(user: object, line: str) -> CommandInvoked:
        i = next(n)
        return CommandInvoked(platform="webchat", event_id=f"e{i}", received_at=h.clock.now(), user=user,
                              conversation=h.conv("it-team"), message_id=f"m{i}", name="ticket",
                              args=tuple(line.split()))

    events: list[Inbound] = [
        say(alice, "Printer on floor 3 is jammed"),  # IT-1 under m1
        say(bob, "VPN 连不上了"),  # IT-2 under m2
        say(alice, "still jammed, any news?", thread="m1"),  # the thread of a ticket opened in this batch
        say(wang, "on my way with toner", thread="m1"),  # the first response
        command(bob, "claim IT-1"),  # refused: bob is no technician
        command(wang, "claim IT-2"),
        say(bob, "我的工单进度？"),
        ReactionAdded(platform="webchat", event_id="r1", received_at=h.clock.now(), user=wang,
                      conversation=h.conv(), emoji="ticket", target_message_id="m2", target_text="VPN"),
        command(wang, "resolve IT-1 replaced the toner"),
        say(alice, "谢谢", thread="m1"),  # closes the resolved ticket
        say(alice, "我的工单进度？"),
    ]
    if with_bad_event:
        bad = say(bob, "boom goes the laptop")
        events[3:3] = [bad, say(bob, "more about it", thread=bad.message_id)]
    return events


def tables(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {name} ORDER BY 1"))]
                for name in TABLES}


def run(path: Path, *, one_by_one: bool, with_bad_event: bool) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(f"sqlite:///{path}")
    h = DeskHarness(engine)
    h.services.hooks.append(Explodes())
    events = conversation(h, with_bad_event=with_bad_event)
    if one_by_one:
        for event in events:
            intake.store(h.uow, event)
            for _attempt in range(intake.MAX_ATTEMPTS):  # a bad event is retried until it is parked
                if intake.process_batch(h.uow, h.services, limit=1):
                    break
    else:
        intake.store_many(h.uow, events)
        intake.process_batch(h.uow, h.services, limit=len(events))
    for _attempt in range(intake.MAX_ATTEMPTS):  # the bad event's retries, until it is parked
        intake.process_batch(h.uow, h.services)
    written = tables(engine)
    engine.dispose()
    return written


def fresh_db(template: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(template, target)
    return target


def test_one_batch_writes_what_one_event_at_a_time_writes(sqlite_template: Path, tmp_path: Path) -> None:
    single = run(fresh_db(sqlite_template, tmp_path, "a.db"), one_by_one=True, with_bad_event=False)
    batch = run(fresh_db(sqlite_template, tmp_path, "b.db"), one_by_one=False, with_bad_event=False)
    assert len(single["tickets"]) == 2 and len(single["timeline"]) > 6
    for name in TABLES:
        assert batch[name] == single[name], name


def test_a_bad_event_in_the_batch_changes_nothing_else(sqlite_template: Path, tmp_path: Path) -> None:
    single = run(fresh_db(sqlite_template, tmp_path, "a.db"), one_by_one=True, with_bad_event=True)
    batch = run(fresh_db(sqlite_template, tmp_path, "b.db"), one_by_one=False, with_bad_event=True)
    assert [r[5] for r in single["intake_events"]].count("failed") == 1
    for name in TABLES:
        # one by one, the apology comes before the later events' messages; in a batch, after them
        assert sorted(r[1:] for r in batch[name]) == sorted(r[1:] for r in single[name]), name
