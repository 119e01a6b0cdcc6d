"""Shared helpers for SLA tests: local wall times turned into UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A China Standard Time wall time, as a UTC datetime (what core passes around)."""
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI).astimezone(UTC)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN).astimezone(UTC)


def local(t: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    return t.astimezone(tz).strftime("%Y-%m-%d %a %H:%M")
