"""Restart: deadlines are recomputed only when what they depend on changed, and the fast path matches the hook."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, type_coerce, update
from sqlalchemy.engine import Engine
from sqlalchemy.types import NullType

from core.clock import FakeClock
from core.context import Services
from core.db.models import Ticket
from core.settings import Calendar, CoreSettings, EscalationLevel
from core.sla import restart
from core.sla.calendar import to_us
from core.sla.display import calendar_for
from core.sla.engine import clock_for, deadlines, plan
from core.sla.restart import Planner, RawTimes, fingerprint, recompute_on_start, stored_fingerprint
from tests.sla.conftest import SlaDesk, sla_settings
from tests.sla.helpers import cst, local


def _fingerprint_in_db(desk: SlaDesk) -> str | None:
    with desk.uow.begin() as session:
        return stored_fingerprint(session)


def test_first_start_recomputes_and_stores_the_fingerprint(engine: Engine) -> None:
    first = SlaDesk(engine)
    first.open("P1")
    first.open("P2")
    assert _fingerprint_in_db(first) is None
    stats = recompute_on_start(first.uow, first.h.services)
    assert not stats.skipped and stats.complete and stats.tickets == 2
    assert _fingerprint_in_db(first) == fingerprint(first.h.services)


def test_restart_with_unchanged_settings_recomputes_nothing(engine: Engine) -> None:
    first = SlaDesk(engine)
    key = first.open("P1")
    recompute_on_start(first.uow, first.h.services)
    # a stored value no recompute would keep: if the restart recomputed, it would be rewritten
    with first.uow.begin() as session:
        session.execute(update(Ticket).where(Ticket.key == key).values(sla_next_at=None))
    second = SlaDesk(engine, clock=first.clock)  # a new process, equal (not identical) settings
    stats = recompute_on_start(second.uow, second.h.services)
    assert stats.skipped and (stats.tickets, stats.changed) == (0, 0)
    assert second.ticket(key).sla_next_at is None


def test_restart_with_a_changed_policy_recomputes_and_then_settles(engine: Engine) -> None:
    first = SlaDesk(engine)
    key = first.open("P1")
    recompute_on_start(first.uow, first.h.services)
    assert local(first.ticket(key).resolve_by) == "2025-11-17 Mon 18:00"  # 8 h around the clock
    settings = sla_settings()
    settings.desks[0].sla.targets["P1"].resolve = "6h"
    second = SlaDesk(engine, settings=settings, clock=first.clock)
    stats = recompute_on_start(second.uow, second.h.services)
    assert not stats.skipped and (stats.tickets, stats.changed) == (1, 1)
    assert local(second.ticket(key).resolve_by) == "2025-11-17 Mon 16:00"
    assert _fingerprint_in_db(second) == fingerprint(second.h.services) != fingerprint(first.h.services)
    third = SlaDesk(engine, settings=settings, clock=first.clock)
    assert recompute_on_start(third.uow, third.h.services).skipped


def test_a_calendar_change_recomputes_working_time_deadlines(engine: Engine) -> None:
    first = SlaDesk(engine)
    key = first.open("P2")  # 4 working hours to respond from Monday 10:00
    recompute_on_start(first.uow, first.h.services)
    assert local(first.ticket(key).respond_by) == "2025-11-17 Mon 15:30"
    calendar = sla_settings().desks[0].calendar.model_copy(update={"hours": ["09:00-12:00", "13:00-18:00"]})
    second = SlaDesk(engine, settings=sla_settings(calendar=calendar), clock=first.clock)
    assert not recompute_on_start(second.uow, second.h.services).skipped
    assert local(second.ticket(key).respond_by) == "2025-11-17 Mon 15:00"


def test_new_holiday_data_changes_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(settings=sla_settings(), clock=FakeClock(cst(2025, 11, 17)))
    before = fingerprint(services)
    assert fingerprint(Services(settings=sla_settings(), clock=FakeClock(cst(2025, 11, 17)))) == before
    real = restart.metadata.version
    monkeypatch.setattr(restart.metadata, "version",
                        lambda name: "9999.1" if name == "chinesecalendar" else real(name))
    assert fingerprint(services) != before


def test_a_recompute_cut_short_is_done_again_on_the_next_start(engine: Engine) -> None:
    first = SlaDesk(engine)
    keys = [first.open("P1") for _ in range(3)]
    recompute_on_start(first.uow, first.h.services)
    settings = sla_settings()
    settings.desks[0].sla.targets["P1"].resolve = "6h"
    second = SlaDesk(engine, settings=settings, clock=first.clock)
    batches = iter([False, True])  # stop after the first batch of one ticket
    stats = recompute_on_start(second.uow, second.h.services, batch=1, should_stop=lambda: next(batches))
    assert not stats.complete and stats.changed == 1
    assert _fingerprint_in_db(second) is None  # not the old one: those deadlines are half rewritten
    # back on the old settings: the rewritten ticket is put right again
    third = SlaDesk(engine, clock=first.clock)
    stats = recompute_on_start(third.uow, third.h.services)
    assert not stats.skipped and stats.changed == 1
    assert {local(third.ticket(k).resolve_by) for k in keys} == {"2025-11-17 Mon 18:00"}


def test_raw_times_match_what_the_orm_writes(engine: Engine) -> None:
    desk = SlaDesk(engine)
    key = desk.open("P1")
    raw = RawTimes(engine.dialect)
    with desk.uow.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.key == key)).one()
        ticket.sla_next_at = datetime(2025, 11, 17, 2, 0, tzinfo=ticket.created_at.tzinfo)  # no microseconds
    with desk.uow.begin() as session:
        rows = session.connection().execute(select(
            type_coerce(Ticket.created_at, NullType()), type_coerce(Ticket.sla_next_at, NullType()),
            Ticket.created_at, Ticket.sla_next_at).where(Ticket.key == key)).one()
    for stored, typed in ((rows[0], rows[2]), (rows[1], rows[3])):
        assert raw.us(stored) == to_us(typed)
        assert raw.value(to_us(typed)) == stored


def _two_desks() -> CoreSettings:
    """The SLA test desk plus a Berlin desk that does not pause while waiting, with more escalation levels."""
    it = sla_settings().desks[0]
    sla = it.sla.model_copy(update={"pause_when_waiting": False, "warn_at": 0.5, "escalations": [
        EscalationLevel(after="0m"), EscalationLevel(after="1bd"), EscalationLevel(after="2d")]})
    hr = it.model_copy(update={"name": "HR", "prefix": "HR", "team_chat": None, "sla": sla, "calendar": Calendar(
        timezone="Europe/Berlin", hours=["08:00-16:00"], cn_statutory=False, holidays=["2025-10-03"])})
    return CoreSettings(desks=[it, hr])


def test_planner_gives_the_values_of_the_ticket_hook() -> None:
    """Random tickets (priorities, pauses, responses, reopens, sent alerts) around a statutory holiday
    and its make-up day, at random moments: the fast path equals clock_for + deadlines + plan."""
    services = Services(settings=_two_desks(), clock=FakeClock(cst(2025, 10, 1)))
    rng = random.Random(11)
    kinds = [f"{t}_{k}" for t in ("respond", "resolve")
             for k in ("warn", "breach", "escalate_1", "escalate_2", "escalate_3")]
    checked_passed = 0
    for _ in range(3000):
        desk = rng.choice(services.desks.desks)
        now = cst(2025, 9, 20) + timedelta(minutes=rng.randrange(0, 40 * 24 * 60))
        if rng.random() < 0.4:  # just after working time ends: alerts up to GRACE late still go out
            day = (now.astimezone(calendar_for(desk).tz)).replace(second=0, microsecond=0)
            end = rng.choice((12, 18)) if desk.name == "IT" else 16
            now = day.replace(hour=end, minute=0) + timedelta(minutes=rng.randrange(0, 20))
        start = now - timedelta(minutes=rng.randrange(0, rng.choice((8 * 60, 15 * 24 * 60))))
        pauses: list[tuple[datetime, datetime | None]] = []
        at = start
        for _ in range(rng.choice((0, 0, 1, 2))):
            p_start = at + (now - at) * rng.random()
            p_end = None if rng.random() < 0.4 else p_start + (now - p_start) * rng.random()
            pauses.append((p_start, p_end))
            if p_end is None:
                break
            at = p_end
        responded = start + (now - start) * rng.random() if rng.random() < 0.5 else None
        resolved = start + (now - start) * rng.random() if rng.random() < 0.1 else None
        cycle = rng.choice((0, 0, 1))
        stored_respond = start - timedelta(hours=1) if rng.random() < 0.7 else None
        sent = set(rng.sample(kinds, rng.randrange(0, 4)))
        priority = rng.choice(("P0", "P1", "P2", "P3", "P9"))  # P9: no target on any desk
        row = SimpleNamespace(priority=priority, created_at=start, sla_started_at=None, first_response_at=responded,
                              resolved_at=resolved, closed_at=None, status="in_progress", sla_cycle=cycle,
                              respond_by=stored_respond, resolve_by=None)

        clock = clock_for(row, desk, now, pauses)
        want_respond, want_resolve = deadlines(row, clock)
        want_next = None
        if clock is not None:
            passed = any(m <= now for _, m in clock.moments())
            want_next = plan(clock, calendar_for(desk), sent if passed else set(), now).first_at

        planner = Planner(services, now)
        got = planner.timers(desk.name, priority, to_us(start), responded and to_us(responded),
                             resolved and to_us(resolved), cycle, keep_respond_by=bool(cycle) and stored_respond is not None,
                             pause_list=pauses)
        got_next = planner.next_at(got, sent) if got.passed else got.next_us
        checked_passed += got.passed
        us = lambda t: None if t is None else to_us(t)  # noqa: E731
        assert (got.respond_us if got.respond_us is not None else us(stored_respond)) == us(want_respond), row
        assert got.resolve_us == us(want_resolve), row
        assert got_next == us(want_next), (row, now, pauses, sent)
    assert checked_passed > 500  # the sent-alert path was exercised, not only the quiet one
