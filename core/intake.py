"""Durable intake: store and deduplicate each event before the ack, then process stored events once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from core.context import Context, Services
from core.db import deferred
from core.db.models import IntakeEvent
from core.db.uow import UnitOfWork
from core.dispatch import dispatch
from core.events import (
    CommandInvoked,
    FormSubmitted,
    Inbound,
    MessageReceived,
    ReactionAdded,
    event_from_json,
    event_to_json,
)
from core.i18n import norm_lang, t
from core.masking import mask_secrets, storable
from core.replies import Outgoing, Reply

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def masked(event: Inbound) -> Inbound:
    """Secrets never reach the database, not even in the stored event (nor control characters)."""
    if isinstance(event, MessageReceived):
        text = _stored(event.text)
        return event if text == event.text else dataclasses.replace(event, text=text)
    if isinstance(event, ReactionAdded) and event.target_text:
        return dataclasses.replace(event, target_text=_stored(event.target_text))
    if isinstance(event, CommandInvoked):
        return dataclasses.replace(event, args=tuple(_stored(" ".join(event.args)).split()))
    if isinstance(event, FormSubmitted):
        return dataclasses.replace(event, values={k: _stored(v) for k, v in event.values.items()})
    return event


def _stored(text: str) -> str:
    return mask_secrets(storable(text))


def store(uow: UnitOfWork, event: Inbound) -> int | None:
    """Insert the event unless its (platform, event id) or (platform, message key) was seen.

    Returns the new row id, or None for a duplicate. Raises if the database is unavailable."""
    return store_many(uow, [event])[0]


def store_many(uow: UnitOfWork, events: list[Inbound]) -> list[int | None]:
    """Store several events in one transaction (group commit); None marks a duplicate.

    One multi-row INSERT ... ON CONFLICT DO NOTHING: ids follow the order of `events`, and the
    RETURNING rows (only the inserted ones) are matched back by (platform, event id)."""
    if not events:
        return []
    rows = [dict(platform=e.platform, event_id=e.event_id, message_key=e.message_key,
                 payload=event_to_json(masked(e)), status="pending", attempts=0, received_at=e.received_at)
            for e in events]
    with uow.begin() as session:
        inserted = {(platform, event_id): row_id for row_id, platform, event_id
                    in session.connection().execute(_store_statement(uow.dialect), rows)}
    ids: list[int | None] = []
    for event in events:
        # pop: a second copy of one event id in the same group is a duplicate of the first
        ids.append(inserted.pop((event.platform, event.event_id), None))
    return ids


_STORE: dict[str, Any] = {}


def _store_statement(dialect: str) -> Any:
    stmt = _STORE.get(dialect)
    if stmt is None:
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = _STORE[dialect] = (module.insert(IntakeEvent).on_conflict_do_nothing()
                                  .returning(IntakeEvent.id, IntakeEvent.platform, IntakeEvent.event_id))
    return stmt


@dataclass
class Processed:
    intake_id: int
    sent: list[Outgoing] = field(default_factory=list)
    failed: bool = False
    platform: str = ""


def process_batch(uow: UnitOfWork, services: Services, *, limit: int = 50,
                  should_stop: Callable[[], bool] = lambda: False) -> list[Processed]:
    """Process up to `limit` pending events in one transaction.

    On PostgreSQL rows are locked with SKIP LOCKED, so two processes never take the same event;
    on SQLite the write lock serialises workers. The batch first runs straight through; if any event
    raises (or, without its savepoint, is refused after it had written something), the transaction is
    rolled back and the batch is redone with a savepoint per event, so only the bad event is held back
    (retried later, parked as failed after MAX_ATTEMPTS with an apology to the person)."""
    try:
        return _run_batch(uow, services, limit, should_stop, isolate=False)
    except _BatchFailed:
        return _run_batch(uow, services, limit, should_stop, isolate=True)


class _BatchFailed(Exception):
    pass


def _mark(session: Session, ids: list[int], **values: object) -> None:
    if ids:
        session.execute(update(IntakeEvent).execution_options(synchronize_session=False)
                        .where(IntakeEvent.id.in_(ids)).values(**values))  # type: ignore[union-attr]


def _hold_back(session: Session, services: Services, row_id: int, attempts: int, event: Inbound,
               exc: Exception, now: datetime) -> Processed | None:
    """Count a failed attempt; after MAX_ATTEMPTS park the event and apologise to the person."""
    conflict = isinstance(exc, StaleDataError | OperationalError)
    failed = attempts + 1 >= MAX_ATTEMPTS
    if conflict and not failed:
        log.warning("intake event %s conflicted, will retry", row_id, extra={"error": str(exc)[:200]})
    else:
        log.error("intake event %s failed", row_id, exc_info=exc)
    _mark(session, [row_id], attempts=IntakeEvent.attempts + 1, error=f"{type(exc).__name__}: {exc}"[:2000],
          status="failed" if failed else "pending", processed_at=now if failed else None)
    if not failed:
        return None
    ctx = Context(session=session, services=services, now=now)
    lang = norm_lang(event.lang_hint, services.desks.for_conversation(event.conversation).default_lang)
    ctx.send(Outgoing(to=event.conversation, reply=Reply(
        fallback_text=t("error.internal", lang), lang=lang, only_visible_to=event.user)))
    return Processed(row_id, ctx.sent, failed=True, platform=event.platform)


def _run_batch(uow: UnitOfWork, services: Services, limit: int, should_stop: Callable[[], bool], *,
               isolate: bool) -> list[Processed]:
    done: list[Processed] = []
    after_commit: list[Callable[[], None]] = []
    with uow.begin() as session:
        query = (select(IntakeEvent.id, IntakeEvent.payload, IntakeEvent.attempts)  # type: ignore[call-overload]
                 .where(IntakeEvent.status == "pending").order_by(IntakeEvent.id).limit(limit)
                 .with_for_update(skip_locked=True))
        rows = session.connection().execute(query).all()
        ok_ids: list[int] = []
        # the batch's append-only rows, written together before the commit (in the isolated rerun: per event)
        rows_of_batch = deferred.install(session)
        for row_id, payload, attempts in rows:
            if should_stop():
                break
            now = services.clock.now()
            event = event_from_json(payload)
            ctx = Context(session=session, services=services, now=now)
            if not isolate:
                try:
                    dispatch(ctx, event, savepoint=False)
                    session.flush()
                except Exception as exc:
                    raise _BatchFailed from exc
            else:
                savepoint = session.begin_nested()
                try:
                    dispatch(ctx, event)
                    rows_of_batch.write(session)
                    session.flush()
                    savepoint.commit()
                except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
                    savepoint.rollback()
                    rows_of_batch.clear()
                    session.expunge_all()  # objects of the rolled-back work must not linger
                    apology = _hold_back(session, services, row_id, attempts, event, exc, now)
                    rows_of_batch.write(session)  # the apology, outside any event's savepoint
                    if apology is not None:
                        done.append(apology)
                    continue
            ok_ids.append(row_id)
            done.append(Processed(row_id, ctx.sent, platform=event.platform))
            after_commit.extend(ctx.after_commit)
            # keep the identity map small: every flush and ORM statement walks it
            session.expunge_all()
        try:
            rows_of_batch.write(session)  # nothing left in the isolated rerun: each event wrote its own
        except Exception as exc:
            raise _BatchFailed from exc  # a constraint only the database checks: the rerun finds the event
        _mark(session, ok_ids, status="done", processed_at=services.clock.now(), error=None)
    for callback in after_commit:
        try:
            callback()
        except Exception:  # noqa: BLE001
            log.exception("after-commit callback failed")
    return done
