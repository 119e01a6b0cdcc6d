"""Durable intake: store and deduplicate before the ack, process each stored event once, park poison events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from core import intake
from core.db.uow import UnitOfWork
from core.events import (
    ActionClicked,
    BotAdded,
    CommandInvoked,
    ConversationRef,
    FormSubmitted,
    Inbound,
    MessageReceived,
    ReactionAdded,
    UserRef,
    event_from_json,
    event_to_json,
)
from tests.harness import DeskHarness
from tests.integration.helpers import count

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ALICE = UserRef(platform="webchat", user_id="alice", display_name="Alice")
HELP = ConversationRef(platform="webchat", chat_id="it-help")


def message(event_id: str, text: str = "Printer is jammed", *, platform: str = "webchat",
            message_key: str | None = None, user: UserRef = ALICE) -> MessageReceived:
    return MessageReceived(platform=platform, event_id=event_id, received_at=NOW, user=user,
                           conversation=ConversationRef(platform=platform, chat_id="it-help"),
                           message_id=f"m-{event_id}", message_key=message_key, text=text, mentions_bot=True)


def statuses(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT event_id, status, attempts FROM intake_events "
                                                     "ORDER BY id"))]


@pytest.mark.parametrize("event", [
    message("e1", "hello 你好"),
    CommandInvoked(platform="slack", event_id="c1", received_at=NOW, user=ALICE, conversation=HELP, name="ticket",
                   args=("claim", "IT-1")),
    ActionClicked(platform="feishu", event_id="a1", received_at=NOW, user=ALICE, conversation=HELP,
                  action_id="ticket.claim", value={"ticket": "1"}, card_message_id="om_1"),
    ReactionAdded(platform="slack", event_id="r1", received_at=NOW, user=ALICE, conversation=HELP.in_thread("t"),
                  emoji="ticket", target_message_id="1.2", target_text="broken", target_user=ALICE),
    FormSubmitted(platform="slack", event_id="f1", received_at=NOW, user=ALICE, conversation=HELP,
                  form_id="ticket.new", values={"subject": "x"}),
    BotAdded(platform="dingtalk", event_id="b1", received_at=NOW, user=ALICE, conversation=HELP, lang_hint="zh-CN"),
])
def test_every_event_kind_survives_storage(event: Inbound) -> None:
    assert event_from_json(event_to_json(event)) == event


def test_store_dedups_by_platform_and_event_id(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    first = intake.store(uow, message("e1"))
    assert isinstance(first, int)
    assert intake.store(uow, message("e1", "a retry with other text")) is None
    assert isinstance(intake.store(uow, message("e1", platform="slack")), int), "event ids are per platform"
    assert count(engine, "intake_events") == 2


def test_store_dedups_by_message_key(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    assert intake.store(uow, message("e1", message_key="C1:1700.1")) is not None
    assert intake.store(uow, message("e2", message_key="C1:1700.1")) is None
    assert intake.store(uow, message("e3", message_key="C1:1700.2")) is not None
    # events without a message key are only keyed by their event id
    assert intake.store(uow, message("e4")) is not None
    assert intake.store(uow, message("e5")) is not None
    assert count(engine, "intake_events") == 4


def test_the_stored_copy_is_masked(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    intake.store(uow, message("e1", "my password is Sup3rSecret!"))
    with engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM intake_events")).scalar()
    assert "Sup3rSecret" not in payload


def test_half_an_emoji_is_stored_as_a_replacement_character(h: DeskHarness, engine: Engine) -> None:
    # a platform's JSON can carry "\ud83d" alone (a broken emoji): no database stores that as it is
    broken = message("e1", "VPN down \ud83d again", user=UserRef(platform="webchat", user_id="bob",
                                                               display_name="Bob \ude00"))
    assert intake.store(h.uow, broken) is not None
    assert [p.failed for p in intake.process_batch(h.uow, h.services)] == [False]
    ticket = h.ticket("IT-1")
    assert (ticket.subject, ticket.requester_name) == ("VPN down \ufffd again", "Bob \ufffd")


def test_control_characters_are_dropped_before_storing(h: DeskHarness) -> None:
    # PostgreSQL text columns refuse NUL; tabs and line breaks are kept
    assert intake.store(h.uow, message("e1", "VPN\x00 down\x07\tsince\r\nmorning")) is not None
    assert [p.failed for p in intake.process_batch(h.uow, h.services)] == [False]
    assert h.ticket("IT-1").description == "VPN down\tsince\r\nmorning"


def test_each_stored_event_is_processed_once_in_order(h: DeskHarness, engine: Engine) -> None:
    for n in range(1, 4):
        intake.store(h.uow, message(f"e{n}", f"Problem number {n}", user=h.user(f"user{n}")))
    done = intake.process_batch(h.uow, h.services)
    assert [not p.failed for p in done] == [True, True, True]
    assert all(p.sent for p in done)
    assert intake.process_batch(h.uow, h.services) == []
    assert [h.ticket(f"IT-{n}").subject for n in (1, 2, 3)] == [f"Problem number {n}" for n in (1, 2, 3)]
    assert [s for _, s, _ in statuses(engine)] == ["done"] * 3
    # a platform retry after processing changes nothing
    assert intake.store(h.uow, message("e2", "Problem number 2")) is None
    assert intake.process_batch(h.uow, h.services) == []
    assert count(engine, "tickets") == 3


def test_batch_limit_and_stop_leave_the_rest_pending(h: DeskHarness, engine: Engine) -> None:
    for n in range(1, 6):
        intake.store(h.uow, message(f"e{n}", f"Problem {n}"))
    assert len(intake.process_batch(h.uow, h.services, limit=2)) == 2
    calls = iter([False, True])
    assert len(intake.process_batch(h.uow, h.services, should_stop=lambda: next(calls, True))) == 1
    assert [s for _, s, _ in statuses(engine)] == ["done", "done", "done", "pending", "pending"]
    assert len(intake.process_batch(h.uow, h.services)) == 2
    assert count(engine, "tickets") == 5


class Explodes:
    """A hook that fails whenever a ticket about 'boom' changes: a bug in one handler."""

    def on_ticket_change(self, ctx: object, ticket: object, what: str) -> None:
        if "boom" in getattr(ticket, "subject", ""):
            raise RuntimeError("handler bug")


def test_a_failing_event_is_retried_then_parked_with_an_apology(h: DeskHarness, engine: Engine) -> None:
    h.services.hooks.append(Explodes())
    intake.store(h.uow, message("good1", "Printer is jammed"))
    intake.store(h.uow, message("bad", "boom goes the laptop"))
    intake.store(h.uow, message("good2", "Mouse is broken", user=UserRef(platform="webchat", user_id="bob")))
    done = intake.process_batch(h.uow, h.services)
    # the bad event does not hold back the good ones around it
    assert len(done) == 2 and not any(p.failed for p in done)
    assert statuses(engine) == [("good1", "done", 0), ("bad", "pending", 1), ("good2", "done", 0)]
    assert count(engine, "tickets") == 2
    for attempt in range(2, intake.MAX_ATTEMPTS):
        assert intake.process_batch(h.uow, h.services) == []
        assert statuses(engine)[1] == ("bad", "pending", attempt)
    last = intake.process_batch(h.uow, h.services)
    assert len(last) == 1 and last[0].failed
    assert statuses(engine)[1] == ("bad", "failed", intake.MAX_ATTEMPTS)
    apology = last[0].sent[0]
    assert apology.reply.only_visible_to == ALICE and apology.to.chat_id == "it-help"
    assert apology.reply.as_text() == "Sorry, something went wrong handling that. The desk team has been told."
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM intake_events WHERE event_id = 'bad'")).scalar()
        apologies = conn.execute(text("SELECT count(*) FROM outbox WHERE reply LIKE '%something went wrong%'")).scalar()
    assert error == "RuntimeError: handler bug" and apologies == 1
    assert count(engine, "tickets") == 2, "the failed event left no half-made ticket"
    assert intake.process_batch(h.uow, h.services) == []


def test_a_database_outage_while_storing_raises(tmp_path: object) -> None:
    from core.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")  # no schema: the insert fails
    with pytest.raises(OperationalError, match="no such table"):
        intake.store(UnitOfWork(engine), message("e1"))
    engine.dispose()
