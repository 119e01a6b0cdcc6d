"""SLA clocks as people see them outside `/ticket sla`: one calendar per desk and time left on a card."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.i18n import t
from core.sla.calendar import BusinessCalendar
from core.sla.durations import DurationError, parse_duration
from core.sla.explain import span

if TYPE_CHECKING:
    from core.settings import Desk

_CALENDARS: dict[str, BusinessCalendar] = {}
_LOCK = threading.Lock()


_BY_DESK: dict[int, tuple[Desk, BusinessCalendar]] = {}


def calendar_for(desk: Desk) -> BusinessCalendar:
    """The desk's business calendar, built once per distinct calendar config and shared (it is thread-safe)."""
    known = _BY_DESK.get(id(desk))
    if known is not None and known[0] is desk:  # the hot path: the same settings object as last time
        return known[1]
    calendar = _calendar(desk)
    _BY_DESK[id(desk)] = (desk, calendar)
    return calendar


def _calendar(desk: Desk) -> BusinessCalendar:
    key = desk.calendar.model_dump_json()
    calendar = _CALENDARS.get(key)
    if calendar is None:
        with _LOCK:
            calendar = _CALENDARS.get(key)
            if calendar is None:
                calendar = _CALENDARS[key] = BusinessCalendar.from_settings(desk.calendar)
    return calendar


def is_business(desk: Desk, priority: str, which: str) -> bool | None:
    """Whether a priority's respond/resolve target runs in working time (None: no usable target)."""
    target = desk.sla.targets.get(priority)
    if target is None:
        return None
    try:
        return parse_duration(getattr(target, which)).is_business(target.business_hours)
    except DurationError:
        return None


def left_text(*, due: datetime, now: datetime, business: bool, calendar: BusinessCalendar, lang: str) -> str:
    """ "3h 20m left" or "overdue 1h 5m", counted on the target's own clock (working time or real time)."""
    seconds = calendar.elapsed(now, due, business=business)
    if seconds > 0:
        return _left(int(seconds // 60), lang, not business)
    return _overdue(int(calendar.elapsed(due, now, business=business) // 60), lang, not business)


# cards are drawn by the thousand and show whole minutes: each text is made once
@lru_cache(maxsize=4096)
def _left(minutes: int, lang: str, days: bool) -> str:
    return t("sla.left", lang, left=span(minutes * 60, lang, days=days))


@lru_cache(maxsize=4096)
def _overdue(minutes: int, lang: str, days: bool) -> str:
    return t("sla.overdue", lang, over=span(minutes * 60, lang, days=days))


def card_note(ticket: Any, desk: Desk, which: str, now: datetime, lang: str) -> str | None:
    """What follows respond-by / resolve-by on the ticket card: time left, overdue, or paused."""
    due: datetime | None = getattr(ticket, f"{which}_by")
    business = is_business(desk, ticket.priority, which)
    if due is None or business is None:
        return None
    if due > now and ticket.paused_since is not None and desk.sla.pause_when_waiting:
        return t("sla.paused", lang)
    return left_text(due=due, now=now, business=business, calendar=calendar_for(desk), lang=lang)
