"""Recorded browser frames (tests/fixtures/payloads/webchat) parse to the expected core events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.webchat.parse import BadFrame, check_text, parse, strip_mention
from core.events import event_from_json, event_to_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "webchat"
CASES = sorted(FIXTURES.glob("*.json"))


def test_there_are_recorded_frames() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_recorded_frame_parses_to_expected_event(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    event = parse(case["envelope"], bot_name="deskbot", ticket_emoji="🎫")
    if case["expected"] is None:
        assert event is None
        return
    assert event is not None
    assert json.loads(event_to_json(event)) == case["expected"]
    assert event_from_json(event_to_json(event)) == event  # survives durable intake


def envelope(frame: dict, **extra) -> dict:
    base = {"frame": frame, "person": {"slug": "li-lei", "name": "Li Lei", "role": "employee"},
            "room": {"id": "it-help", "kind": "group", "intake": True}, "event_id": "e-1",
            "received_at": datetime(2026, 1, 5, tzinfo=UTC).isoformat(), "message_id": "m-1"}
    return {**base, **extra}


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_message_is_refused(text: str) -> None:
    with pytest.raises(BadFrame) as exc:
        check_text(text, limit=4000)
    assert exc.value.code == "empty_message"
    with pytest.raises(BadFrame):
        parse(envelope({"type": "message", "text": text}), bot_name="deskbot", ticket_emoji="🎫")


def test_long_message_is_cut_to_the_limit() -> None:
    text, cut = check_text("x" * 10_000, limit=4000)
    assert cut and len(text) == 4000
    assert check_text("short", limit=4000) == ("short", False)


@pytest.mark.parametrize("frame", [
    {"type": "action", "action_id": "", "value": {}},
    {"type": "action", "action_id": "ticket.claim", "value": {"ticket": 12}},
    {"type": "action", "action_id": "ticket.claim", "value": ["12"]},
    {"type": "reaction", "emoji": "🎫"},  # no target message
    {"type": "teleport"},
])
def test_malformed_frames_are_refused(frame: dict) -> None:
    with pytest.raises(BadFrame):
        parse(envelope(frame), bot_name="deskbot", ticket_emoji="🎫")


@pytest.mark.parametrize(("text", "expected"), [
    ("@deskbot help", ("help", True)),
    ("help @DeskBot please", ("help please", True)),
    ("@deskbots are great", ("@deskbots are great", False)),
    ("mail ops@deskbot.example", ("mail ops@deskbot.example", False)),
    ("@deskbot-team is a channel", ("@deskbot-team is a channel", False)),
])
def test_bot_mention_is_found_and_removed(text: str, expected: tuple[str, bool]) -> None:
    assert strip_mention(text, "deskbot") == expected


def test_slash_alone_is_a_message_not_a_command() -> None:
    event = parse(envelope({"type": "message", "text": "/ is the root directory"}),
                  bot_name="deskbot", ticket_emoji="🎫")
    assert event is not None and event.kind == "message"


def test_unknown_language_hint_is_dropped() -> None:
    event = parse(envelope({"type": "message", "text": "hi", "lang": "klingon"}),
                  bot_name="deskbot", ticket_emoji="🎫")
    assert event is not None and event.lang_hint is None
