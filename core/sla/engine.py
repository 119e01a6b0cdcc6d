"""SLA engine: keeps each ticket's deadlines and next alert moment current, and sends due alerts exactly once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from core.context import Context, Services
from core.db.models import SlaAlert, Ticket
from core.settings import Desk
from core.sla import alerts, pauses
from core.sla.calendar import BusinessCalendar
from core.sla.display import calendar_for
from core.sla.policy import Pause, PolicyError, SlaClock, check_policy, compute_clock, opening_moments

log = logging.getLogger("deskbot.sla")

OPEN = ("new", "assigned", "in_progress", "waiting")
# An alert on a working-time target may still go out this long after its moment even when working
# time has just ended (a deadline at 18:00 is sent at 18:00, not the next morning); later than
# that, outside working time, it waits for the next working moment.
GRACE = timedelta(minutes=15)
SWEEP_LIMIT = 500
RETRY_AFTER_ERROR = timedelta(minutes=5)

Listener = Callable[[datetime], None]

_TICKETS = Ticket.__table__  # type: ignore[attr-defined]
_ALERTS = SlaAlert.__table__  # type: ignore[attr-defined]
# Deadline write-back without bumping the ticket's version: it is derived data, and a concurrent
# change (which does bump it) makes this UPDATE match nothing, so the fresher values win.
_WRITE_BACK = (
    update(_TICKETS)
    .where(_TICKETS.c.id == bindparam("b_id"), _TICKETS.c.version == bindparam("b_version"))
    .values(respond_by=bindparam("b_respond_by"), resolve_by=bindparam("b_resolve_by"),
            sla_next_at=bindparam("b_next_at"))
)


# ---------------------------------------------------------------- pure part


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with a ticket's alerts at `now`: send `due` now, then wait until `next_at`."""

    due: tuple[tuple[str, datetime], ...]
    next_at: datetime | None

    @property
    def first_at(self) -> datetime | None:
        """The moment the sweep should look at this ticket (now-ish when something is due)."""
        return self.due[0][1] if self.due else self.next_at


def plan(clock: SlaClock, calendar: BusinessCalendar, sent: Set[str], now: datetime) -> Plan:
    """Alerts of `clock` that are due at `now` and not yet `sent`, and when the next one falls.

    - Nothing fires while the ticket waits on the requester (the moments are provisional then).
    - A warning whose target has already breached is dropped: the breach says more.
    - An alert on a working-time target that is more than GRACE late outside working time (the
      bot was down over a weekend, say) waits for the next working moment instead.
    """
    if clock.paused:
        return Plan((), None)
    due: list[tuple[str, datetime]] = []
    later: list[datetime] = []
    working_now: bool | None = None
    for timer in clock.timers:
        if timer.stopped_at is not None:
            continue
        moments: list[tuple[str, datetime]] = []
        breach_kind = f"{timer.name}_breach"
        if timer.warn_at is not None and breach_kind not in sent and timer.due_at > now:
            moments.append((f"{timer.name}_warn", timer.warn_at))
        moments.append((breach_kind, timer.due_at))
        moments.extend((f"{timer.name}_escalate_{e.level}", e.at) for e in timer.escalations)
        for kind, at in moments:
            if kind in sent:
                continue
            if at > now:
                later.append(at)
                continue
            if timer.business and now - at > GRACE:
                if working_now is None:
                    working_now = calendar.is_working_time(now)
                if not working_now:
                    later.append(calendar.next_working_moment(now))
                    continue
            due.append((kind, at))
    due.sort(key=lambda m: m[1])
    return Plan(tuple(due), min(later) if later else None)


def clock_for(row: Any, desk: Desk, now: datetime, pause_list: Iterable[Pause] = ()) -> SlaClock | None:
    """The SLA clock of a ticket (ORM object or row) in its current cycle; None without a target."""
    if row.priority not in desk.sla.targets:
        return None
    return compute_clock(
        policy=desk.sla, calendar=calendar_for(desk), priority=row.priority,
        created_at=row.sla_started_at or row.created_at, now=now, pauses=pause_list,
        first_response_at=row.first_response_at,
        # a ticket closed without a resolution (cancelled) stops its clocks when it was closed
        resolved_at=row.resolved_at or (row.closed_at if row.status == "closed" else None),
    )


def deadlines(row: Any, clock: SlaClock | None) -> tuple[datetime | None, datetime | None]:
    """respond-by and resolve-by to store. After a reopen the first response was already given in
    an earlier cycle, so respond-by keeps its value (reports judge the first response by it)."""
    if clock is None:
        return row.respond_by, row.resolve_by
    respond_by = clock.respond.due_at
    if row.sla_cycle and row.respond_by is not None:
        respond_by = row.respond_by
    return respond_by, clock.resolve.due_at


# ---------------------------------------------------------------- database part


