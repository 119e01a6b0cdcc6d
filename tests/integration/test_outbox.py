"""The transactional outbox: per-conversation order, exclusive claims, backoff, parking, leases, cards in place."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core import outbox
from core.db.models import OutboxMessage
from core.db.uow import UnitOfWork
from core.events import ConversationRef
from core.replies import Outgoing, Reply
from core.settings import Delivery

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
A = ConversationRef(platform="webchat", chat_id="it-help", thread_id="m1")
B = ConversationRef(platform="webchat", chat_id="it-team")
PLATFORMS = {"webchat"}
POLICY = Delivery(max_attempts=3, base_backoff_seconds=2, max_backoff_seconds=60, lease_seconds=60)


@pytest.fixture
def uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(engine)


def put(uow: UnitOfWork, to: ConversationRef, text: str, *, card_key: str | None = None, at: datetime = NOW) -> int:
    with uow.begin() as s:
        outbox.enqueue(s, Outgoing(to=to, reply=Reply(fallback_text=text, card_key=card_key)), at)
        return int(s.execute(select(func.max(OutboxMessage.id))).scalar() or 0)


def due(uow: UnitOfWork, at: datetime = NOW) -> list[int]:
    with uow.begin() as s:
        return [r.id or 0 for r in outbox.due_rows(s, at, 100, PLATFORMS)]


def claim(uow: UnitOfWork, row_id: int, owner: str = "d1", at: datetime = NOW) -> outbox.Claimed | None:
    with uow.begin() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return outbox.claim(s, row, owner, at, POLICY.lease_seconds)


def sent(uow: UnitOfWork, item: outbox.Claimed, message_id: str | None = "pm-1", owner: str = "d1") -> bool:
    with uow.begin() as s:
        return outbox.mark_sent(s, item, owner, message_id, NOW)


def failed(uow: UnitOfWork, item: outbox.Claimed, *, retryable: bool = True, retry_after: float | None = None,
           at: datetime = NOW, owner: str = "d1") -> str:
    with uow.begin() as s:
        return outbox.mark_failed(s, item, owner, at, reason="HTTP 429", retryable=retryable,
                                  retry_after=retry_after, policy=POLICY)


def row(uow: UnitOfWork, row_id: int) -> OutboxMessage:
    with uow.begin() as s:
        found = s.get(OutboxMessage, row_id)
        assert found is not None
        return found


def test_per_conversation_order(uow: UnitOfWork) -> None:
    a1, a2 = put(uow, A, "first"), put(uow, A, "second")
    b1 = put(uow, B, "other chat")
    assert due(uow) == [a1, b1]
    item = claim(uow, a1)
    assert item is not None and item.reply.fallback_text == "first" and item.to == A
    assert due(uow) == [b1], "the second row waits while the first is being sent"
    assert sent(uow, item)
    assert due(uow) == [a2, b1]
    assert row(uow, a1).status == "sent" and row(uow, a1).message_id == "pm-1"


def test_a_row_in_backoff_holds_back_its_conversation(uow: UnitOfWork) -> None:
    a1, a2 = put(uow, A, "first"), put(uow, A, "second")
    item = claim(uow, a1)
    assert item is not None
    failed(uow, item, retry_after=30)
    assert due(uow) == [] and due(uow, NOW + timedelta(seconds=29)) == []
    assert due(uow, NOW + timedelta(seconds=31)) == [a1]
    assert a2 not in due(uow, NOW + timedelta(hours=1))


def test_claim_is_exclusive(uow: UnitOfWork) -> None:
    a1 = put(uow, A, "only once")
    with uow.begin() as s1:
        stale = s1.get(OutboxMessage, a1)
    first = claim(uow, a1, "d1")
    with uow.begin() as s2:
        second = outbox.claim(s2, stale, "d2", NOW, 60)  # type: ignore[arg-type]
    assert first is not None and second is None
    assert row(uow, a1).claimed_by == "d1"
    assert not sent(uow, first, owner="d2"), "only the owner may report the send"


def test_backoff_honours_retry_after(uow: UnitOfWork) -> None:
    a1 = put(uow, A, "x")
    item = claim(uow, a1)
    assert item is not None
    assert failed(uow, item, retry_after=120) == "retry"
    r = row(uow, a1)
    assert (r.status, r.attempts, r.last_error) == ("pending", 1, "HTTP 429")
    assert r.next_attempt_at >= NOW + timedelta(seconds=120)
    assert due(uow, NOW + timedelta(seconds=119)) == []


def test_exponential_backoff_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    policy = Delivery(base_backoff_seconds=2, max_backoff_seconds=60)
    for attempts, base in ((1, 2), (2, 4), (3, 8), (4, 16), (10, 60)):
        delays = [outbox.backoff(attempts, policy, None, rng) for _ in range(50)]
        assert all(base / 2 <= d <= base for d in delays), (attempts, min(delays), max(delays))
        assert len(set(delays)) > 1, "jitter spreads retries"
    assert outbox.backoff(1, policy, 300.0, rng) == 300.0


def test_parks_after_max_attempts(uow: UnitOfWork) -> None:
    a1 = put(uow, A, "x")
    at = NOW
    outcomes = []
    for _ in range(POLICY.max_attempts):
        at += timedelta(hours=1)
        assert due(uow, at) == [a1]
        item = claim(uow, a1, at=at)
        assert item is not None
        outcomes.append(failed(uow, item, at=at))
    assert outcomes == ["retry", "retry", "parked"]
    assert row(uow, a1).status == "parked" and due(uow, at + timedelta(days=1)) == []


def test_a_permanent_error_parks_at_once_and_frees_the_conversation(uow: UnitOfWork) -> None:
    a1, a2 = put(uow, A, "x"), put(uow, A, "y")
    item = claim(uow, a1)
    assert item is not None
    assert failed(uow, item, retryable=False) == "parked"
    assert row(uow, a1).attempts == 1
    assert due(uow) == [a2], "a parked row does not block the messages after it"


def test_retry_parked(uow: UnitOfWork) -> None:
    a1 = put(uow, A, "x")
    with uow.begin() as s:
        assert not outbox.retry_parked(s, a1, NOW), "only parked rows can be retried"
    item = claim(uow, a1)
    assert item is not None
    failed(uow, item, retryable=False)
    later = NOW + timedelta(hours=2)
    with uow.begin() as s:
        assert outbox.retry_parked(s, a1, later)
    r = row(uow, a1)
    assert (r.status, r.attempts, r.last_error) == ("pending", 0, None)
    assert due(uow, later) == [a1]


def test_release_expired_leases(uow: UnitOfWork) -> None:
    a1 = put(uow, A, "x")
    item = claim(uow, a1, "dead-process")
    assert item is not None
    with uow.begin() as s:
        assert outbox.release_expired(s, NOW + timedelta(seconds=30)) == 0
    assert row(uow, a1).status == "sending"
    with uow.begin() as s:
        assert outbox.release_expired(s, NOW + timedelta(seconds=61)) == 1
    r = row(uow, a1)
    assert (r.status, r.claimed_by) == ("pending", None)
    assert not sent(uow, item, owner="dead-process"), "a late report from the old owner is ignored"
    again = claim(uow, a1, "d2")
    assert again is not None and sent(uow, again, owner="d2")


def test_release_owned_on_shutdown(uow: UnitOfWork) -> None:
    a1, b1 = put(uow, A, "x"), put(uow, B, "y")
    assert claim(uow, a1, "me") and claim(uow, b1, "other")
    with uow.begin() as s:
        assert outbox.release_owned(s, "me") == 1
    assert row(uow, a1).status == "pending" and row(uow, b1).status == "sending"


def test_card_updates_in_place(uow: UnitOfWork) -> None:
    first = put(uow, B, "v1", card_key="survey:7:0")
    item = claim(uow, first)
    assert item is not None and item.update_message_id is None
    assert sent(uow, item, "card-msg-1")
    second = put(uow, B, "v2", card_key="survey:7:0")
    other_chat = put(uow, A, "v2 for the requester", card_key="survey:7:0")
    item2 = claim(uow, second)
    assert item2 is not None and item2.update_message_id == "card-msg-1"
    item3 = claim(uow, other_chat)
    assert item3 is not None and item3.update_message_id is None, "each conversation has its own card"
    # a platform that could not edit posts anew: the new id is remembered
    assert sent(uow, item2, "card-msg-2")
    third = put(uow, B, "v3", card_key="survey:7:0")
    item4 = claim(uow, third)
    assert item4 is not None and item4.update_message_id == "card-msg-2"


def test_a_top_level_ticket_card_becomes_the_tickets_team_thread(uow: UnitOfWork, engine: Engine) -> None:
    from sqlalchemy import text

    first = put(uow, B, "card", card_key="ticket:7")
    with engine.begin() as conn:  # the ticket the card shows
        conn.execute(text("INSERT INTO tickets (id, desk, number, key, subject, description, priority, status, "
                          "requester, lang, created_at, updated_at, reopen_count, paused_seconds, sla_cycle, "
                          "version) VALUES (7, 'IT', 7, 'IT-7', 's', 'd', 'P2', 'new', 'webchat:a', 'en', "
                          ":now, :now, 0, 0, 0, 1)"), {"now": NOW.replace(tzinfo=None)})
    item = claim(uow, first)
    assert item is not None and sent(uow, item, "team-card-1")
    with engine.connect() as conn:
        links = conn.execute(text("SELECT chat_id, thread_id, ticket_id, side FROM thread_links")).all()
    assert [tuple(x) for x in links] == [("it-team", "team-card-1", 7, "team")]


def test_an_older_card_version_is_superseded_by_a_newer_one(uow: UnitOfWork) -> None:
    first = put(uow, B, "v1", card_key="deflect:9")
    item = claim(uow, first)
    assert item is not None and sent(uow, item, "card-9")
    v2, v3 = put(uow, B, "v2", card_key="deflect:9"), put(uow, B, "v3", card_key="deflect:9")
    with uow.begin() as s:
        r2 = s.get(OutboxMessage, v2)
        assert r2 is not None and outbox.superseded(s, r2)
        r3 = s.get(OutboxMessage, v3)
        assert r3 is not None and not outbox.superseded(s, r3)
    # the very first post of a card is never skipped
    fresh1, _fresh2 = put(uow, A, "new card", card_key="deflect:10"), put(uow, A, "new card v2", card_key="deflect:10")
    with uow.begin() as s:
        r = s.get(OutboxMessage, fresh1)
        assert r is not None and not outbox.superseded(s, r)


def test_only_configured_platforms_are_due(uow: UnitOfWork) -> None:
    put(uow, ConversationRef(platform="slack", chat_id="C1"), "x")
    assert due(uow) == []
