"""Recorded Feishu payloads parse to the expected core events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from adapters.feishu.parse import ParseContext, flatten_content, parse
from core.events import event_from_json, event_to_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "feishu"
CASES = sorted(FIXTURES.glob("*.json"))
NOW = datetime.fromisoformat("2026-11-22T09:14:00+00:00")


def context(data: dict, **kw) -> ParseContext:
    return ParseContext(received_at=NOW, bot_open_id=data.get("bot_open_id"),
                        intake_chats=frozenset(data.get("intake_chats", [])),
                        ticket_emoji=data.get("ticket_emoji", "Get"), **kw)


def test_fixtures_exist():
    assert len(CASES) >= 14


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_recorded_payload_parses_to_expected(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    event = parse(case["payload"], context(case["context"]), target_message=case.get("target_message"))
    if case["expected"] is None:
        assert event is None
        return
    assert event is not None
    assert json.loads(event_to_json(event)) == case["expected"]
    assert event_from_json(event_to_json(event)) == event


def test_thread_reply_in_intake_chat_is_a_reply_not_intake():
    case = json.loads((FIXTURES / "thread_reply.json").read_text(encoding="utf-8"))
    event = parse(case["payload"], context(case["context"]))
    assert event.is_thread_reply and not event.in_intake_chat
    assert event.conversation.thread_id == "om_103"
    assert event.message_id == "om_104"


def test_intake_chats_accept_the_platform_prefixed_form():
    case = json.loads((FIXTURES / "intake_toplevel.json").read_text(encoding="utf-8"))
    event = parse(case["payload"], context({"bot_open_id": "ou_bot", "intake_chats": ["feishu:oc_intake"]}))
    assert event.in_intake_chat


def test_mention_keys_do_not_eat_longer_keys():
    mentions = [{"key": f"@_user_{i}", "id": {"open_id": f"ou_{i}"}, "name": f"N{i}"} for i in range(1, 11)]
    text, bot = flatten_content("text", json.dumps({"text": "@_user_10 and @_user_1"}), mentions,
                                context({"bot_open_id": "ou_bot"}))
    assert (text, bot) == ("@N10 and @N1", False)


def test_bot_mention_recognised_by_name_when_open_id_unknown():
    mentions = [{"key": "@_user_1", "id": {"open_id": "ou_x"}, "name": "IT Desk"}]
    ctx = ParseContext(received_at=NOW, bot_name="IT Desk")
    assert flatten_content("text", {"text": "@_user_1 help"}, mentions, ctx) == ("help", True)


def test_sent_post_with_locale_wrapper_flattens():
    content = {"zh_cn": {"title": "T", "content": [[{"tag": "text", "text": "a"}, {"tag": "at", "user_id": "all"}]]}}
    assert flatten_content("post", content, [], context({}))[0] == "T\na@all"


def test_slash_alone_is_a_message_not_a_command():
    case = json.loads((FIXTURES / "p2p_text.json").read_text(encoding="utf-8"))
    payload = json.loads(json.dumps(case["payload"]))
    payload["event"]["message"]["content"] = json.dumps({"text": "/ help"})
    assert parse(payload, context(case["context"])).kind == "message"


def test_reaction_without_fetched_message_still_parses_with_unknown_chat():
    case = json.loads((FIXTURES / "reaction_ticket_emoji.json").read_text(encoding="utf-8"))
    event = parse(case["payload"], context(case["context"]))
    assert event.target_message_id == "om_300" and event.target_text is None
    assert event.conversation.chat_id == ""


def test_emoji_compare_ignores_case():
    case = json.loads((FIXTURES / "reaction_ticket_emoji.json").read_text(encoding="utf-8"))
    ctx = ParseContext(received_at=NOW, bot_open_id="ou_bot", ticket_emoji="get")
    assert parse(case["payload"], ctx, target_message=case["target_message"]).emoji == "Get"


def _command_with_mention(name: str) -> dict:
    mentions = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "IT Desk"},
                {"key": "@_user_2", "id": {"open_id": "ou_wangfang"}, "name": name}]
    head = {"event_id": "ev", "event_type": "im.message.receive_v1", "tenant_key": "t"}
    return {"schema": "2.0", "header": head,
            "event": {"sender": {"sender_id": {"open_id": "ou_zhaolei"}, "sender_type": "user"},
                      "message": {"message_id": "om_1", "chat_id": "oc_team", "chat_type": "group",
                                  "message_type": "text", "mentions": mentions,
                                  "content": json.dumps({"text": "@_user_1 /ticket assign IT-1 @_user_2"})}}}


@pytest.mark.parametrize(("name", "arg"), [("Wang Fang", "@ou_wangfang"), ("王芳", "@王芳")])
def test_mentioned_people_travel_with_a_command(name, arg):
    event = parse(_command_with_mention(name), context({"bot_open_id": "ou_bot"}))
    assert event.args == ("assign", "IT-1", arg)  # a spaced name would fall apart when args are split
    [person] = event.mentions
    assert (person.identity, person.display_name) == ("feishu:ou_wangfang", name)