def sent_kinds(session: Session, tickets: Iterable[tuple[int, int]]) -> dict[int, set[str]]:
    """Alert kinds already sent in each ticket's current cycle: {ticket id: {"resolve_warn", ...}}."""
    cycles = dict(tickets)
    out: dict[int, set[str]] = defaultdict(set)
    if not cycles:
        return out
    rows = session.connection().execute(select(SlaAlert.ticket_id, SlaAlert.kind, SlaAlert.cycle)  # type: ignore[call-overload]
                                        .where(SlaAlert.ticket_id.in_(list(cycles)))).all()  # type: ignore[attr-defined]
    for ticket_id, kind, cycle in rows:
        if cycles.get(ticket_id) == cycle:
            out[ticket_id].add(kind)
    return out


def fire(ctx: Context, ticket: Ticket, desk: Desk, clock: SlaClock, due: Iterable[tuple[str, datetime]],
         sent: set[str]) -> int:
    """Send each due alert whose once-only row this transaction manages to insert; returns how many.

    The unique key (ticket, kind, cycle) decides: of two processes (or a timer and a sweep) racing
    for one alert, the second INSERT does nothing (on PostgreSQL it waits for the first to commit),
    so only one transaction ever writes the messages, and it writes them with the row.
    """
    seen: set[str] = set()
    count = 0
    module = postgresql if ctx.session.get_bind().dialect.name == "postgresql" else sqlite
    conn = ctx.session.connection()
    for kind, _at in due:
        # RETURNING tells a won insert from a conflict on both databases (a driver's rowcount for
        # INSERT ... ON CONFLICT DO NOTHING is not reliable: psycopg reports -1)
        won = conn.execute(
            module.insert(_ALERTS).values(ticket_id=ticket.id, kind=kind, cycle=ticket.sla_cycle, at=ctx.now)
            .on_conflict_do_nothing().returning(_ALERTS.c.id)
        ).scalar() is not None
        sent.add(kind)
        if won:
            alerts.send(ctx, ticket, desk, clock, kind, seen)
            count += 1
    return count


