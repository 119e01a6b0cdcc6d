"""The transactional outbox: enqueue with the change, claim in per-conversation order, record results."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from core.db import deferred
from core.db.models import CardMessage, OutboxMessage, ThreadLink
from core.events import ConversationRef
from core.jsontext import dumps, loads
from core.replies import Outgoing, Reply
from core.settings import Delivery

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


def enqueue(session: Session, out: Outgoing, now: datetime, reply_json: str | None = None) -> None:
    """Write one message to send (during an intake batch: with the batch's other rows, see core.db.deferred)."""
    deferred.insert(session, _OUTBOX, outbox_row(out, now, reply_json))


def outbox_row(out: Outgoing, now: datetime, reply_json: str | None = None) -> dict[str, Any]:
    return dict(
        platform=out.to.platform,
        conversation_key=out.to.key,
        conversation=_conv_json(out.to),
        reply=reply_json if reply_json is not None else out.reply.to_json(),
        card_key=out.reply.card_key,
        ticket_id=out.ticket_id,
        reply_to_message_id=out.reply_to_message_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _conv_json(conv: ConversationRef) -> str:
    return dumps(conv.to_json())


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row leased to one deliverer, with what it needs to send."""

    id: int
    platform: str
    to: ConversationRef
    reply: Reply
    update_message_id: str | None
    reply_to_message_id: str | None
    attempts: int


def due_rows(session: Session, now: datetime, limit: int, platforms: set[str]) -> list[OutboxMessage]:
    """Oldest unsent row of each conversation that is due (per-conversation order is kept)."""
    older = (
        select(func.min(col(OutboxMessage.id)))
        .where(col(OutboxMessage.status).in_(("pending", "sending")))
        .group_by(col(OutboxMessage.conversation_key))
        .subquery()
    )
    stmt = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(select(older)),
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.next_attempt_at) <= now,
            col(OutboxMessage.platform).in_(platforms),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list(session.scalars(stmt).all())


def claim(session: Session, row: OutboxMessage, owner: str, now: datetime, lease_seconds: float) -> Claimed | None:
    """Lease one row with a conditional UPDATE: exactly one deliverer wins it."""
    result = session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.id) == row.id, col(OutboxMessage.status) == "pending")
        .values(status="sending", claimed_by=owner, lease_until=now + timedelta(seconds=lease_seconds))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    update_id = None
    if row.card_key:
        card = session.scalars(
            select(CardMessage).where(
                col(CardMessage.card_key) == row.card_key, col(CardMessage.conversation_key) == row.conversation_key
            )
        ).first()
        update_id = card.message_id if card else None
    return Claimed(
        id=row.id or 0,
        platform=row.platform,
        to=ConversationRef.from_json(loads(row.conversation)),
        reply=Reply.from_json(row.reply),
        update_message_id=update_id,
        reply_to_message_id=row.reply_to_message_id,
        attempts=row.attempts,
    )


def superseded(session: Session, row: OutboxMessage) -> bool:
    """A card update with a newer update for the same card queued behind it need not be sent."""
    if not row.card_key:
        return False
    newer = session.scalars(
        select(col(OutboxMessage.id)).where(
            col(OutboxMessage.card_key) == row.card_key,
            col(OutboxMessage.conversation_key) == row.conversation_key,
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.id) > (row.id or 0),
        ).limit(1)
    ).first()
    has_card = session.scalars(
        select(col(CardMessage.id)).where(
            col(CardMessage.card_key) == row.card_key, col(CardMessage.conversation_key) == row.conversation_key
        )
    ).first()
    # only skip when the card already exists: the first post must still happen
    return newer is not None and has_card is not None


def mark_superseded(session: Session, row_id: int, owner: str, now: datetime) -> None:
    session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.claimed_by) == owner, col(OutboxMessage.status) == "sending")
        .values(status="superseded", sent_at=now, lease_until=None)
    )


def mark_sent(session: Session, claimed: Claimed, owner: str, message_id: str | None, now: datetime) -> bool:
    result = session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.id) == claimed.id, col(OutboxMessage.claimed_by) == owner,
               col(OutboxMessage.status) == "sending")
        .values(status="sent", message_id=message_id, sent_at=now, lease_until=None)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if claimed.reply.card_key and message_id:
        _remember_card(session, claimed, message_id, now)
    return True


def _remember_card(session: Session, claimed: Claimed, message_id: str, now: datetime) -> None:
    key = claimed.reply.card_key or ""
    card = session.scalars(
        select(CardMessage).where(col(CardMessage.card_key) == key, col(CardMessage.conversation_key) == claimed.to.key)
    ).first()
    if card is None:
        session.add(CardMessage(card_key=key, conversation_key=claimed.to.key, platform=claimed.platform,
                                message_id=message_id, updated_at=now))
    else:
        card.message_id = message_id
        card.updated_at = now
        session.add(card)
    ticket_id = _ticket_of_card(key)
    if ticket_id is not None:
        # replies under a ticket card posted at top level (team chat) are comments on that ticket
        thread = claimed.to.thread_id or message_id
        exists = session.scalars(
            select(col(ThreadLink.id)).where(col(ThreadLink.platform) == claimed.platform,
                                        col(ThreadLink.chat_id) == claimed.to.chat_id, col(ThreadLink.thread_id) == thread)
        ).first()
        if exists is None:
            session.add(ThreadLink(platform=claimed.platform, chat_id=claimed.to.chat_id, thread_id=thread,
                                   ticket_id=ticket_id, side="team" if not claimed.to.thread_id else "requester"))


def _ticket_of_card(card_key: str) -> int | None:
    kind, _, ident = card_key.partition(":")
    return int(ident) if kind == "ticket" and ident.isdigit() else None


def backoff(attempts: int, policy: Delivery, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the platform's Retry-After."""
    rng = rng or random.Random()
    base = min(policy.max_backoff_seconds, policy.base_backoff_seconds * (2 ** max(0, attempts - 1)))
    delay = base / 2 + rng.uniform(0, base / 2)
    return max(delay, retry_after or 0.0)


def mark_failed(session: Session, claimed: Claimed, owner: str, now: datetime, *, reason: str, retryable: bool,
                retry_after: float | None, policy: Delivery) -> str:
    """Schedule a retry, or park the row after too many attempts or a permanent failure."""
    attempts = claimed.attempts + 1
    park = not retryable or attempts >= policy.max_attempts
    values: dict[str, object] = {"attempts": attempts, "last_error": reason[:2000], "lease_until": None}
    if park:
        values["status"] = "parked"
    else:
        values["status"] = "pending"
        values["next_attempt_at"] = now + timedelta(seconds=backoff(attempts, policy, retry_after))
    session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.id) == claimed.id, col(OutboxMessage.claimed_by) == owner, col(OutboxMessage.status) == "sending")
        .values(**values)
    )
    return "parked" if park else "retry"


def release_expired(session: Session, now: datetime) -> int:
    """Rows leased by a deliverer that died go back to pending (at-least-once delivery)."""
    result = session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.status) == "sending",
               or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now))
        .values(status="pending", claimed_by=None, lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_owned(session: Session, owner: str) -> int:
    """On shutdown: hand back rows this process leased but did not finish."""
    result = session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(and_(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_by) == owner))
        .values(status="pending", claimed_by=None, lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_parked(session: Session, row_id: int, now: datetime) -> bool:
    result = session.execute(
        update(OutboxMessage).execution_options(synchronize_session=False)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == "parked")
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
