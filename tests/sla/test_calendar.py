"""Business calendars: weekends, lunch breaks, statutory holidays, make-up days, config days, DST."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from core.settings import Calendar
from core.sla.calendar import BusinessCalendar, CalendarError
from core.sla.durations import parse_duration
from tests.sla.helpers import BERLIN, berlin, cst, local


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar.from_settings(Calendar())  # Asia/Shanghai, 09-12 + 13:30-18, CN statutory


def test_default_working_day_is_seven_and_a_half_hours(cal: BusinessCalendar) -> None:
    assert cal.business_day_seconds == 7.5 * 3600


def test_lunch_break_is_skipped(cal: BusinessCalendar) -> None:
    # Monday 2025-11-03, 11:00 + 2 working hours: 1 h before lunch, 1 h after 13:30.
    assert local(cal.add(cst(2025, 11, 3, 11), parse_duration("2h"))) == "2025-11-03 Mon 14:30"
    assert cal.is_working_time(cst(2025, 11, 3, 11, 59))
    assert not cal.is_working_time(cst(2025, 11, 3, 12))
    assert not cal.is_working_time(cst(2025, 11, 3, 13, 29))
    assert cal.is_working_time(cst(2025, 11, 3, 13, 30))
    assert not cal.is_working_time(cst(2025, 11, 3, 18))
    assert local(cal.next_working_moment(cst(2025, 11, 3, 12, 30))) == "2025-11-03 Mon 13:30"
    assert cal.next_working_moment(cst(2025, 11, 3, 10, 7)) == cst(2025, 11, 3, 10, 7)


def test_weekend_is_skipped(cal: BusinessCalendar) -> None:
    assert local(cal.add(cst(2025, 11, 14, 17), parse_duration("2h"))) == "2025-11-17 Mon 10:00"
    assert local(cal.next_working_moment(cst(2025, 11, 14, 18))) == "2025-11-17 Mon 09:00"
    assert not cal.is_working_time(cst(2025, 11, 15, 10))


def test_deadline_at_end_of_day_stays_that_day(cal: BusinessCalendar) -> None:
    # Exactly one working day from 09:00 ends at 18:00 the same day, not 09:00 the next.
    assert local(cal.add(cst(2025, 11, 3, 9), parse_duration("1bd"))) == "2025-11-03 Mon 18:00"
    assert local(cal.add(cst(2025, 11, 3, 9), parse_duration("3h"))) == "2025-11-03 Mon 12:00"


def test_start_outside_working_time_counts_from_next_period(cal: BusinessCalendar) -> None:
    assert local(cal.add(cst(2025, 11, 3, 7), parse_duration("30m"))) == "2025-11-03 Mon 09:30"
    assert local(cal.add(cst(2025, 11, 8, 15), parse_duration("30m"))) == "2025-11-10 Mon 09:30"


def test_ten_business_days(cal: BusinessCalendar) -> None:
    assert local(cal.add(cst(2025, 11, 3, 9), parse_duration("10bd"))) == "2025-11-14 Fri 18:00"
    assert local(cal.add(cst(2025, 11, 3, 10), parse_duration("10bd"))) == "2025-11-17 Mon 10:00"


def test_national_day_holiday(cal: BusinessCalendar) -> None:
    for day in range(1, 9):
        assert not cal.is_working_day(date(2025, 10, day)), day
    assert cal.is_working_day(date(2025, 10, 9))
    # Tuesday 30 Sept 17:00 + 2h: one hour that day, the rest after the eight-day holiday.
    assert local(cal.add(cst(2025, 9, 30, 17), parse_duration("2h"))) == "2025-10-09 Thu 10:00"
    assert cal.elapsed(cst(2025, 9, 30, 9), cst(2025, 10, 9, 10)) == 8.5 * 3600


def test_make_up_working_days(cal: BusinessCalendar) -> None:
    # 2025-09-28 (Sunday) and 2025-10-11 (Saturday) were working days (调休).
    assert cal.is_working_day(date(2025, 9, 28))
    assert cal.is_working_day(date(2025, 10, 11))
    assert local(cal.add(cst(2025, 9, 26, 17), parse_duration("1bd"))) == "2025-09-28 Sun 17:00"
    assert cal.is_working_time(cst(2025, 9, 28, 10))


def test_statutory_days_off_when_disabled() -> None:
    cal = BusinessCalendar(cn_statutory=False)
    assert cal.is_working_day(date(2025, 10, 1))
    assert not cal.is_working_day(date(2025, 9, 28))
    assert cal.statutory_known(2099)


def test_extra_config_days_win(cal: BusinessCalendar) -> None:
    cal = BusinessCalendar(holidays=["2025-11-14"], workdays=["2025-11-15", "2025-10-03"])
    assert not cal.is_working_day(date(2025, 11, 14))
    assert cal.is_working_day(date(2025, 11, 15))
    assert cal.is_working_day(date(2025, 10, 3))  # even inside a statutory holiday
    assert local(cal.add(cst(2025, 11, 13, 17), parse_duration("2h"))) == "2025-11-15 Sat 10:00"


def test_custom_weekend_keeps_statutory_days() -> None:
    cal = BusinessCalendar(weekend=[6])  # Saturday is a working day at this desk
    assert cal.is_working_day(date(2025, 11, 15))
    assert not cal.is_working_day(date(2025, 10, 4))  # Saturday inside National Day stays off


def test_unknown_year_falls_back_to_weekends_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar()
    assert cal.statutory_known(2025)
    assert not cal.statutory_known(2099)
    with caplog.at_level(logging.WARNING, logger="deskbot.sla.calendar"):
        assert cal.is_working_day(date(2099, 1, 1))  # a Thursday: New Year unknown, so working
        assert not cal.is_working_day(date(2099, 1, 3))  # Saturday
        cal.add(cst(2099, 1, 1, 9), parse_duration("10bd"))
    warnings = [r for r in caplog.records if "2099" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].year == 2099


def test_elapsed_counts_working_time_only(cal: BusinessCalendar) -> None:
    assert cal.elapsed(cst(2025, 11, 3, 11), cst(2025, 11, 3, 14)) == 1.5 * 3600
    assert cal.elapsed(cst(2025, 11, 14, 17), cst(2025, 11, 17, 10)) == 2 * 3600
    assert cal.elapsed(cst(2025, 11, 17, 10), cst(2025, 11, 14, 17)) == -2 * 3600
    assert cal.elapsed(cst(2025, 11, 15, 0), cst(2025, 11, 16, 23)) == 0
    assert cal.elapsed(cst(2025, 11, 15, 0), cst(2025, 11, 16, 0), business=False) == 86400


def test_around_the_clock_and_calendar_days(cal: BusinessCalendar) -> None:
    start = cst(2025, 11, 15, 3)  # Saturday night
    assert cal.add(start, parse_duration("4h"), business_hours=False) == start + timedelta(hours=4)
    assert cal.add(start, parse_duration("2d")) == start + timedelta(days=2)
    assert cal.add(start, timedelta(minutes=15), business_hours=False) == start + timedelta(minutes=15)
    assert local(cal.add(start, timedelta(minutes=15))) == "2025-11-17 Mon 09:15"


def test_results_are_utc_and_any_aware_input_is_accepted(cal: BusinessCalendar) -> None:
    start = datetime(2025, 11, 3, 11, tzinfo=BERLIN)  # 18:00 in Shanghai
    deadline = cal.add(start, parse_duration("1h"))
    assert deadline.tzinfo == UTC
    assert local(deadline) == "2025-11-04 Tue 10:00"
    with pytest.raises(ValueError, match="naive"):
        cal.add(datetime(2025, 11, 3, 11), parse_duration("1h"))


def test_microseconds_survive(cal: BusinessCalendar) -> None:
    start = cst(2025, 11, 3, 10) + timedelta(microseconds=123457)
    assert cal.add(start, parse_duration("1h")) == cst(2025, 11, 3, 11) + timedelta(microseconds=123457)


def test_far_past_after_future_keeps_answers_stable(cal: BusinessCalendar) -> None:
    later = cal.add(cst(2026, 6, 1, 10), parse_duration("3bd"))
    assert local(cal.add(cst(2005, 3, 1, 10), parse_duration("3bd"))) == "2005-03-04 Fri 10:00"
    assert cal.add(cst(2026, 6, 1, 10), parse_duration("3bd")) == later
    assert cal.elapsed(cst(2005, 3, 1, 10), cst(2005, 3, 4, 10)) == 3 * 7.5 * 3600


def test_berlin_spring_forward() -> None:
    cal = BusinessCalendar(timezone="Europe/Berlin", hours=["09:00-17:00"], cn_statutory=False)
    # Friday before the switch (CET, UTC+1) and Monday after (CEST, UTC+2).
    assert cal.working_periods(date(2025, 3, 28)) == [
        (datetime(2025, 3, 28, 8, tzinfo=UTC), datetime(2025, 3, 28, 16, tzinfo=UTC))]
    assert cal.working_periods(date(2025, 3, 31)) == [
        (datetime(2025, 3, 31, 7, tzinfo=UTC), datetime(2025, 3, 31, 15, tzinfo=UTC))]
    deadline = cal.add(berlin(2025, 3, 28, 16), parse_duration("2h"))
    assert deadline == datetime(2025, 3, 31, 8, tzinfo=UTC)
    assert local(deadline, BERLIN) == "2025-03-31 Mon 10:00"


def test_berlin_whole_day_periods_follow_dst() -> None:
    cal = BusinessCalendar(timezone="Europe/Berlin", hours=["00:00-24:00"], weekend=[], cn_statutory=False)
    assert cal.elapsed(berlin(2025, 3, 30), berlin(2025, 3, 31)) == 23 * 3600
    assert cal.elapsed(berlin(2025, 10, 26), berlin(2025, 10, 27)) == 25 * 3600
    assert cal.add(berlin(2025, 3, 30), parse_duration("1bd")) == berlin(2025, 3, 31, 1)


def test_period_inside_dst_gap_has_no_length() -> None:
    cal = BusinessCalendar(
        timezone="Europe/Berlin", hours=["02:00-03:00", "09:00-10:00"], weekend=[], cn_statutory=False,
    )
    assert len(cal.working_periods(date(2025, 3, 30))) == 1
    assert len(cal.working_periods(date(2025, 3, 31))) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": []}, "empty"),
        ({"hours": ["9-12"]}, "not a time"),
        ({"hours": ["09:00"]}, "not a period"),
        ({"hours": ["18:00-09:00"]}, "cannot cross midnight"),
        ({"hours": ["09:00-12:00", "11:00-13:00"]}, "overlap"),
        ({"weekend": [7]}, "weekdays"),
        ({"weekend": list(range(7))}, "no working time"),
        ({"holidays": ["2025-13-01"]}, "calendar.holidays"),
        ({"holidays": ["2025-11-14"], "workdays": ["2025-11-14"]}, "both"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        BusinessCalendar(**kwargs)


def test_no_working_time_at_all_is_an_error() -> None:
    days = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(6000)]
    cal = BusinessCalendar(cn_statutory=False, holidays=days)
    with pytest.raises(CalendarError, match="no working time"):
        cal.add(cst(2025, 1, 2, 10), parse_duration("1h"))


def _reference_add(cal: BusinessCalendar, start: datetime, steps: int, step: timedelta) -> datetime:
    """Walk the clock step by step (slow, obviously right) to check the fast arithmetic."""
    t = start
    while steps:
        if cal.is_working_time(t) and cal.is_working_time(t + step - timedelta(microseconds=1)):
            steps -= 1
        t += step
    return t


@pytest.mark.parametrize(
    ("settings", "first_day"),
    [
        (Calendar(), datetime(2025, 9, 24, tzinfo=UTC)),  # through National Day and its make-up days
        (Calendar(timezone="Europe/Berlin", hours=["08:00-12:00", "13:00-17:30"], cn_statutory=False,
                  holidays=["2025-10-31"], workdays=["2025-10-25"]),
         datetime(2025, 10, 20, tzinfo=UTC)),  # through the autumn DST switch
    ],
)
def test_matches_step_by_step_reference(settings: Calendar, first_day: datetime) -> None:
    cal = BusinessCalendar.from_settings(settings)
    rng = random.Random(9)
    step = timedelta(minutes=15)
    for _ in range(60):
        start = first_day + step * rng.randrange(0, 4 * 24 * 10)
        steps = rng.randrange(1, 4 * 20)
        expected = _reference_add(cal, cal.next_working_moment(start), steps, step)
        # The reference ends after the last working step; the exact deadline is that step's end.
        got = cal.add(start, step * steps)
        assert got == expected, (start, steps)
        assert cal.elapsed(start, got) == (step * steps).total_seconds()
