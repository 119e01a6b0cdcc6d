"""Business calendars: working hours, weekends and holidays of a desk, and arithmetic in working time."""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.sla.durations import SlaDuration

if TYPE_CHECKING:
    from core.settings import Calendar

log = logging.getLogger("deskbot.sla.calendar")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# Days of working periods materialised at a time; a year keeps the table small and rebuilds rare.
_CHUNK_DAYS = 400
# A calendar with no working time in this many days is misconfigured, not slow.
_MAX_SEARCH_DAYS = 3660


class CalendarError(ValueError):
    """A calendar setting that cannot be used (bad time zone, hours, dates)."""


def to_us(t: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: pass a timezone-aware (UTC) datetime")
    return (t - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + us * _US  # exact; twice as fast as timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class _Table:
    """Working periods of consecutive local days, flattened, with running totals of working time.

    `cum[k]` is the working time (µs, on an axis whose zero is arbitrary but never moves) before
    period k starts; `cum_end[k]` the same after it ends. `lo`..`hi` (µs) is the span the table
    answers for: from local midnight of its first day to local midnight after its last day.
    """

    first_day: date
    last_day: date  # exclusive
    lo: int
    hi: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    cum: tuple[int, ...]
    cum_end: tuple[int, ...]
    base: int  # axis value at `lo` (used when no period starts before the asked moment)


class AroundTheClock:
    """The 24x7 clock, with the same axis interface as BusinessCalendar, for around-the-clock targets."""

    business = False

    def axis(self, t_us: int) -> int:
        return t_us

    def moment(self, position: int, *, first: bool = False) -> int:
        return position


AROUND_THE_CLOCK = AroundTheClock()


class BusinessCalendar:
    """A desk's working time: time zone, periods per working day, weekends, statutory and extra days.

    Every method takes and returns UTC-aware datetimes (any aware datetime is accepted) and never
    reads the wall clock. Arithmetic maps moments onto a "working-time axis" (working microseconds
    since an arbitrary origin) with binary search over precomputed periods, so adding ten business
    days costs the same as adding ten minutes.
    """

    business = True

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        hours: list[str] | tuple[str, ...] = ("09:00-12:00", "13:30-18:00"),
        weekend: list[int] | tuple[int, ...] = (5, 6),
        cn_statutory: bool = True,
        holidays: list[str] | tuple[str, ...] = (),
        workdays: list[str] | tuple[str, ...] = (),
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"calendar.timezone: unknown time zone {timezone!r}") from exc
        self.timezone = timezone
        self.periods: tuple[tuple[time, time | None], ...] = _parse_hours(hours)
        self._minutes = tuple((_minutes(s), _minutes(e)) for s, e in self.periods)
        bad = [d for d in weekend if not isinstance(d, int) or not 0 <= d <= 6]
        if bad:
            raise CalendarError(f"calendar.weekend: {bad} are not weekdays 0 (Monday) .. 6 (Sunday)")
        self.weekend = frozenset(weekend)
        if len(self.weekend) == 7:
            raise CalendarError("calendar.weekend lists all seven days; there would be no working time")
        self.cn_statutory = cn_statutory
        self.extra_holidays = frozenset(_parse_dates("calendar.holidays", holidays))
        self.extra_workdays = frozenset(_parse_dates("calendar.workdays", workdays))
        both = self.extra_holidays & self.extra_workdays
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise CalendarError(f"calendar: {listed} listed both as holiday and as working day")
        self.business_day_seconds = sum(e - s for s, e in self._minutes) * 60
        self._cn: tuple[int, int, dict[date, object], dict[date, object]] | None = None
        self._uncovered_years: set[int] = set()
        self._lock = threading.Lock()
        self._table: _Table | None = None

    @classmethod
    def from_settings(cls, cal: Calendar) -> BusinessCalendar:
        return cls(
            timezone=cal.timezone, hours=cal.hours, weekend=cal.weekend, cn_statutory=cal.cn_statutory,
            holidays=cal.holidays, workdays=cal.workdays,
        )

    # ----------------------------------------------------------------- days

    def is_working_day(self, day: date) -> bool:
        """Extra config days win, then statutory holidays/make-up days, then the weekend rule."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if self.cn_statutory:
            verdict = self._statutory(day)
            if verdict is not None:
                return verdict
        return day.weekday() not in self.weekend

    def statutory_known(self, year: int) -> bool:
        """Whether Chinese statutory data covers `year` (always True when cn_statutory is off)."""
        if not self.cn_statutory:
            return True
        lo, hi, _, _ = self._cn_data()
        return lo <= year <= hi

    def _cn_data(self) -> tuple[int, int, dict[date, object], dict[date, object]]:
        if self._cn is None:
            import chinese_calendar  # lazy: only desks that use statutory days pay for it

            hol, work = chinese_calendar.holidays, chinese_calendar.workdays
            self._cn = (min(hol).year, max(hol).year, hol, work)
        return self._cn

    def _statutory(self, day: date) -> bool | None:
        """True for a make-up working day (调休), False for a statutory holiday, None otherwise."""
        lo, hi, hol, work = self._cn_data()
        if not lo <= day.year <= hi:
            if day.year not in self._uncovered_years:
                self._uncovered_years.add(day.year)
                # The chinesecalendar package ships each year's schedule after the State Council
                # announces it (usually in November); until upgraded we can only use weekends.
                log.warning(
                    "no Chinese statutory holiday data for %s; using weekends only "
                    "(upgrade the chinesecalendar package or list the days in [desks.calendar])",
                    day.year, extra={"year": day.year, "known_from": lo, "known_to": hi},
                )
            return None
        if day in work:
            return True
        if day in hol:
            return False
        return None

    def working_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of a local calendar day, as UTC datetimes (empty on days off)."""
        return [(from_us(s), from_us(e)) for s, e in self._day_periods(day)]

    def _day_periods(self, day: date) -> list[tuple[int, int]]:
        if not self.is_working_day(day):
            return []
        out = []
        for start_min, end_min in self._minutes:
            s = self._local_us(day, start_min)
            e = self._local_us(day, end_min)
            if e > s:  # a period swallowed by a DST gap has no length
                out.append((s, e))
        return out

    def _local_us(self, day: date, minute: int) -> int:
        """UTC µs of a local wall time; 24:00 is the next midnight. zoneinfo resolves DST gaps/folds."""
        if minute == 1440:
            day, minute = day + timedelta(days=1), 0
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.tz)
        return to_us(local)

    # ---------------------------------------------------------------- table

    def _build(self, first: date, last: date) -> tuple[list[int], list[int]]:
        starts: list[int] = []
        ends: list[int] = []
        day = first
        while day < last:
            for s, e in self._day_periods(day):
                starts.append(s)
                ends.append(e)
            day += timedelta(days=1)
        return starts, ends

    def _cover(self, first: date, last: date) -> _Table:
        """Return a table answering for local days [first, last), extending the current one if needed."""
        table = self._table
        if table is not None and table.first_day <= first and last <= table.last_day:
            return table
        with self._lock:
            table = self._table
            if table is None:
                new_first = first - timedelta(days=7)
                new_last = max(last, first + timedelta(days=_CHUNK_DAYS))
                starts, ends = self._build(new_first, new_last)
                table = self._assemble(new_first, new_last, starts, ends, base=0)
            else:
                starts, ends = list(table.starts), list(table.ends)
                new_first, new_last = table.first_day, table.last_day
                base = table.base
                if first < table.first_day:
                    new_first = min(first, table.first_day - timedelta(days=_CHUNK_DAYS))
                    pre_s, pre_e = self._build(new_first, table.first_day)
                    base -= sum(e - s for s, e in zip(pre_s, pre_e, strict=True))
                    starts, ends = pre_s + starts, pre_e + ends
                if last > table.last_day:
                    new_last = max(last, table.last_day + timedelta(days=_CHUNK_DAYS))
                    post_s, post_e = self._build(table.last_day, new_last)
                    starts, ends = starts + post_s, ends + post_e
                table = self._assemble(new_first, new_last, starts, ends, base=base)
            self._table = table
            return table

    def _assemble(
        self, first: date, last: date, starts: list[int], ends: list[int], *, base: int
    ) -> _Table:
        cum: list[int] = []
        cum_end: list[int] = []
        running = base
        for s, e in zip(starts, ends, strict=True):
            cum.append(running)
            running += e - s
            cum_end.append(running)
        return _Table(
            first_day=first, last_day=last, lo=self._local_us(first, 0), hi=self._local_us(last, 0),
            starts=tuple(starts), ends=tuple(ends), cum=tuple(cum), cum_end=tuple(cum_end), base=base,
        )

    def _local_day(self, t_us: int) -> date:
        return from_us(t_us).astimezone(self.tz).date()

    # ----------------------------------------------------------------- axis

    def axis(self, t_us: int) -> int:
        """Position of a moment on the working-time axis (µs). Flat outside working time."""
        table = self._table
        if table is None or not table.lo <= t_us < table.hi:
            day = self._local_day(t_us)
            table = self._cover(day, day + timedelta(days=1))
        k = bisect_right(table.starts, t_us) - 1
        if k < 0:
            return table.base
        end = table.ends[k]
        return table.cum[k] + (t_us if t_us < end else end) - table.starts[k]  # faster than min()

    def moment(self, position: int, *, first: bool = False) -> int:
        """The moment (µs) at which the axis reaches `position`.

        By default the earliest such moment (a deadline falls at 18:00, not at 09:00 next working
        day); with `first=True` the moment working time beyond `position` begins (next working moment).
        """
        table = self._table
        if table is None:
            table = self._cover(date(2000, 1, 1), date(2000, 1, 2))
        for _ in range(_MAX_SEARCH_DAYS // _CHUNK_DAYS):
            # The answer lies in period k with cum[k] <= position < cum_end[k] (first=True) or
            # cum[k] < position <= cum_end[k]; widen the table until such a period is in it.
            if position < table.base or (not first and position == table.base):
                table = self._cover(table.first_day - timedelta(days=_CHUNK_DAYS), table.last_day)
            elif not table.cum_end or position > table.cum_end[-1] or (first and position == table.cum_end[-1]):
                table = self._cover(table.first_day, table.last_day + timedelta(days=_CHUNK_DAYS))
            else:
                break
        else:
            raise CalendarError(f"calendar has no working time within {_MAX_SEARCH_DAYS} days")
        if first:
            k = bisect_right(table.cum_end, position)
        else:
            k = bisect_left(table.cum_end, position)
        return table.starts[k] + (position - table.cum[k])

    # ------------------------------------------------------------ public API

    def is_working_time(self, t: datetime) -> bool:
        t_us = to_us(t)
        return self.moment(self.axis(t_us), first=True) == t_us

    def next_working_moment(self, t: datetime) -> datetime:
        """`t` itself when it is working time, else the start of the next working period."""
        return from_us(self.moment(self.axis(to_us(t)), first=True))

    def add(self, start: datetime, duration: SlaDuration | timedelta, *, business_hours: bool = True) -> datetime:
        """Deadline `duration` after `start`: in working time, or around the clock.

        An SlaDuration decides its own clock (`bd` working time, `d` around the clock, `m`/`h` by
        `business_hours`); a timedelta is working time when `business_hours` is true.
        """
        if isinstance(duration, SlaDuration):
            business = duration.is_business(business_hours)
            length = duration.microseconds(self.business_day_seconds)
        else:
            business = business_hours
            length = duration // _US
        if length < 0:
            raise ValueError("SLA durations cannot be negative")
        s = to_us(start)
        if not business:
            return from_us(s + length)
        if length == 0:
            return from_us(s)
        return from_us(self.moment(self.axis(s) + length))

    def elapsed(self, start: datetime, end: datetime, *, business: bool = True) -> float:
        """Seconds of working time (or of real time) from `start` to `end`; negative if end < start."""
        a, b = to_us(start), to_us(end)
        if not business:
            return (b - a) / 1_000_000
        return (self.axis(b) - self.axis(a)) / 1_000_000

    def to_local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)


