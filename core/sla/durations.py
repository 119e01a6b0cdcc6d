"""SLA target durations: parse "15m", "4h", "1bd", "2d" into a typed value that knows its clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

Unit = Literal["m", "h", "d", "bd"]

_UNIT_SECONDS: dict[str, int] = {"m": 60, "h": 3600, "d": 86400}
_UNIT_NAMES: dict[str, Unit] = {
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "bd": "bd", "businessday": "bd", "businessdays": "bd",
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


class DurationError(ValueError):
    """A target such as "4hours" or "-1h" that cannot be understood."""


@dataclass(frozen=True, slots=True)
class SlaDuration:
    """A target length. `m`/`h` follow the target's clock; `bd` is always working time; `d` never is.

    `bd` (business day) is the calendar's working time of one working day (e.g. 7.5 h for
    09:00-12:00 + 13:30-18:00); `d` is N x 24 hours around the clock.
    """

    amount: Decimal
    unit: Unit
    text: str

    def is_business(self, business_hours: bool) -> bool:
        """Whether this length is measured in working time, given the target's `business_hours` flag."""
        if self.unit == "bd":
            return True
        if self.unit == "d":
            return False
        return business_hours

    def microseconds(self, business_day_seconds: int) -> int:
        """Length in microseconds on its clock; `business_day_seconds` sizes a `bd`."""
        return _microseconds(self.amount, self.unit, business_day_seconds)

    def seconds(self, business_day_seconds: int) -> float:
        return self.microseconds(business_day_seconds) / 1_000_000

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=1024)
def _microseconds(amount: Decimal, unit: str, business_day_seconds: int) -> int:
    per_unit = business_day_seconds if unit == "bd" else _UNIT_SECONDS[unit]
    return int(amount * per_unit * 1_000_000)


@lru_cache(maxsize=256)
def parse_duration(text: str, *, allow_zero: bool = False) -> SlaDuration:
    """Parse "15m", "4h", "90m", "1bd", "3bd", "2d", "1.5h" (case-insensitive).

    Raises DurationError with the accepted forms when the text is not one of them.
    """
    if not isinstance(text, str):
        raise DurationError(f"SLA duration must be text like '4h', got {text!r}")
    match = _PATTERN.match(text.lower())
    unit = _UNIT_NAMES.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise DurationError(
            f"SLA duration {text!r} is not understood; use a number and a unit: "
            "'15m' (minutes), '4h' (hours), '3bd' (business days), '2d' (calendar days)"
        )
    try:
        amount = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the pattern only lets digits through
        raise DurationError(f"SLA duration {text!r} has a bad number") from exc
    if amount == 0 and not allow_zero:
        raise DurationError(f"SLA duration {text!r} must be longer than zero")
    return SlaDuration(amount=amount, unit=unit, text=f"{_plain(amount)}{unit}")


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount != amount.to_integral() else str(int(amount))
