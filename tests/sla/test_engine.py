"""The SLA engine wired into tickets: deadlines on open, pauses, priority changes, reopen, alerts once."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.db.models import SlaAlert, TicketPause
from tests.harness import texts
from tests.sla.conftest import SlaDesk, alerts_in, sla_settings
from tests.sla.helpers import cst, local


@pytest.mark.parametrize(("priority", "opened", "respond_by", "resolve_by"), [
    # P0/P1 run around the clock, even from Saturday night
    ("P0", cst(2025, 11, 22, 23, 50), "2025-11-23 Sun 00:05", "2025-11-23 Sun 03:50"),
    ("P1", cst(2025, 11, 17, 10, 0), "2025-11-17 Mon 10:30", "2025-11-17 Mon 18:00"),
    # P2 4h of working time skips the lunch break; 3bd = 22.5 working hours
    ("P2", cst(2025, 11, 18, 10, 0), "2025-11-18 Tue 15:30", "2025-11-21 Fri 10:00"),
    # weekend: Friday 16:00 + 4h working time = Monday 11:00
    ("P2", cst(2025, 11, 14, 16, 0), "2025-11-17 Mon 11:00", "2025-11-19 Wed 16:00"),
    # statutory holiday: National Day 10-01..10-08 is off, work resumes Thursday 10-09, and
    # Saturday 10-11 is a make-up working day
    ("P2", cst(2025, 9, 30, 16, 0), "2025-10-09 Thu 11:00", "2025-10-11 Sat 16:00"),
    # make-up working day: Sunday 2025-09-28 is a working day (调休)
    ("P2", cst(2025, 9, 26, 16, 0), "2025-09-28 Sun 11:00", "2025-09-30 Tue 16:00"),
    # P3: 1bd / 10bd in working time
    ("P3", cst(2025, 11, 17, 10, 0), "2025-11-18 Tue 10:00", "2025-12-01 Mon 10:00"),
])
def test_deadlines_on_open(engine: Engine, priority: str, opened, respond_by: str, resolve_by: str) -> None:
    desk = SlaDesk(engine, start=opened)
    key = desk.open(priority)
    ticket = desk.ticket(key)
    assert (local(ticket.respond_by), local(ticket.resolve_by)) == (respond_by, resolve_by)
    # the first alert is the first-response warning at 75 %
    assert ticket.sla_next_at is not None and opened < ticket.sla_next_at < ticket.respond_by


def test_card_shows_deadlines_and_time_left(desk: SlaDesk) -> None:
    out = desk.h.say(desk.h.user("alice"), "Printer on floor 3 is jammed")
    card = next(o.reply for o in out if o.reply.card_key and o.to.chat_id == "it-team")
    fields = {f.label: f.value for f in card.fields}
    assert fields["Respond by"] == "11-17 15:30 · 4h left"  # P2 from Monday 10:00, lunch skipped
    assert fields["Resolve by"] == "11-20 10:00 · 22h 30m left"


def test_pause_while_waiting_moves_deadlines_and_silences_alerts(desk: SlaDesk) -> None:
    key = desk.open("P2")  # Monday 10:00: respond by 14:30, resolve by Thursday 10:00
    desk.clock.advance(minutes=30)
    desk.command("wang", f"claim {key}")
    assert local(desk.ticket(key).first_response_at) == "2025-11-17 Mon 10:30"
    desk.command("wang", f"status {key} waiting which printer?")
    ticket = desk.ticket(key)
    assert ticket.paused_since is not None and ticket.sla_next_at is None
    # two days of waiting, far past the warning and the original resolve-by: nothing fires
    desk.clock.set(cst(2025, 11, 20, 12, 0))
    assert alerts_in(desk.sweep()) == []
    card = next(o.reply for o in desk.command("wang", f"show {key}") if o.reply.fields)
    assert "paused" in {f.label: f.value for f in card.fields}["Resolve by"]
    # the requester answers on Thursday 12:00: the clock runs again, pushed back by the working time paused
    desk.h.say(desk.h.user("alice"), "the one by the window", thread="open1")
    ticket = desk.ticket(key)
    assert ticket.status == "in_progress" and ticket.paused_since is None
    # paused Mon 10:30 → Thu 12:00 = 6h + 7.5h + 7.5h + 3h = 24h of working time, so resolve-by
    # moves from Thursday 10:00 by 24 working hours (Thu 6.5 + Fri 7.5 + Mon 7.5 + Tue 2.5)
    assert local(ticket.resolve_by) == "2025-11-25 Tue 11:30"
    assert ticket.paused_seconds == pytest.approx((cst(2025, 11, 20, 12) - cst(2025, 11, 17, 10, 30)).total_seconds())
    with desk.uow.begin() as s:
        pauses = s.exec(select(TicketPause)).all()
    assert [(local(p.started_at), local(p.ended_at)) for p in pauses] == [
        ("2025-11-17 Mon 10:30", "2025-11-20 Thu 12:00")]
    answer = texts(desk.command("wang", f"sla {key}"))[0]
    assert "paused 24h of working time" in answer


def test_pause_not_counted_when_the_desk_says_so(engine: Engine) -> None:
    settings = sla_settings()
    settings.desks[0].sla.pause_when_waiting = False
    desk = SlaDesk(engine, settings=settings)
    key = desk.open("P2")
    desk.command("wang", f"claim {key}")
    desk.command("wang", f"status {key} waiting")
    assert desk.ticket(key).sla_next_at is not None  # the clock keeps running
    desk.clock.set(cst(2025, 11, 20, 10, 30))  # resolve-by was Thursday 10:00
    assert alerts_in(desk.sweep()) == [("@wang", "🔴 SLA breached · IT-1"), ("@lead", "🔺 SLA escalation level 1 · IT-1"),
                                       ("it-team", "🔺 SLA escalation level 1 · IT-1")]


def test_priority_change_recomputes_and_reports_a_past_breach_at_once(desk: SlaDesk) -> None:
    key = desk.open("P3")
    assert local(desk.ticket(key).resolve_by) == "2025-12-01 Mon 10:00"
    desk.clock.advance(hours=1)
    desk.command("wang", f"priority {key} P2")
    assert local(desk.ticket(key).resolve_by) == "2025-11-20 Thu 10:00"
    desk.clock.set(cst(2025, 11, 17, 14, 30))  # four and a half hours after opening
    out = desk.command("lead", f"priority {key} P0")  # 4h around the clock: already breached
    ticket = desk.ticket(key)
    assert local(ticket.resolve_by) == "2025-11-17 Mon 14:00"
    # no stale "due soon" warning: the breach to the team chat (unassigned) and the escalation to the lead
    assert alerts_in(out) == [("it-team", "🔴 SLA breached · IT-1"), ("@lead", "🔺 SLA escalation level 1 · IT-1")]
    assert desk.alert_rows(key) == [("resolve_breach", 0), ("resolve_escalate_1", 0)]
    assert alerts_in(desk.sweep()) == []
    assert local(desk.ticket(key).sla_next_at) == "2025-11-17 Mon 15:00"  # level 2: one hour after the breach


def test_warning_breach_escalations_each_once(desk: SlaDesk) -> None:
    key = desk.open("P1")  # respond 30m, resolve 8h, around the clock, from Monday 10:00
    desk.clock.advance(minutes=22)
    assert alerts_in(desk.sweep()) == []
    desk.clock.advance(minutes=1)  # 10:23 > 75 % of 30m
    assert alerts_in(desk.sweep()) == [("it-team", "⏰ SLA due soon · IT-1")]
    assert alerts_in(desk.sweep()) == []  # twice: nothing new
    desk.clock.set(cst(2025, 11, 17, 10, 30))
    assert alerts_in(desk.sweep()) == [("it-team", "🔴 SLA breached · IT-1"),
                                       ("@lead", "🔺 SLA escalation level 1 · IT-1")]
    assert alerts_in(desk.sweep()) == []
    desk.clock.set(cst(2025, 11, 17, 11, 30))
    assert alerts_in(desk.sweep()) == [("@boss", "🔺 SLA escalation level 2 · IT-1")]  # unassigned: no assignee DM
    desk.command("wang", f"claim {key}")  # the first response stops the respond clock
    desk.clock.set(cst(2025, 11, 17, 16, 0))  # 75 % of 8h
    assert alerts_in(desk.sweep()) == [("@wang", "⏰ SLA due soon · IT-1")]  # to the assignee now
    desk.clock.set(cst(2025, 11, 17, 18, 30))
    assert alerts_in(desk.sweep()) == [("@wang", "🔴 SLA breached · IT-1"), ("@lead", "🔺 SLA escalation level 1 · IT-1"),
                                       ("it-team", "🔺 SLA escalation level 1 · IT-1")]
    desk.clock.set(cst(2025, 11, 17, 21, 0))
    assert alerts_in(desk.sweep()) == [("@boss", "🔺 SLA escalation level 2 · IT-1"),
                                       ("@wang", "🔺 SLA escalation level 2 · IT-1")]
    for _ in range(2):
        desk.clock.advance(days=3)
        assert alerts_in(desk.sweep()) == []
    assert desk.alert_rows(key) == [(k, 0) for k in (
        "respond_warn", "respond_breach", "respond_escalate_1", "respond_escalate_2",
        "resolve_warn", "resolve_breach", "resolve_escalate_1", "resolve_escalate_2")]
    assert desk.ticket(key).sla_next_at is None
    assert "SLA: resolution target missed" in texts(desk.command("wang", f"show {key}"))[0]


def test_alerts_in_chinese_when_the_desk_speaks_chinese(engine: Engine) -> None:
    desk = SlaDesk(engine, settings=sla_settings(default_lang="zh-CN"))
    desk.open("P1")
    desk.clock.advance(minutes=31)
    out = desk.sweep()
    breach = next(o.reply for o in out if o.to.chat_id == "it-team" and not o.reply.card_key)
    assert breach.title == "🔴 SLA 已超时 · IT-1"
    assert breach.body_md == "IT-1（P1）首次响应已超时，时限为 11-17 10:30。VPN keeps dropping"


def test_business_hours_alerts_wait_for_working_time(desk: SlaDesk) -> None:
    desk.clock.set(cst(2025, 11, 14, 9, 0))  # Friday 09:00
    key = desk.open("P2")  # 09:00-12:00 (3h) + 13:30-14:30 → respond by 14:30
    assert local(desk.ticket(key).respond_by) == "2025-11-14 Fri 14:30"
    # the bot was down from Friday noon until Saturday 10:00: the breach waits for Monday 09:00
    desk.clock.set(cst(2025, 11, 15, 10, 0))
    assert alerts_in(desk.sweep()) == []
    assert local(desk.ticket(key).sla_next_at) == "2025-11-17 Mon 09:00"
    desk.clock.set(cst(2025, 11, 17, 9, 0))
    # the stale warning is dropped; the breach and both escalation levels (level 2 was due Friday
    # 15:30) go out at the start of work
    assert [t for _, t in alerts_in(desk.sweep())] == [
        "🔴 SLA breached · IT-1", "🔺 SLA escalation level 1 · IT-1", "🔺 SLA escalation level 2 · IT-1"]


def test_a_deadline_at_the_end_of_the_day_fires_at_once(desk: SlaDesk) -> None:
    desk.clock.set(cst(2025, 11, 17, 13, 30))
    key = desk.open("P2")  # 13:30-17:30 → respond by 17:30
    assert local(desk.ticket(key).respond_by) == "2025-11-17 Mon 17:30"
    desk.command("wang", f"claim {key}")
    desk.clock.set(cst(2025, 11, 17, 18, 5))  # warning of resolve is days away; nothing due
    assert alerts_in(desk.sweep()) == []


def test_reopen_starts_a_new_cycle(desk: SlaDesk) -> None:
    key = desk.open("P1")
    desk.command("wang", f"claim {key}")
    desk.clock.advance(hours=7)  # 17:00: past the resolve warning (16:00)
    assert alerts_in(desk.sweep()) == [("@wang", "⏰ SLA due soon · IT-1")]
    desk.command("wang", f"resolve {key} replaced the cable")
    assert desk.ticket(key).sla_next_at is None
    desk.clock.advance(hours=10)  # Tuesday 03:00
    desk.command("alice", f"reopen {key} still broken")
    ticket = desk.ticket(key)
    assert (ticket.sla_cycle, local(ticket.sla_started_at)) == (1, "2025-11-18 Tue 03:00")
    assert local(ticket.resolve_by) == "2025-11-18 Tue 11:00"  # a fresh 8h from the reopen moment
    assert local(ticket.respond_by) == "2025-11-17 Mon 10:30"  # first response was given in cycle 0
    desk.clock.set(cst(2025, 11, 18, 9, 0))
    assert alerts_in(desk.sweep()) == [("@wang", "⏰ SLA due soon · IT-1")]  # once per cycle
    assert desk.alert_rows(key) == [("resolve_warn", 0), ("resolve_warn", 1)]
    assert "Reopened: the resolution clock restarted" in texts(desk.command("wang", f"sla {key}"))[0]


def test_cancelled_ticket_stops_its_clocks(desk: SlaDesk) -> None:
    key = desk.open("P0")
    desk.command("alice", f"cancel {key}")
    assert desk.ticket(key).sla_next_at is None
    desk.clock.advance(days=1)
    assert desk.sweep() == []


def test_every_alert_row_is_unique(desk: SlaDesk) -> None:
    for _ in range(3):
        desk.open("P0")
    desk.clock.advance(hours=6)
    desk.sweep()
    with desk.uow.begin() as s:
        rows = [(a.ticket_id, a.kind, a.cycle) for a in s.exec(select(SlaAlert)).all()]
    assert len(rows) == len(set(rows)) == 3 * 6  # respond & resolve: breach + 2 escalations (warn dropped)


def test_comments_and_the_clock(desk: SlaDesk) -> None:
    key = desk.open("P1")  # respond 30m, resolve 8h, from Monday 10:00
    before = desk.ticket(key)
    # the requester adds a detail: deadlines and the next alert moment stay as they were
    desk.clock.advance(minutes=5)
    desk.h.say(desk.h.user("alice"), "it drops every 10 minutes", thread="open1")
    after = desk.ticket(key)
    assert (after.respond_by, after.resolve_by, after.sla_next_at) == (
        before.respond_by, before.resolve_by, before.sla_next_at)
    assert after.first_response_at is None
    # a reply when the warning is already due sends it at once (the sweep would not find it again)
    desk.clock.set(cst(2025, 11, 17, 10, 25))
    out = desk.h.say(desk.h.user("alice"), "still down", thread="open1")
    assert alerts_in(out) == [("it-team", "⏰ SLA due soon · IT-1")]
    assert alerts_in(desk.sweep()) == []
    # a technician's comment is the first response: the respond clock stops, the next alert is resolve's
    desk.command("wang", f"comment {key} looking at it")
    ticket = desk.ticket(key)
    assert local(ticket.first_response_at) == "2025-11-17 Mon 10:25"
    assert local(ticket.sla_next_at) == "2025-11-17 Mon 16:00"  # 75 % of 8h


def test_breach_redraws_one_card_per_chat(desk: SlaDesk) -> None:
    # reported in the team chat itself: the card in the report's thread is the team's card too
    out = desk.h.say(desk.h.user("alice"), "VPN keeps dropping", chat="it-team")
    posted = [o.to for o in out if o.reply.card_key == "ticket:1"]
    assert [(c.chat_id, c.thread_id is not None) for c in posted] == [("it-team", True)]
    desk.clock.set(cst(2025, 11, 17, 15, 45))  # P2 from Monday 10:00: respond by 15:30
    breach = desk.sweep()
    redrawn = [o for o in breach if o.reply.card_key == "ticket:1"]
    assert [o.to for o in redrawn] == posted
    assert {f.label: f.value for f in redrawn[0].reply.fields}["Respond by"] == "11-17 15:30 · overdue 15m"


def test_a_priority_can_have_its_own_warning_point(engine: Engine) -> None:
    settings = sla_settings()
    sla = settings.desks[0].sla
    sla.targets["P1"] = sla.targets["P1"].model_copy(update={"warn_at": 0.5})
    desk = SlaDesk(engine, settings=settings)
    p1, p2 = desk.open("P1"), desk.open("P2")  # Monday 10:00
    assert local(desk.ticket(p1).sla_next_at) == "2025-11-17 Mon 10:15"  # half of 30m, around the clock
    # the policy's 75 % of 4 working hours: 10:00-12:00, then 13:30-14:30 after the lunch break
    assert local(desk.ticket(p2).sla_next_at) == "2025-11-17 Mon 14:30"
    desk.clock.set(cst(2025, 11, 17, 10, 15))
    assert alerts_in(desk.sweep()) == [("it-team", "⏰ SLA due soon · IT-1")]
