"""Recorded DingTalk frames parse to the expected core events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.dingtalk.parse import parse, session_webhook
from core.events import event_to_json

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "payloads" / "dingtalk"
CASES = sorted(PAYLOADS.glob("*.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_recorded_frame_parses_to_expected_event(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    event = parse(case["frame"])
    got = json.loads(event_to_json(event)) if event is not None else None
    assert got == case["expected"]


def test_there_are_recorded_frames_of_every_kind() -> None:
    kinds = {json.loads(p.read_text(encoding="utf-8"))["expected"]["kind"]
             for p in CASES if json.loads(p.read_text(encoding="utf-8"))["expected"]}
    assert kinds == {"message", "command", "action"}


def _frame(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))["frame"]


def test_group_message_is_addressed_to_the_bot_and_keyed_by_msg_id() -> None:
    event = parse(_frame("group_text_mention.json"))
    assert event.mentions_bot and not event.conversation.is_direct
    assert event.event_id == "2b7e0c4f-1"  # the frame's headers.messageId
    assert event.message_key == event.message_id == "msgAbC123=="
    assert event.conversation.thread_id is None


def test_direct_message_is_addressed_by_the_senders_user_id() -> None:
    event = parse(_frame("direct_text.json"))
    assert event.conversation.is_direct and event.conversation.chat_id == "@0321456789"


def test_quote_reply_carries_the_quoted_ticket_text() -> None:
    event = parse(_frame("group_quote_reply.json"))
    assert event.quoted_text and "IT-12" in event.quoted_text
    # a quote answers "under" the quoted message: DingTalk's nearest thing to a thread
    assert event.is_thread_reply and event.conversation.thread_id == "msgCard009=="


def test_quote_in_a_direct_chat_is_a_plain_message() -> None:
    frame = _frame("direct_text.json")
    data = json.loads(frame["data"])
    data["text"] = {"content": "还是不行", "isReplyMsg": True, "repliedMsg": {"msgId": "msgX==", "content": {}}}
    event = parse({**frame, "data": json.dumps(data)})
    assert not event.is_thread_reply and event.conversation.thread_id is None


def test_session_webhook_is_read_with_its_expiry() -> None:
    data = json.loads(_frame("group_text_mention.json")["data"])
    hook = session_webhook(data)
    assert hook is not None
    assert hook.chat_id == "cidv9Qx3rT1BqLk2yA=="
    assert hook.expires_at == 1763778600.0


def test_broken_data_and_unknown_topics_are_ignored() -> None:
    frame = _frame("group_text_mention.json")
    assert parse({**frame, "data": "{not json"}) is None
    assert parse({**frame, "headers": {**frame["headers"], "topic": "/v1.0/other"}}) is None
    click = _frame("card_claim_group.json")
    data = json.loads(click["data"])
    data["content"] = json.dumps({"cardPrivateData": {"actionIds": [], "params": {}}})
    assert parse({**click, "data": json.dumps(data)}) is None
