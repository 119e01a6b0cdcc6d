"""After a restart: recompute stored SLA deadlines only when what they depend on changed, and quickly when it did."""

from __future__ import annotations

import gc
import hashlib
import json
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlmodel import Session

from core.context import Services
from core.db.models import SlaState, Ticket
from core.db.uow import UnitOfWork
from core.settings import Desk
from core.sla import pauses
from core.sla.calendar import BusinessCalendar, from_us, to_us
from core.sla.display import calendar_for
from core.sla.engine import GRACE, OPEN, sent_kinds
from core.sla.policy import Pause, PauseSpan, TimerRule, escalations_us, placed, timer_rules

# Bump when the deadline arithmetic itself changes, so a new release recomputes what an old one stored.
RULES_VERSION = 1
FINGERPRINT_KEY = "deadlines_fingerprint"
# Tickets per recompute transaction. Each holds SQLite's write lock (other writers wait) for about
# 0.3 s; each commit writes the index pages the batch touched anew, so smaller is slower in all.
BATCH = 10_000
_US = timedelta(microseconds=1)
_GRACE_US = GRACE // _US
_STATE = SlaState.__table__  # type: ignore[attr-defined]
_T = Ticket.__table__.c  # type: ignore[attr-defined]
_WRITE_CACHE_KIB = 64 * 1024  # SQLite page cache while writing back (see RawTimes.write_back)
_DEADLINES = ("respond_by", "resolve_by", "sla_next_at")
Changed = tuple[bool, bool, bool]  # which of _DEADLINES a write-back sets
# only what deadlines depend on, and the status (only open rows are recomputed, so closed_at is not needed)
_COLUMNS = ("id", "desk", "priority", "created_at", "sla_started_at", "first_response_at", "resolved_at",
            "sla_cycle", "paused_since", "paused_seconds", *_DEADLINES, "version", "status")


@dataclass(frozen=True, slots=True)
class RecomputeStats:
    tickets: int  # open tickets looked at
    changed: int  # tickets whose deadlines or next alert moment were rewritten
    seconds: float
    skipped: bool = False  # the fingerprint matched: nothing that deadlines depend on changed
    complete: bool = True  # False when stopped before the last ticket


# ---------------------------------------------------------------- fingerprint


