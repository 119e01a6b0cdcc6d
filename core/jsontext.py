"""JSON text as deskbot stores it: compact, non-ASCII kept as is, encoded and parsed with orjson.

Events, cards and outbox rows are written and read several times per event on the intake path, where
the standard library's encoder costs more than the database does. Whatever orjson refuses (integers
beyond 64 bits, lone surrogates) falls back to the standard library, which writes the same JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
# values JSON has no type for (datetimes in audit snapshots) are written as their str(), as before
_ANY_OPTIONS = _OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PLAIN_ANY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

loads = orjson.loads


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return valid_text(_PLAIN(value))


def dumps_any(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=_ANY_OPTIONS).decode()
    except TypeError:
        return valid_text(_PLAIN_ANY(value))


def valid_text(text: str) -> str:
    """Text every database can store: a lone surrogate (half of a broken emoji, which a platform's
    JSON escape can carry) becomes U+FFFD; a split pair is joined again."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
