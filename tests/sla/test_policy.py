"""SLA clocks of tickets: deadlines per priority, warnings, pauses, breaches, escalations, priority changes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.settings import Calendar, EscalationLevel, SlaPolicy, SlaTarget
from core.sla.calendar import BusinessCalendar
from core.sla.policy import PolicyError, check_policy, compute_clock
from tests.sla.helpers import BERLIN, berlin, cst, local

CAL = BusinessCalendar.from_settings(Calendar())
POLICY = SlaPolicy()
HOUR = 3600


def clock(priority: str = "P2", *, created=None, now=None, policy: SlaPolicy = POLICY, cal=CAL, **kw):
    created = created or cst(2025, 11, 3, 10)  # Monday 10:00 in Shanghai
    return compute_clock(
        policy=policy, calendar=cal, priority=priority, created_at=created, now=now or created, **kw
    )


def test_p2_business_deadlines_and_warning() -> None:
    c = clock("P2")
    # respond 4h of working time: 10-12, then 13:30-15:30
    assert local(c.respond.due_at) == "2025-11-03 Mon 15:30"
    assert local(c.respond.warn_at) == "2025-11-03 Mon 14:30"  # 75 % = 3 h
    # resolve 3bd = 22.5h: Mon 6.5 + Tue 7.5 + Wed 7.5 + Thu 1
    assert local(c.resolve.due_at) == "2025-11-06 Thu 10:00"
    assert c.respond.business and c.resolve.business
    assert c.respond.left_seconds == 4 * HOUR
    assert c.respond.state == "running" and not c.respond.breached


def test_p0_runs_around_the_clock_on_a_weekend_night() -> None:
    c = clock("P0", created=cst(2025, 11, 1, 3))  # Saturday 03:00
    assert local(c.respond.due_at) == "2025-11-01 Sat 03:15"
    assert local(c.resolve.due_at) == "2025-11-01 Sat 07:00"
    assert local(c.resolve.warn_at) == "2025-11-01 Sat 06:00"
    assert not c.resolve.business


def test_p3_one_business_day_over_a_weekend() -> None:
    c = clock("P3", created=cst(2025, 11, 7, 17))  # Friday 17:00
    assert local(c.respond.due_at) == "2025-11-10 Mon 17:00"
    assert local(c.resolve.due_at) == "2025-11-21 Fri 17:00"


def test_statutory_holiday_and_make_up_day() -> None:
    c = clock("P3", created=cst(2025, 9, 30, 16))  # the day before National Day
    # 2 h on 30 Sept, 1-8 Oct off, 5.5 h on Thu 9 Oct
    assert local(c.respond.due_at) == "2025-10-09 Thu 16:00"
    c = clock("P2", created=cst(2025, 9, 26, 16))  # Friday before the make-up Sunday
    assert local(c.respond.due_at) == "2025-09-28 Sun 11:00"


def test_warning_and_breach_flags_as_time_passes() -> None:
    created = cst(2025, 11, 3, 10)
    assert not clock(now=cst(2025, 11, 3, 14)).respond.warned
    warned = clock(now=cst(2025, 11, 3, 14, 30)).respond
    assert warned.warned and warned.state == "warning" and not warned.breached
    at_due = clock(now=cst(2025, 11, 3, 15, 30)).respond
    assert at_due.breached and at_due.state == "breached" and at_due.left_seconds == 0
    late = clock(created=created, now=cst(2025, 11, 4, 10)).respond
    assert late.left_seconds == -(2.5 + 1) * HOUR  # 15:30-18:00 Mon, 09:00-10:00 Tue


def test_first_response_met_or_missed() -> None:
    met = clock(now=cst(2025, 11, 4, 9), first_response_at=cst(2025, 11, 3, 15, 30)).respond
    assert met.met and met.state == "met" and not met.breached and not met.warned
    assert met.left_seconds == 0
    missed = clock(now=cst(2025, 11, 4, 12), first_response_at=cst(2025, 11, 4, 9, 30)).respond
    assert missed.breached and missed.state == "missed"
    assert missed.left_seconds == -3 * HOUR
    assert clock(now=cst(2025, 11, 4, 12), first_response_at=cst(2025, 11, 3, 11)).resolve.state == "running"


def test_resolution_without_response_stops_both() -> None:
    c = clock(now=cst(2025, 11, 5, 10), resolved_at=cst(2025, 11, 3, 11))
    assert c.respond.state == "met" and c.resolve.state == "met"
    assert c.moments() == [] and c.next_moment() is None


def test_pause_shifts_deadlines_by_working_time_paused() -> None:
    pauses = [(cst(2025, 11, 3, 11), cst(2025, 11, 4, 11))]  # Mon 11:00 -> Tue 11:00 = 7.5 working hours
    c = clock(now=cst(2025, 11, 4, 12), pauses=pauses)
    assert local(c.respond.due_at) == "2025-11-04 Tue 15:30"
    assert local(c.resolve.due_at) == "2025-11-07 Fri 10:00"
    assert c.resolve.paused_seconds == 7.5 * HOUR
    assert c.respond.left_seconds == 2 * HOUR  # consumed: Mon 10-11, Tue 11-12
    assert not c.paused


def test_open_pause_stops_the_clock_and_the_alerts() -> None:
    pauses = [(cst(2025, 11, 3, 11), None)]
    c = clock(now=cst(2025, 11, 4, 16), pauses=pauses)
    assert c.paused and c.paused_since == cst(2025, 11, 3, 11)
    assert c.respond.state == "paused" and not c.respond.breached
    assert c.respond.left_seconds == 3 * HOUR
    assert c.next_moment() is None
    # provisional deadline: as if the requester answered now (Tue 16:00): 2h + 1h Wed
    assert local(c.respond.due_at) == "2025-11-05 Wed 10:00"
    resumed = clock(now=cst(2025, 11, 4, 16), pauses=[(cst(2025, 11, 3, 11), cst(2025, 11, 4, 16))])
    assert resumed.respond.due_at == c.respond.due_at and not resumed.paused
    assert resumed.next_moment() is not None


def test_pause_after_breach_does_not_undo_it() -> None:
    pauses = [(cst(2025, 11, 3, 16), cst(2025, 11, 4, 10))]
    c = clock(now=cst(2025, 11, 4, 10, 30), pauses=pauses).respond
    assert local(c.due_at) == "2025-11-03 Mon 15:30"
    assert c.breached
    assert c.left_seconds == -HOUR  # 15:30-16:00 Mon and 10:00-10:30 Tue ran; the pause did not


def test_pause_outside_working_hours_costs_business_clocks_nothing() -> None:
    weekend = [(cst(2025, 11, 8, 9), cst(2025, 11, 10, 8))]
    business = clock(created=cst(2025, 11, 7, 10), now=cst(2025, 11, 10, 9), pauses=weekend)
    assert business.resolve.paused_seconds == 0
    assert local(business.resolve.due_at) == "2025-11-12 Wed 10:00"
    p1 = clock("P1", created=cst(2025, 11, 8, 8), now=cst(2025, 11, 10, 9), pauses=weekend)
    assert p1.resolve.paused_seconds == 47 * HOUR  # around the clock, the whole weekend pause counts
    assert p1.resolve.due_at == cst(2025, 11, 8, 16) + timedelta(hours=47)


def test_policy_can_keep_the_clock_running_while_waiting() -> None:
    policy = SlaPolicy(pause_when_waiting=False)
    c = clock(policy=policy, now=cst(2025, 11, 4, 12), pauses=[(cst(2025, 11, 3, 11), None)])
    assert not c.paused and c.resolve.paused_seconds == 0
    assert local(c.respond.due_at) == "2025-11-03 Mon 15:30"


def test_overlapping_pauses_count_once() -> None:
    pauses = [(cst(2025, 11, 3, 11), cst(2025, 11, 3, 14)), (cst(2025, 11, 3, 11, 30), cst(2025, 11, 3, 15))]
    c = clock(now=cst(2025, 11, 3, 16), pauses=pauses)
    assert c.resolve.paused_seconds == 2.5 * HOUR  # 11-12 and 13:30-15


def test_priority_change_recomputes_from_creation() -> None:
    created = cst(2025, 11, 3, 10)
    before = clock("P3", created=created, now=cst(2025, 11, 3, 10, 20))
    assert local(before.respond.due_at) == "2025-11-04 Tue 10:00"
    after = clock("P1", created=created, now=cst(2025, 11, 3, 10, 20))
    assert after.respond.due_at == created + timedelta(minutes=30)
    assert after.resolve.due_at == created + timedelta(hours=8)
    assert after.respond.left_seconds == 10 * 60
    late_change = clock("P1", created=created, now=cst(2025, 11, 3, 11))
    assert late_change.respond.breached  # raised to P1 after 30 min: already overdue, said at once


def test_escalations_follow_the_breach() -> None:
    policy = SlaPolicy(escalations=[
        EscalationLevel(),  # at the breach: leads + team chat
        EscalationLevel(after="1h", notify=["slack:U1"]),
        EscalationLevel(after="1bd", notify=["slack:U2"]),
    ])
    c = clock(policy=policy, created=cst(2025, 11, 3, 11))
    assert local(c.respond.due_at) == "2025-11-03 Mon 16:30"
    levels = c.respond.escalations
    assert [e.level for e in levels] == [1, 2, 3]
    assert levels[0].at == c.respond.due_at and levels[0].notify == ("leads", "team_chat")
    assert local(levels[1].at) == "2025-11-03 Mon 17:30"
    assert local(levels[2].at) == "2025-11-04 Tue 16:30"  # in working time, like the target
    p0 = clock("P0", policy=policy, created=cst(2025, 11, 1, 3))
    assert p0.resolve.escalations[1].at == p0.resolve.due_at + timedelta(hours=1)


def test_moments_for_the_scheduler() -> None:
    c = clock(created=cst(2025, 11, 3, 10))
    kinds = [k for k, _ in c.moments()]
    assert kinds == ["respond_warn", "respond_breach", "respond_escalate_1", "resolve_warn", "resolve_breach",
                     "resolve_escalate_1"]
    times = [at for _, at in c.moments()]
    assert times == sorted(times)
    assert c.next_moment() == c.respond.warn_at
    responded = clock(now=cst(2025, 11, 3, 15), first_response_at=cst(2025, 11, 3, 11))
    assert [k for k, _ in responded.moments()][0] == "resolve_warn"


def test_no_warning_when_disabled() -> None:
    c = clock(policy=SlaPolicy(warn_at=0), now=cst(2025, 11, 3, 15))
    assert c.respond.warn_at is None and not c.respond.warned
    assert "respond_warn" not in [k for k, _ in c.moments()]


def test_berlin_desk_across_spring_forward() -> None:
    cal = BusinessCalendar(timezone="Europe/Berlin", hours=["09:00-17:00"], cn_statutory=False)
    c = clock("P2", cal=cal, created=berlin(2025, 3, 28, 15))
    assert local(c.respond.due_at, BERLIN) == "2025-03-31 Mon 11:00"
    assert c.respond.due_at == berlin(2025, 3, 31, 11)
    # 3bd = 24 h of this calendar's working time: Fri 2 h, Mon and Tue 8 h each, Wed 6 h
    assert local(c.resolve.due_at, BERLIN) == "2025-04-02 Wed 15:00"


def test_bad_policies_are_named() -> None:
    with pytest.raises(PolicyError, match="P9"):
        clock("P9")
    with pytest.raises(PolicyError, match="warn_at"):
        clock(policy=SlaPolicy(warn_at=1.5))
    bad = SlaPolicy(targets={"P2": SlaTarget(respond="4x", resolve="1bd")})
    with pytest.raises(PolicyError, match=r"sla\.targets\.P2\.respond"):
        check_policy(bad)
    with pytest.raises(PolicyError, match=r"escalations\[0\]"):
        check_policy(SlaPolicy(escalations=[EscalationLevel(after="soon")]))
    check_policy(SlaPolicy())


def test_opening_moments_are_those_of_the_full_clock() -> None:
    """The shortcut used when a ticket is opened gives what compute_clock and plan give."""
    import random

    from core.sla.engine import plan
    from core.sla.policy import opening_moments

    policy = SlaPolicy(
        targets={**POLICY.targets, "P1": SlaTarget(respond="30m", resolve="8h", business_hours=False, warn_at=0.5)},
        escalations=[EscalationLevel(after="0m"), EscalationLevel(after="1h"), EscalationLevel(after="1bd")])
    no_warning = SlaPolicy(warn_at=0.0)
    rng = random.Random(11)
    start = cst(2025, 9, 20)  # over the National Day holiday, its make-up days and weekends
    for _ in range(400):
        created = start + timedelta(minutes=rng.randrange(120 * 24 * 60), seconds=rng.randrange(60))
        for pol in (policy, no_warning):
            for priority in ("P0", "P1", "P2", "P3"):
                full = compute_clock(policy=pol, calendar=CAL, priority=priority, created_at=created, now=created)
                respond_by, resolve_by, moments = opening_moments(pol, CAL, priority, created)
                assert (respond_by, resolve_by) == (full.respond.due_at, full.resolve.due_at), (priority, created)
                assert sorted(moments) == sorted(at for _, at in full.moments()), (priority, created)
                assert min(moments) == plan(full, CAL, frozenset(), created).first_at