def fingerprint(services: Services) -> str:
    """A digest of everything stored deadlines depend on besides the tickets themselves: each desk's
    SLA policy and calendar, the Chinese statutory holiday data, the time-zone rules and RULES_VERSION."""
    desks = services.desks.desks
    parts = {
        "rules": RULES_VERSION,
        # tickets of an unknown desk fall back to the first one, so the order matters too
        "desks": [{"name": d.name, "sla": d.sla.model_dump(mode="json"), "calendar": d.calendar.model_dump(mode="json")}
                  for d in desks],
        "chinesecalendar": _version("chinesecalendar"),
        "zones": {tz: _zone_digest(tz) for tz in sorted({d.calendar.timezone for d in desks})},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _zone_digest(key: str) -> str:
    """Digest of the TZif file zoneinfo loads for `key` (system zone files first, then the tzdata
    package, as zoneinfo itself searches), so a DST rule update counts as a change."""
    if ".." in key or key.startswith("/"):
        return "invalid"
    for root in zoneinfo.TZPATH:
        path = Path(root) / key
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
    parts = key.split("/")
    try:
        data = resources.files(".".join(["tzdata.zoneinfo", *parts[:-1]])).joinpath(parts[-1]).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return "unknown"
    return hashlib.sha256(data).hexdigest()


def stored_fingerprint(session: Session) -> str | None:
    return session.connection().execute(
        select(_STATE.c.value).where(_STATE.c.key == FINGERPRINT_KEY)).scalar()


def store_fingerprint(session: Session, value: str, now: datetime) -> None:
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(_STATE).values(key=FINGERPRINT_KEY, value=value, updated_at=now)
    session.connection().execute(stmt.on_conflict_do_update(
        index_elements=[_STATE.c.key], set_={"value": value, "updated_at": now}))


def forget_fingerprint(session: Session) -> None:
    session.connection().execute(delete(_STATE).where(_STATE.c.key == FINGERPRINT_KEY))


def recompute_on_start(uow: UnitOfWork, services: Services, *, now: Callable[[], datetime] | None = None,
                       batch: int = BATCH, should_stop: Callable[[], bool] = lambda: False) -> RecomputeStats:
    """What a start runs: nothing when the stored fingerprint matches the current settings and data,
    otherwise `recompute_all`, then the new fingerprint is stored.

    The old fingerprint is removed before recomputing, so a recompute cut short (a stop, a crash)
    is done again on the next start even if that start has the old settings back.
    """
    started = time.perf_counter()
    clock_now = now or services.clock.now
    wanted = fingerprint(services)
    with uow.begin() as session:
        if stored_fingerprint(session) == wanted:
            return RecomputeStats(tickets=0, changed=0, seconds=time.perf_counter() - started, skipped=True)
        forget_fingerprint(session)
    stats = recompute_all(uow, services, now=clock_now, batch=batch, should_stop=should_stop)
    if stats.complete:
        with uow.begin() as session:
            store_fingerprint(session, wanted, clock_now())
    return RecomputeStats(tickets=stats.tickets, changed=stats.changed, seconds=time.perf_counter() - started,
                          complete=stats.complete)


# ---------------------------------------------------------------- full recompute


def recompute_all(uow: UnitOfWork, services: Services, *, now: Callable[[], datetime] | None = None,
                  batch: int = BATCH, should_stop: Callable[[], bool] = lambda: False) -> RecomputeStats:
    """Recompute every open ticket's deadlines and next alert moment under the current config and
    holiday data, in short transactions of `batch` tickets, writing only what changed.

    Gives the values the ticket hook would store (`SlaEngine.refresh`, without sending) but works
    on the driver's raw column values and integer microseconds, computes only the moments it
    needs, and reads the sent alerts only of tickets with a moment already passed. Sends nothing:
    what is due is left for the sweep (due moments keep `sla_next_at` in the past).
    """
    started = time.perf_counter()
    clock_now = now or services.clock.now
    seen = changed = 0
    raw = RawTimes(uow.engine.dialect)
    with uow.begin() as session:
        # the ids first, then each batch by primary key: paging with "status IN ... AND id > last
        # ORDER BY id LIMIT n" re-sorted every open ticket past `last` for each batch (the status
        # index does not give id order), quadratic in the number of open tickets
        ids = session.connection().execute(select(_T.id).where(_T.status.in_(OPEN)).order_by(_T.id)).scalars().all()
    complete = True
    for first in range(0, len(ids), batch):
        if should_stop():
            complete = False
            break
        with _collector_paused():
            read, written = _recompute_batch(uow, services, raw, ids[first:first + batch], clock_now)
        seen += read
        changed += written
    return RecomputeStats(tickets=seen, changed=changed, seconds=time.perf_counter() - started, complete=complete)


def _recompute_batch(uow: UnitOfWork, services: Services, raw: RawTimes, ids: Sequence[int],
                     now: Callable[[], datetime]) -> tuple[int, int]:
    """One transaction: the tickets `ids` that are still open are recomputed; returns how many, and
    how many were written."""
    with uow.begin() as session:
        conn = session.connection()
        rows = raw.read(conn, ids)
        return len(rows), raw.write_back(conn, _recompute_rows(session, services, raw, rows, now()))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """CPython's cycle collector paused for one batch.

    A batch keeps ~50,000 container objects (rows, timers, write-back parameters) alive until it
    ends: enough to set off a collection of the whole heap every batch or two, about 15 % of the
    recompute's time, for objects that reference counting frees when the batch ends anyway.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _recompute_rows(session: Session, services: Services, raw: RawTimes, rows: Sequence[Any],
                    now: datetime) -> dict[Changed, list[tuple[Any, ...]]]:
    """The rows' write-back parameters, grouped by which of respond-by, resolve-by and the next
    alert moment changed: each UPDATE sets only those, so the indexes of the others are not touched."""
    planner = Planner(services, now)
    us = raw.us
    paused = [(row[0], row[7]) for row in rows if row[8] is not None or row[9]]  # see pauses.has_pauses
    pause_map = pauses.intervals_many(session, paused)
    results = []
    for (tid, desk, priority, created, started, responded, resolved, cycle, _, _, respond_by, _, _, _, _) in rows:
        results.append(planner.timers(
            desk, priority, us(started or created) or 0, us(responded), us(resolved), cycle,
            keep_respond_by=bool(cycle) and respond_by is not None, pause_list=pause_map.get(tid, ())))
    sent_map = sent_kinds(session, [(row[0], row[7]) for row, res in zip(rows, results, strict=True) if res.passed])
    value = raw.value
    writes: dict[Changed, list[tuple[Any, ...]]] = defaultdict(list)
    for row, res in zip(rows, results, strict=True):
        tid, stored_respond, stored_resolve, stored_next = row[0], us(row[10]), us(row[11]), us(row[12])
        next_us = planner.next_at(res, sent_map.get(tid, set())) if res.passed else res.next_us
        respond_us = stored_respond if res.respond_us is None else res.respond_us
        resolve_us = stored_resolve if res.resolve_us is None else res.resolve_us
        columns = (respond_us != stored_respond, resolve_us != stored_resolve, next_us != stored_next)
        if any(columns):
            values = [value(v) for v, new in zip((respond_us, resolve_us, next_us), columns, strict=True) if new]
            writes[columns].append((*values, tid, row[13]))
    return writes


class RawTimes:
    """Ticket rows as the database driver returns and accepts them, for the full recompute.

    Over 100,000 rows SQLAlchemy's per-value type processing (and rendering thousands of bound
    ids into each statement) cost more than the SQL itself, so the recompute reads and writes
    tickets with the driver's own execute and executemany, datetimes untyped. SQLite keeps UTC
    as naive text in the exact format UtcDateTime writes ("2025-11-17 02:00:00.000000");
    PostgreSQL (psycopg) returns and takes aware datetimes.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.text = dialect.name == "sqlite"
        # us(raw) -> µs since the epoch and value(µs) -> raw; None stays None
        self.us: Callable[[Any], int | None] = _text_us if self.text else _aware_us
        self.value: Callable[[int | None], Any] = _text_value if self.text else _aware_value
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._reads: dict[int, str] = {}  # by the number of ids
        self._statements: dict[Changed, str] = {}

    def read(self, conn: Connection, ids: Sequence[int]) -> list[Any]:
        """The _COLUMNS of those of the tickets `ids` that are still open.

        The status is checked here, not in SQL, so that SQLite looks the tickets up by primary key
        instead of scanning the status index.
        """
        sql = self._reads.get(len(ids))
        if sql is None:
            marks = ", ".join([self._mark] * len(ids))
            sql = self._reads[len(ids)] = f"SELECT {', '.join(_COLUMNS)} FROM tickets WHERE id IN ({marks})"
        return [row for row in conn.exec_driver_sql(sql, tuple(ids)).all() if row[-1] in OPEN]

    def write_back(self, conn: Connection, writes: dict[Changed, list[tuple[Any, ...]]]) -> int:
        """Run the write-back parameters of `_recompute_rows`, one executemany per set of changed
        columns; returns the number of rows given.

        On SQLite the page cache is widened meanwhile, so that the pages these UPDATEs dirty (a
        batch's rows, and leaves all over the three deadline indexes: ~15 MB for 10,000 tickets)
        stay in memory until the commit: with the default 2 MB SQLite spills them to the WAL early
        and writes pages dirtied again after a spill again, nearly twice the bytes in all.
        """
        cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar() if self.text else None
        if cache_size is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size = -{_WRITE_CACHE_KIB}")
        try:
            for columns, params in writes.items():
                conn.exec_driver_sql(self._statement(columns), params)
        finally:
            if cache_size is not None:
                conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")
        return sum(len(params) for params in writes.values())

    def _statement(self, columns: Changed) -> str:
        """engine._WRITE_BACK for the changed columns only (derived data: the version is checked, not
        bumped); its parameters are the new values of those columns, then the id and the version."""
        found = self._statements.get(columns)
        if found is None:
            mark = self._mark
            sets = ", ".join(f"{name} = {mark}" for name, new in zip(_DEADLINES, columns, strict=True) if new)
            found = self._statements[columns] = f"UPDATE tickets SET {sets} WHERE id = {mark} AND version = {mark}"
        return found


