"""Recorded Slack payloads parse to the expected core events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from adapters.slack.parse import ParseContext, clean_text, parse
from core.events import event_from_json, event_to_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "slack"
CASES = sorted(FIXTURES.glob("*.json"))


def context(data: dict) -> ParseContext:
    return ParseContext(
        received_at=datetime.fromisoformat("2026-11-22T09:14:00+00:00"),
        bot_user_id=data.get("bot_user_id"),
        intake_channels=frozenset(data.get("intake_channels", [])),
        ticket_emoji=data.get("ticket_emoji", "ticket"),
        names=data.get("names", {}),
        message_texts=data.get("message_texts", {}),
        thread_roots=data.get("thread_roots", {}),
    )


def test_fixtures_exist():
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_recorded_payload_parses_to_expected(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    event = parse(case["payload"], context(case["context"]))
    if case["expected"] is None:
        assert event is None
        return
    assert event is not None
    assert json.loads(event_to_json(event)) == case["expected"]
    # what intake stores must come back equal
    assert event_from_json(event_to_json(event)) == event


def test_mention_and_message_event_share_the_message_key():
    def load(name: str):
        case = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        return parse(case["payload"], context(case["context"]))

    a, b = load("app_mention_channel"), load("message_channel_mention")
    assert a.event_id != b.event_id
    assert a.message_key == b.message_key == "CGENERAL:1763802840.000100"


def test_thread_reply_in_intake_channel_is_a_reply_not_intake():
    body = {"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "message", "channel_type": "channel", "user": "U1", "text": "still broken",
        "ts": "2.0", "thread_ts": "1.0", "channel": "CINTAKE"}}
    event = parse(body, context({"bot_user_id": "UBOT", "intake_channels": ["CINTAKE"]}))
    assert event.is_thread_reply and not event.in_intake_chat
    assert event.conversation.thread_id == "CINTAKE:1.0"


def test_own_message_is_ignored_even_without_bolt():
    body = {"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "message", "channel_type": "im", "user": "UBOT", "text": "hi", "ts": "2.0", "channel": "D1"}}
    assert parse(body, context({"bot_user_id": "UBOT"})) is None


def test_reaction_on_a_thread_reply_points_at_its_thread():
    body = {"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "reaction_added", "user": "U2", "reaction": ":ticket:", "item_user": "U1",
        "item": {"type": "message", "channel": "C1", "ts": "5.0"}}}
    ctx = context({"bot_user_id": "UBOT"})
    ctx = ParseContext(received_at=ctx.received_at, bot_user_id="UBOT", ticket_emoji=":ticket:",
                       message_texts={"C1:5.0": "disk full"}, thread_roots={"C1:5.0": "4.0"})
    event = parse(body, ctx)
    assert event.conversation.thread_id == "C1:4.0"
    assert event.target_text == "disk full"


@pytest.mark.parametrize(("raw", "clean"), [
    ("<@UBOT> help", "help"),
    ("ask <@U9|bob> in <#C1|it-help>", "ask @bob in #it-help"),
    ("<!here> wifi &lt;down&gt;", "@here wifi <down>"),
    ("see <https://x.example/a?b=1&amp;c=2>", "see https://x.example/a?b=1&c=2"),
    ("mail <mailto:it@example.com|it@example.com>", "mail it@example.com"),
])
def test_clean_text(raw: str, clean: str):
    assert clean_text(raw, bot_user_id="UBOT", names={}) == clean


def test_command_arguments_keep_user_ids():
    body = {"command": "/ticket", "text": "assign IT-12 <@U2|wang.fang>", "trigger_id": "t1", "user_id": "U1",
            "channel_id": "C1"}
    event = parse(body, context({"bot_user_id": "UBOT"}))
    assert event.args == ("assign", "IT-12", "<@U2|wang.fang>")
