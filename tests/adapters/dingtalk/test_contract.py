"""Contract: every sample Reply renders, and every card button clicks back to its action id and value."""

from __future__ import annotations

import json

import pytest

from adapters.dingtalk import render
from adapters.dingtalk.parse import TOPIC_CARD_CALLBACK, parse
from core.events import ActionClicked
from tests import sample_replies
from tests.fakes.dingtalk import FakeDingTalk


@pytest.mark.parametrize("name", sorted(sample_replies.ALL))
def test_every_reply_renders(name: str) -> None:
    reply = sample_replies.ALL[name]
    out = render.render(reply)
    message = out["robot_message"]
    assert message["msgKey"].startswith("sample")
    assert all(isinstance(v, str) and v for v in message["msgParam"].values())
    assert render.webhook_body(message)["msgtype"] in ("text", "markdown", "actionCard")
    if reply.is_card:
        assert all(isinstance(v, str) for v in out["card_params"].values())


def _clicks():
    for name, reply in sorted(sample_replies.ALL.items()):
        for i, button in enumerate(reply.buttons):
            yield pytest.param(reply, i, id=f"{name}-{button.action_id}-{i}")


@pytest.mark.parametrize(("reply", "index"), list(_clicks()))
def test_button_click_parses_back_to_its_action(reply, index: int) -> None:
    button = reply.buttons[index]
    item = json.loads(render.card_params(reply)["buttons"])[index]
    # what DingTalk sends when the template's button binds params to the loop item
    data = FakeDingTalk.card_callback(out_track_id="deskbot-1", action_id=item["action_id"], value={})
    content = {"cardPrivateData": {"actionIds": [item["id"]],
                                   "params": {"action_id": item["action_id"], "value": item["value"]}}}
    data["content"] = json.dumps(content, ensure_ascii=False)
    frame = {"type": "CALLBACK", "headers": {"topic": TOPIC_CARD_CALLBACK, "messageId": "m1"},
             "data": json.dumps(data, ensure_ascii=False)}
    event = parse(frame)
    assert isinstance(event, ActionClicked)
    assert event.action_id == button.action_id
    assert dict(event.value) == dict(button.value)
    assert event.card_message_id == "deskbot-1"