_NAIVE_EPOCH = datetime(1970, 1, 1)
_parse = datetime.fromisoformat


def _text_us(value: str | None) -> int | None:
    return None if value is None else (_parse(value) - _NAIVE_EPOCH) // _US


def _text_value(us: int | None) -> str | None:
    return None if us is None else (_NAIVE_EPOCH + us * _US).isoformat(" ", "microseconds")


def _aware_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _aware_value(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


@dataclass(slots=True)
class Timers:
    """One ticket's deadlines (µs; None keeps the stored value) and its running timers."""

    respond_us: int | None
    resolve_us: int | None
    calendar: BusinessCalendar | None
    live: list[tuple[TimerRule, int, int | None]]  # (rule, due µs, warn µs) of each timer still running
    passed: bool  # some alert moment is already at or before now: the sent alerts decide
    next_us: int | None  # the next alert moment when nothing has passed


_NO_TARGET = Timers(None, None, None, [], False, None)


class Planner:
    """The ticket hook's deadline and next-alert arithmetic (engine.clock_for, deadlines and plan)
    for many tickets at one `now`, in integer microseconds.

    Rules are compiled once per (desk, priority); whether `now` is working time once per calendar.
    """

    def __init__(self, services: Services, now: datetime) -> None:
        self.services = services
        self.now_us = to_us(now)
        self.now = now
        self._rules: dict[tuple[str, str], tuple[Desk, BusinessCalendar, tuple[TimerRule, TimerRule] | None]] = {}
        self._working: dict[int, int | None] = {}  # id(calendar) -> None when now is working time, else next

    def _compiled(self, desk_name: str, priority: str) -> tuple[Desk, BusinessCalendar,
                                                                  tuple[TimerRule, TimerRule] | None]:
        key = (desk_name, priority)
        found = self._rules.get(key)
        if found is None:
            desk = self.services.desks.by_name(desk_name)
            calendar = calendar_for(desk)
            rules = timer_rules(desk.sla, calendar, priority) if priority in desk.sla.targets else None
            found = self._rules[key] = (desk, calendar, rules)
        return found

    def timers(self, desk_name: str, priority: str, start_us: int, responded_us: int | None,
               resolved_us: int | None, cycle: int, *, keep_respond_by: bool, pause_list: Iterable[Pause]) -> Timers:
        """Deadlines and running timers of a ticket whose SLA cycle started at `start_us`.

        `keep_respond_by`: a reopened ticket keeps its stored respond-by (see engine.deadlines).
        """
        desk, calendar, rules = self._compiled(desk_name, priority)
        if rules is None:  # no target for this priority: deadlines stay, no alerts
            return _NO_TARGET
        respond_rule, resolve_rule = rules
        now_us = self.now_us
        if resolved_us is not None and (responded_us is None or resolved_us < responded_us):
            responded_us = resolved_us  # a resolution without a recorded first response stops both
        respond: tuple[int, Sequence[tuple[int, int]]]  # each timer's start and pauses on its clock's axis
        if pause_list and desk.sla.pause_when_waiting:
            spans: list[PauseSpan] = [(to_us(start), now_us if end is None else to_us(end), end is None)
                                      for start, end in pause_list]
            open_pause = any(is_open for _, _, is_open in spans)
            respond = placed(respond_rule, start_us, max(now_us if responded_us is None else responded_us, start_us),
                             spans)
            resolve = placed(resolve_rule, start_us, max(now_us if resolved_us is None else resolved_us, start_us),
                             spans)
        else:  # the common case: no pauses, one axis lookup when both timers run on the same clock
            open_pause = False
            resolve = (resolve_rule.clock.axis(start_us), ())
            respond = resolve if respond_rule.clock is resolve_rule.clock else (respond_rule.clock.axis(start_us), ())
        respond_us = respond_due = None
        if responded_us is None or not keep_respond_by:
            respond_due = respond_rule.due_us(*respond)
            if not keep_respond_by:
                respond_us = respond_due
        resolve_us = resolve_rule.due_us(*resolve)
        live: list[tuple[TimerRule, int, int | None]] = []
        if not open_pause:  # waiting on the requester: the moments are provisional, nothing fires
            if respond_due is not None and responded_us is None:
                live.append((respond_rule, respond_due, respond_rule.warn_us(*respond)))
            if resolved_us is None:
                live.append((resolve_rule, resolve_us, resolve_rule.warn_us(*resolve)))
        # warn <= due <= every escalation, so a timer's earliest moment is its warning or its breach
        first: int | None = None
        for _, due, warn in live:
            at = due if warn is None else warn
            if first is None or at < first:
                first = at
        passed = first is not None and first <= now_us
        return Timers(respond_us, resolve_us, calendar, live, passed, None if passed else first)

    def next_at(self, timers: Timers, sent: Set[str]) -> int | None:
        """When the sweep should next look at the ticket (the rules of engine.plan, in µs)."""
        now_us = self.now_us
        due_first: int | None = None
        later: int | None = None
        for rule, due_us, warn_us in timers.live:
            moments: list[tuple[str, int]] = []
            if warn_us is not None and rule.breach_kind not in sent and due_us > now_us:
                moments.append((rule.warn_kind, warn_us))
            moments.append((rule.breach_kind, due_us))
            moments.extend(zip(rule.escalate_kinds, escalations_us(rule, due_us), strict=True))
            for kind, at in moments:
                if kind in sent:
                    continue
                if at > now_us:
                    later = at if later is None else min(later, at)
                    continue
                if rule.business and now_us - at > _GRACE_US:
                    assert timers.calendar is not None
                    resume = self._next_working(timers.calendar)
                    if resume is not None:  # outside working time: wait for the next working moment
                        later = resume if later is None else min(later, resume)
                        continue
                due_first = at if due_first is None else min(due_first, at)
        return due_first if due_first is not None else later

    def _next_working(self, calendar: BusinessCalendar) -> int | None:
        """None when now is working time, else the next working moment (µs); once per calendar."""
        key = id(calendar)
        if key not in self._working:
            nxt = to_us(calendar.next_working_moment(self.now))
            self._working[key] = None if nxt == self.now_us else nxt
        return self._working[key]
