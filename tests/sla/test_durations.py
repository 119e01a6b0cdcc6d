"""SLA target durations: accepted forms, clocks, and clear errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.sla.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "amount", "unit", "seconds"),
    [
        ("15m", 15, "m", 900),
        ("4h", 4, "h", 14400),
        ("90m", 90, "m", 5400),
        ("1bd", 1, "bd", 27000),
        ("3bd", 3, "bd", 81000),
        ("2d", 2, "d", 172800),
        ("1.5h", Decimal("1.5"), "h", 5400),
        (" 4 H ", 4, "h", 14400),
        ("30min", 30, "m", 1800),
        ("2days", 2, "d", 172800),
    ],
)
def test_parses_targets(text: str, amount: object, unit: str, seconds: int) -> None:
    d = parse_duration(text)
    assert d.amount == Decimal(str(amount))
    assert d.unit == unit
    # 27000 s = the default calendar's working day (09:00-12:00 + 13:30-18:00)
    assert d.seconds(27000) == seconds


def test_text_is_normalised() -> None:
    assert str(parse_duration("4H")) == "4h"
    assert str(parse_duration("30min")) == "30m"
    assert str(parse_duration("1.50h")) == "1.5h"


def test_clock_follows_unit_then_target_flag() -> None:
    assert parse_duration("3bd").is_business(False) is True
    assert parse_duration("2d").is_business(True) is False
    assert parse_duration("4h").is_business(True) is True
    assert parse_duration("4h").is_business(False) is False


def test_business_day_is_sized_by_the_calendar() -> None:
    assert parse_duration("2bd").microseconds(8 * 3600) == 16 * 3600 * 1_000_000


@pytest.mark.parametrize("text", ["", "4", "h", "-1h", "4x", "4 hours later", "1h30m", "bd"])
def test_rejects_with_a_message_naming_the_input(text: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert repr(text) in str(err.value)


def test_zero_only_where_allowed() -> None:
    with pytest.raises(DurationError, match="longer than zero"):
        parse_duration("0m")
    assert parse_duration("0m", allow_zero=True).seconds(27000) == 0


def test_rejects_non_text() -> None:
    with pytest.raises(DurationError):
        parse_duration(4)  # type: ignore[arg-type]
