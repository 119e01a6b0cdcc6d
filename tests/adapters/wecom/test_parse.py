"""Recorded WeCom payloads (app XML and robot frames) parse to the expected core events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from adapters.wecom.parse import parse_app, parse_robot
from adapters.wecom.xmlmsg import BadXml, parse_xml
from core.events import ActionClicked, event_from_json, event_to_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "wecom"
CASES = sorted(p for p in FIXTURES.glob("*.json") if p.name.startswith(("app_", "robot_")))


def _parse(case: dict):
    if case["source"] == "app":
        return parse_app(parse_xml(case["payload"]))
    return parse_robot(case["payload"], now=datetime.fromisoformat(case["now"]))


def test_fixtures_cover_both_channels() -> None:
    names = {p.stem for p in CASES}
    assert any(n.startswith("app_") for n in names) and any(n.startswith("robot_") for n in names)
    assert len(CASES) >= 12


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_fixture_parses_to_expected(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    event = _parse(case)
    if case["expected"] is None:
        assert event is None
        return
    assert event is not None
    assert json.loads(event_to_json(event)) == case["expected"]
    assert event_from_json(event_to_json(event)) == event  # survives durable intake


def test_app_click_keeps_response_code_in_raw() -> None:
    case = json.loads((FIXTURES / "app_card_click.json").read_text(encoding="utf-8"))
    event = _parse(case)
    assert isinstance(event, ActionClicked)
    assert event.raw and event.raw["ResponseCode"] == "RC-CLICK-1"
    assert "ResponseCode" not in event.value


def test_same_message_twice_gives_same_ids_and_events_differ_by_time() -> None:
    case = json.loads((FIXTURES / "app_text.json").read_text(encoding="utf-8"))
    a, b = _parse(case), _parse(case)
    assert a.event_id == b.event_id and a.message_key == b.message_key
    enter = json.loads((FIXTURES / "app_enter_agent.json").read_text(encoding="utf-8"))
    later = enter["payload"].replace("1795137000", "1795137999")
    assert parse_app(parse_xml(enter["payload"])).event_id != parse_app(parse_xml(later)).event_id


def test_robot_name_is_removed_wherever_the_mention_sits() -> None:
    body = {"msgid": "M1", "aibotid": "B", "chatid": "G", "chattype": "group", "from": {"userid": "u"},
            "msgtype": "text", "text": {"content": "请 @IT助手 看看 IT-12，@张三 也在"}}
    event = parse_robot(body, now=datetime.fromisoformat("2026-11-22T01:20:00+00:00"), bot_name="IT助手")
    assert event.text == "请 看看 IT-12，@张三 也在"
    assert event.mentions_bot


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
    '<!DOCTYPE xml SYSTEM "http://example.invalid/evil.dtd"><xml/>',
    "<xml><Content>unclosed</xml>",
    b"\xff\xfe<xml/>",
])
def test_unsafe_or_broken_xml_is_refused(body) -> None:
    with pytest.raises(BadXml):
        parse_xml(body)
