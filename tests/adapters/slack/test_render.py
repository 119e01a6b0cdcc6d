"""Block Kit renders: golden files, the button round-trip contract, and mrkdwn conversion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.slack.parse import ParseContext, parse
from adapters.slack.render import new_ticket_modal, render, to_mrkdwn
from core.events import ActionClicked, UserRef
from core.replies import Button, Field, Reply, TimelineItem
from tests.adapters.slack.helpers import block_actions
from tests.sample_replies import ALL

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "rendered" / "slack"


@pytest.mark.parametrize("name", sorted(ALL))
def test_render_matches_golden(name: str):
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert render(ALL[name]) == expected


def _buttons(rendered: dict) -> list[dict]:
    return [e for b in rendered.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_button_click_parses_back_to_its_action(name: str):
    reply = ALL[name]
    rendered = render(reply)
    assert rendered["text"]
    buttons = _buttons(rendered)
    assert len(buttons) == len(reply.buttons)
    ctx = ParseContext(received_at=datetime.now(UTC), bot_user_id="UBOT")
    for n, (source, element) in enumerate(zip(reply.buttons, buttons, strict=True)):
        event = parse(block_actions(element, trigger=f"t{n}"), ctx)
        assert isinstance(event, ActionClicked)
        assert event.action_id == source.action_id
        assert dict(event.value) == dict(source.value)
        assert event.card_message_id == "CGENERAL:1763803800.001200"


def test_action_ids_are_unique_per_block():
    for block in render(ALL["survey_card"])["blocks"]:
        if block["type"] == "actions":
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids)) == 7


def test_ticket_card_shape():
    blocks = render(ALL["ticket_card"])["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"]["text"] == "IT-12 · VPN 连不上了"
    assert "_error 809_" in blocks[1]["text"]["text"]  # Markdown italics -> mrkdwn italics
    assert blocks[2]["fields"][0]["text"] == "*Status*\nNew"
    assert "Claimed by Wang Fang" in blocks[3]["elements"][0]["text"]


def test_plain_reply_is_text_only_and_mentions():
    rendered = render(Reply(fallback_text="Thanks, <we> are on it", mention=UserRef(platform="slack", user_id="U1")))
    assert rendered == {"text": "<@U1> Thanks, &lt;we&gt; are on it"}


def test_limits_are_respected():
    reply = Reply(
        fallback_text="x", title="T" * 400, body_md="b" * 5000,
        fields=tuple(Field(label=f"f{i}", value="v") for i in range(23)),
        timeline=tuple(TimelineItem(at=f"{i:02d}:00", text="z" * 200) for i in range(40)),
        buttons=tuple(Button(label="L" * 100, action_id="a.b", value={"n": str(i)}) for i in range(30)),
    )
    blocks = render(reply)["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000
    assert [len(b["fields"]) for b in blocks if "fields" in b] == [10, 10, 3]
    context = next(b for b in blocks if b["type"] == "context")["elements"][0]["text"]
    assert len(context) <= 3000 and context.startswith("…") and "39:00" in context
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    all_ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(all_ids)) == 30
    assert all(len(e["text"]["text"]) <= 75 for a in actions for e in a["elements"])


@pytest.mark.parametrize(("md", "mrkdwn"), [
    ("**bold** and *it*", "*bold* and _it_"),
    ("[guide](https://wiki.example.com/vpn)", "<https://wiki.example.com/vpn|guide>"),
    ("a < b & c", "a &lt; b &amp; c"),
    ("- one\n- two", "• one\n• two"),
    ("## Steps", "*Steps*"),
])
def test_to_mrkdwn(md: str, mrkdwn: str):
    assert to_mrkdwn(md) == mrkdwn


@pytest.mark.parametrize(("lang", "title"), [("en", "New ticket"), ("zh-CN", "新建工单")])
def test_new_ticket_modal(lang: str, title: str):
    view = new_ticket_modal(lang=lang, categories=["hardware", "network"], priorities=["P0", "P1", "P2", "P3"],
                            default_priority="P2", channel="C1")
    assert view["callback_id"] == "ticket.new"
    assert view["title"]["text"] == title
    assert [b["block_id"] for b in view["blocks"]] == ["subject", "description", "category", "priority"]
    assert view["blocks"][3]["element"]["initial_option"]["value"] == "P2"
    assert json.loads(view["private_metadata"]) == {"channel": "C1"}


def test_manifest_declares_what_the_adapter_listens_to():
    manifest = (Path(__file__).resolve().parents[3] / "adapters" / "slack" / "manifest.yaml").read_text()
    for needed in ("- app_mention", "- message.channels", "- message.im", "- reaction_added",
                   "- member_joined_channel", "command: /ticket", "- chat:write", "- commands",
                   "- reactions:read", "- users:read", "- im:write", "/slack/events", "socket_mode_enabled"):
        assert needed in manifest, needed