class SlaEngine:
    """The ticket hook: after every change, recompute the clock, fire what became due, store the next moment.

    Installed with `install(services)`; core.tickets calls `on_ticket_change` inside the change's
    transaction. Listeners (the runtime's timers) hear the new next-alert moment after commit.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.listeners: list[Listener] = []
        for desk in services.desks.desks:
            try:
                check_policy(desk.sla)
            except PolicyError as exc:
                raise PolicyError(f"desk {desk.name}: {exc}") from exc
            calendar_for(desk)  # bad calendars fail at start-up, not on the first ticket

    def before_open(self, ctx: Context, desk: Desk, row: dict[str, Any]) -> None:
        """The deadlines and first alert moment of a ticket about to be opened, so its INSERT writes them
        (the "opened" change then finds them current). Left to `refresh` when something is due at once."""
        if row["priority"] not in desk.sla.targets:
            return  # refresh logs the missing target
        respond_by, resolve_by, moments = opening_moments(desk.sla, calendar_for(desk), row["priority"], row["created_at"])
        row["respond_by"], row["resolve_by"] = respond_by, resolve_by
        first = min(moments)
        if first > ctx.now:  # else something is due at once: refresh sends it
            row["sla_next_at"] = first

    def on_ticket_change(self, ctx: Context, ticket: Ticket, what: str) -> None:
        pauses.sync(ctx.session, ticket, ctx.now)
        if what in ("opened", "comment") and _clock_unchanged(ticket, ctx.now):
            # a ticket opened with its deadlines, and most comments: the stored values stay current
            next_at = ticket.sla_next_at if what == "opened" else None
        else:
            if what == "reopened":
                # a new cycle: a fresh resolution clock from the reopen moment, fresh once-only alert keys
                ticket.sla_cycle = (ticket.sla_cycle or 0) + 1
                ticket.sla_started_at = ctx.now
                ticket.paused_seconds = 0.0
            next_at = self.refresh(ctx, ticket)
        if next_at is not None and self.listeners:
            ctx.after_commit.append(lambda at=next_at: self.notify(at))

    def refresh(self, ctx: Context, ticket: Ticket) -> datetime | None:
        """Recompute and store deadlines and the next alert moment, sending what is due right now."""
        desk = ctx.desks.by_name(ticket.desk)
        pause_list = pauses.intervals(ctx.session, ticket.id or 0, ticket.sla_cycle) if pauses.has_pauses(ticket) \
            else []
        clock = clock_for(ticket, desk, ctx.now, pause_list)
        respond_by, resolve_by = deadlines(ticket, clock)
        _set(ticket, "respond_by", respond_by)
        _set(ticket, "resolve_by", resolve_by)
        if clock is None:
            log.warning("no SLA target for priority %s on desk %s", ticket.priority, desk.name,
                        extra={"ticket": ticket.key})
        if clock is None or ticket.status not in OPEN:
            _set(ticket, "sla_next_at", None)
            return None
        calendar = calendar_for(desk)
        todo = plan(clock, calendar, frozenset(), ctx.now)
        if todo.due:
            sent = sent_kinds(ctx.session, [(ticket.id or 0, ticket.sla_cycle)])[ticket.id or 0]
            todo = plan(clock, calendar, sent, ctx.now)
            if todo.due:
                # e.g. a priority raised past its target: the breach is reported at once
                fire(ctx, ticket, desk, clock, todo.due, sent)
                todo = plan(clock, calendar, sent, ctx.now)
        _set(ticket, "sla_next_at", todo.first_at)
        return ticket.sla_next_at

    def notify(self, at: datetime) -> None:
        for listener in list(self.listeners):
            try:
                listener(at)
            except Exception:  # noqa: BLE001 - a timer problem must not undo a committed change
                log.exception("sla listener failed")


# what the SLA clock of a ticket is computed from (besides its desk's policy and pause rows)
_CLOCK_INPUTS = frozenset({"desk", "priority", "status", "created_at", "sla_started_at", "sla_cycle",
                           "first_response_at", "resolved_at", "closed_at", "paused_since", "paused_seconds"})


def _clock_unchanged(ticket: Ticket, now: datetime) -> bool:
    """Whether the change left every input of the clock as it was when the stored deadlines were
    computed, with nothing due yet (unflushed attribute changes are those in `committed_state`).
    A pause keeps deadlines moving, so a waiting ticket is always recomputed."""
    if ticket.paused_since is not None or ticket.sla_next_at is None or ticket.sla_next_at <= now:
        return False
    return not _CLOCK_INPUTS & inspect(ticket).committed_state.keys()


def _set(ticket: Ticket, name: str, value: datetime | None) -> None:
    """Set a derived SLA column only when it moved (setting a model attribute is not free)."""
    if getattr(ticket, name) != value:
        setattr(ticket, name, value)


def install(services: Services) -> SlaEngine:
    """Hook the SLA engine into ticket changes (once); returns it."""
    engine = engine_of(services)
    if engine is None:
        engine = SlaEngine(services)
        services.hooks.append(engine)
    return engine


def engine_of(services: Services) -> SlaEngine | None:
    return next((h for h in services.hooks if isinstance(h, SlaEngine)), None)


# ---------------------------------------------------------------- sweeps


def sla_sweep(ctx: Context, *, limit: int = SWEEP_LIMIT) -> int:
    """Send every due SLA warning, breach and escalation (up to `limit` tickets); returns alerts sent."""
    return sweep(ctx, limit=limit).alerts


@dataclass(frozen=True, slots=True)
class SweepResult:
    tickets: int  # tickets looked at (== limit: there may be more due)
    alerts: int  # alerts sent


def sweep(ctx: Context, *, limit: int = SWEEP_LIMIT) -> SweepResult:
    """One indexed range query on `sla_next_at`, then each due ticket's alerts, then its next moment.

    On PostgreSQL the rows are locked with SKIP LOCKED so two processes share the work; the
    once-only rows make a double send impossible either way.
    """
    session = ctx.session
    tickets = list(session.scalars(
        select(Ticket).where(Ticket.sla_next_at <= ctx.now)  # type: ignore[operator,arg-type]
        .order_by(Ticket.sla_next_at).limit(limit).with_for_update(skip_locked=True)  # type: ignore[arg-type]
    ).all())
    if not tickets:
        return SweepResult(0, 0)
    keys = [(tk.id or 0, tk.sla_cycle) for tk in tickets]
    pause_map = pauses.intervals_many(session, [k for k, tk in zip(keys, tickets, strict=True)
                                                if pauses.has_pauses(tk)])
    sent_map = sent_kinds(session, keys)
    total = 0
    writes: list[dict[str, Any]] = []
    for ticket in tickets:
        desk = ctx.desks.by_name(ticket.desk)
        savepoint = session.begin_nested()
        try:
            clock = clock_for(ticket, desk, ctx.now, pause_map.get(ticket.id or 0, ()))
            respond_by, resolve_by = deadlines(ticket, clock)
            next_at = None
            if clock is not None and ticket.status in OPEN:
                sent = sent_map[ticket.id or 0]
                calendar = calendar_for(desk)
                todo = plan(clock, calendar, sent, ctx.now)
                if todo.due:
                    total += fire(ctx, ticket, desk, clock, todo.due, sent)
                    todo = plan(clock, calendar, sent, ctx.now)
                next_at = todo.first_at
            savepoint.commit()
        except Exception:  # noqa: BLE001 - one broken ticket must not hold back everyone's alerts
            savepoint.rollback()
            log.exception("sla sweep failed on a ticket; retrying it later", extra={"ticket": ticket.key})
            respond_by, resolve_by = ticket.respond_by, ticket.resolve_by
            next_at = ctx.now + RETRY_AFTER_ERROR
        writes.append({"b_id": ticket.id, "b_version": ticket.version, "b_respond_by": respond_by,
                       "b_resolve_by": resolve_by, "b_next_at": next_at})
    session.expunge_all()
    session.connection().execute(_WRITE_BACK, writes)
    return SweepResult(len(tickets), total)


def next_due(session: Session) -> datetime | None:
    """The earliest pending alert moment of any ticket (one index lookup)."""
    return session.execute(select(func.min(Ticket.sla_next_at))).scalar()
