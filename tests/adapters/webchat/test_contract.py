"""Contract: every sample Reply renders, and every button's click, framed the way chat.js frames it,
parses back to the same action_id and value (purely, and through the live websocket)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.webchat.parse import parse
from adapters.webchat.render import render
from core.events import ActionClicked, ConversationRef
from tests.adapters.webchat.conftest import chat_app
from tests.fakes.sink import RecordingSink
from tests.sample_replies import ALL

CHAT_JS = Path(__file__).resolve().parents[3] / "adapters" / "webchat" / "static" / "chat.js"
BUTTONS = [(name, i) for name, reply in sorted(ALL.items()) for i in range(len(reply.buttons))]


def page_click(message: dict[str, Any], button: dict[str, Any]) -> dict[str, Any]:
    """The frame chat.js sends for a click (pinned to the script by the test below)."""
    return {"ref": "r1", "lang": "en", "type": "action", "room": message["room"],
            "card_message_id": message["id"], "action_id": button["action_id"], "value": button["value"]}


def test_page_script_builds_click_frames_like_page_click() -> None:
    script = CHAT_JS.read_text(encoding="utf-8")
    assert ('{ type: "action", room: m.room, card_message_id: m.id, action_id: b.action_id, value: b.value }'
            in script)


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_reply_renders_with_something_to_show(name: str) -> None:
    card = render(ALL[name])
    json.dumps(card)
    assert card.get("title") or card.get("text")
    assert len(card.get("buttons", [])) == len(ALL[name].buttons)


@pytest.mark.parametrize(("name", "index"), BUTTONS)
def test_button_click_parses_back_to_the_same_action(name: str, index: int) -> None:
    original = ALL[name].buttons[index]
    message = {"id": "b-0123456789ab", "room": "it-team", "card": render(ALL[name])}
    frame = json.loads(json.dumps(page_click(message, message["card"]["buttons"][index])))
    envelope = {"frame": frame, "person": {"slug": "wang-fang", "name": "Wang Fang", "role": "technician"},
                "room": {"id": "it-team", "kind": "team", "intake": False}, "event_id": "act-1",
                "received_at": "2026-11-22T01:00:00+00:00"}
    event = parse(envelope, bot_name="deskbot", ticket_emoji="🎫")
    assert isinstance(event, ActionClicked)
    assert (event.action_id, dict(event.value)) == (original.action_id, dict(original.value))
    assert event.card_message_id == "b-0123456789ab"


def test_every_button_clicked_through_the_socket_reaches_the_sink(adapter) -> None:
    sink = RecordingSink()
    expected = []
    with TestClient(chat_app(adapter, sink)) as client, client.websocket_connect("/chat/ws") as ws:
        ws.send_text(json.dumps({"type": "hello", "name": "Wang Fang", "role": "technician"}))
        assert json.loads(ws.receive_text())["type"] == "welcome"
        team = ConversationRef(platform="webchat", chat_id="it-team")
        for reply in ALL.values():
            if not reply.buttons:
                continue
            client.portal.call(lambda r=reply: adapter.send(team, r))
            message = json.loads(ws.receive_text())["message"]
            for button in message["card"]["buttons"]:
                ws.send_text(json.dumps(page_click(message, button)))
                assert json.loads(ws.receive_text())["type"] == "ack"
                expected.append((button["action_id"], button["value"], message["id"]))
    got = [(e.action_id, dict(e.value), e.card_message_id) for e in sink.events]
    assert got == expected
    assert len(got) == sum(len(r.buttons) for r in ALL.values())
