"""Feishu card renders: golden files, the button round-trip contract, header colours, mentions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.feishu.parse import ParseContext, parse
from adapters.feishu.render import callback_answer, header_colour, render
from core.events import ActionClicked, UserRef
from core.replies import Button, Reply
from tests.adapters.feishu.helpers import card_event
from tests.sample_replies import ALL, TICKET_CARD

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "rendered" / "feishu"


@pytest.mark.parametrize("name", sorted(ALL))
def test_render_matches_golden(name: str):
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert render(ALL[name]) == expected


def _buttons(rendered: dict) -> list[dict]:
    if rendered["msg_type"] != "interactive":
        return []
    return [a for e in rendered["content"]["elements"] if e["tag"] == "action" for a in e["actions"]]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_reply_renders_and_every_click_parses_back(name: str):
    reply = ALL[name]
    rendered = render(reply)
    assert rendered["msg_type"] in ("interactive", "text")
    # content must be JSON-encodable as the Open API wants it (a JSON string)
    assert json.loads(json.dumps(rendered["content"], ensure_ascii=False)) == rendered["content"]
    if rendered["msg_type"] == "interactive":
        assert rendered["content"]["config"]["update_multi"] is True
    buttons = _buttons(rendered)
    assert len(buttons) == len(reply.buttons)
    ctx = ParseContext(received_at=datetime.now(UTC), bot_open_id="ou_bot")
    for n, (source, element) in enumerate(zip(reply.buttons, buttons, strict=True)):
        # what Feishu sends on a click: the button's value dict, unchanged
        event = parse(card_event(f"ev{n}", element["value"]), ctx)
        assert isinstance(event, ActionClicked)
        assert event.action_id == source.action_id
        assert dict(event.value) == dict(source.value)
        assert event.card_message_id == "om_card1"


@pytest.mark.parametrize(("priority", "status", "colour"), [
    ("P0", "new", "red"), ("P1", "in_progress", "orange"), ("P2", None, "blue"), ("P3", None, "wathet"),
    ("P0", "resolved", "green"), ("P1", "closed", "grey"), (None, None, "blue"),
])
def test_header_colour_by_priority_and_status(priority, status, colour):
    reply = Reply(fallback_text="x", title="t", priority=priority, status=status)
    assert header_colour(reply) == colour
    assert render(reply)["content"]["header"]["template"] == colour


def test_explicit_header_colour_extra_wins():
    reply = Reply(fallback_text="x", title="t", priority="P0", extras={"feishu:header_color": "purple"})
    assert header_colour(reply) == "purple"


def test_mentions_render_as_feishu_at_tags():
    user = UserRef(platform="feishu", user_id="ou_lilei")
    text = render(Reply(fallback_text="Your ticket IT-3 is open", mention=user))
    assert text == {"msg_type": "text", "content": {"text": '<at user_id="ou_lilei"></at> Your ticket IT-3 is open'}}
    card = render(Reply(fallback_text="x", title="IT-3", body_md="opened", mention=user))
    assert card["content"]["elements"][0] == {"tag": "markdown", "content": "<at id=ou_lilei></at> opened"}
    other = render(Reply(fallback_text="hi", mention=UserRef(platform="slack", user_id="U1")))
    assert other["content"]["text"] == "hi"


def test_many_buttons_flow_and_values_are_strings():
    reply = Reply(fallback_text="rate", title="Rate", buttons=tuple(
        Button(label=str(n), action_id="survey.rate", value={"ticket": "12", "rating": str(n)}) for n in range(5)))
    action = [e for e in render(reply)["content"]["elements"] if e["tag"] == "action"][0]
    assert action["layout"] == "flow"
    assert all(isinstance(v, str) for a in action["actions"] for v in a["value"].values())


def test_callback_answer_is_card_or_bilingual_toast():
    answer = callback_answer(TICKET_CARD)
    assert answer["card"]["type"] == "raw"
    assert answer["card"]["data"]["header"]["title"]["content"] == "IT-12 · VPN 连不上了"
    toast = callback_answer(None)["toast"]
    assert toast["i18n"] == {"zh_cn": "已收到", "en_us": "Received"}
    assert callback_answer(None, "Only technicians can claim tickets.")["toast"]["content"].startswith("Only")