def _minutes(t: time | None) -> int:
    return 1440 if t is None else t.hour * 60 + t.minute


def _parse_hours(hours: list[str] | tuple[str, ...]) -> tuple[tuple[time, time | None], ...]:
    if not hours:
        raise CalendarError("calendar.hours is empty; give working periods like '09:00-12:00'")
    periods: list[tuple[time, time | None]] = []
    for item in hours:
        parts = item.split("-") if isinstance(item, str) else []
        if len(parts) != 2:
            raise CalendarError(f"calendar.hours: {item!r} is not a period like '09:00-12:00'")
        start, end = _parse_clock(item, parts[0]), _parse_clock(item, parts[1], allow_24=True)
        if start is None or (end is not None and end <= start):
            raise CalendarError(
                f"calendar.hours: {item!r} ends before it starts; a period cannot cross midnight "
                "(split it into '22:00-24:00' and '00:00-06:00')"
            )
        periods.append((start, end))
    periods.sort(key=lambda p: _minutes(p[0]))
    for (_, prev_end), (next_start, _) in zip(periods, periods[1:], strict=False):
        if _minutes(prev_end) > _minutes(next_start):
            raise CalendarError(f"calendar.hours: periods overlap: {hours}")
    return tuple(periods)


def _parse_clock(item: str, text: str, *, allow_24: bool = False) -> time | None:
    text = text.strip()
    if allow_24 and text == "24:00":
        return None  # end of the day
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise CalendarError(f"calendar.hours: {item!r}: {text!r} is not a time HH:MM") from None


def _parse_dates(key: str, values: list[str] | tuple[str, ...]) -> list[date]:
    out = []
    for v in values:
        try:
            out.append(date.fromisoformat(v))
        except (TypeError, ValueError):
            raise CalendarError(f"{key}: {v!r} is not a date YYYY-MM-DD") from None
    return out
