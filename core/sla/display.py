"""SLA clocks as people see them outside `/ticket sla`: one calendar per desk and time left on a card."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

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


class SlaNote(NamedTuple):
    """Time left on (or past) a deadline, before words: drawn in each card's language by `note_text`."""

    state: str  # "left", "overdue" or "paused"
    minutes: int = 0
    days: bool = False  # a real-time target: whole days first


def _time_left(due: datetime, now: datetime, business: bool, calendar: BusinessCalendar) -> SlaNote:
    seconds = calendar.elapsed(now, due, business=business)
    if seconds > 0:
        return SlaNote("left", int(seconds // 60), not business)
    return SlaNote("overdue", int(calendar.elapsed(due, now, business=business) // 60), not business)


# cards are drawn by the thousand and show whole minutes: each text is made once
@lru_cache(maxsize=4096)
def note_text(note: SlaNote, lang: str) -> str:
    if note.state == "paused":
        return t("sla.paused", lang)
    amount = span(note.minutes * 60, lang, days=note.days)
    return t("sla.left", lang, left=amount) if note.state == "left" else t("sla.overdue", lang, over=amount)


def card_note(ticket: Any, desk: Desk, which: str, now: datetime) -> SlaNote | None:
    """What follows respond-by / resolve-by on the ticket card: time left, overdue, or paused."""
    due: datetime | None = getattr(ticket, f"{which}_by")
    business = is_business(desk, ticket.priority, which)
    if due is None or business is None:
        return None
    if due > now and ticket.paused_since is not None and desk.sla.pause_when_waiting:
        return SlaNote("paused")
    return _time_left(due, now, business, calendar_for(desk))
