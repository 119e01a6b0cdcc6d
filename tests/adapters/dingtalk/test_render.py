"""Golden renders of the sample replies, and the robot-message forms of buttons and mentions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adapters.dingtalk import render
from core.events import UserRef
from core.replies import Button, Reply
from tests import sample_replies

GOLDEN = Path(__file__).parents[2] / "fixtures" / "rendered" / "dingtalk"


@pytest.mark.parametrize("name", sorted(sample_replies.ALL))
def test_sample_reply_matches_golden_render(name: str) -> None:
    got = render.render(sample_replies.ALL[name])
    path = GOLDEN / f"{name}.json"
    if os.environ.get("DESKBOT_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert got == json.loads(path.read_text(encoding="utf-8"))


def test_card_params_are_all_strings_with_buttons_as_json() -> None:
    params = render.card_params(sample_replies.TICKET_CARD)
    assert set(params) == set(render.CARD_KEYS)
    assert all(isinstance(v, str) for v in params.values())
    buttons = json.loads(params["buttons"])
    assert [b["action_id"] for b in buttons] == ["ticket.claim", "ticket.resolve"]
    assert buttons[0]["color"] == "blue" and json.loads(buttons[0]["value"]) == {"ticket": "12"}


def test_buttons_degrade_to_numbered_choices_in_markdown() -> None:
    message = render.robot_message(sample_replies.TICKET_CARD)
    assert message["msgKey"] == "sampleMarkdown"
    text = message["msgParam"]["text"]
    assert "- [1] Claim\n- [2] Resolve" in text
    assert text.endswith(f"*{render.choice_hint('zh-CN')}*")


def test_rating_buttons_keep_their_own_number() -> None:
    survey = sample_replies.SURVEY_CARD
    numbered = {token: (b.action_id, dict(b.value)) for token, b in render.choices(survey)}
    # answering "5" must rate five stars, not pick the fifth button
    assert numbered["5"] == ("survey.rate", {"ticket": "12", "rating": "5"})
    assert numbered["6"] == ("survey.fixed", {"ticket": "12"})
    assert numbered["7"] == ("survey.reopen", {"ticket": "12"})
    assert len(numbered) == len(survey.buttons)
    text = render.markdown_text(survey)
    assert "- [6] Yes, close\n- [7] No, reopen\n- [1] [2] [3] [4] [5]" in text


def test_choice_hint_exists_in_both_languages() -> None:
    assert render.choice_hint("en") != render.choice_hint("zh-CN")
    assert "@" in render.choice_hint("en") and "@" in render.choice_hint("zh-CN")


def test_link_buttons_become_an_action_card() -> None:
    reply = Reply(fallback_text="Reset your password", title="Password reset", body_md="Use the portal.",
                  buttons=(Button(label="Open portal", action_id="kb.open"),
                           Button(label="Guide", action_id="kb.guide")),
                  extras={"dingtalk:button_urls": {"kb.open": "https://sso.example.com",
                                                   "kb.guide": "https://wiki.example.com/reset"}})
    message = render.robot_message(reply)
    assert message["msgKey"] == "sampleActionCard2"
    assert message["msgParam"]["actionURL1"] == "https://sso.example.com"
    body = render.webhook_body(message)
    assert body["msgtype"] == "actionCard"
    assert [b["title"] for b in body["actionCard"]["btns"]] == ["Open portal", "Guide"]


def test_mentions_notify_through_webhook_and_name_through_open_api() -> None:
    user = UserRef(platform="dingtalk", user_id="0321456789", display_name="李雷")
    message = render.robot_message(sample_replies.PLAIN_TEXT)
    assert message == {"msgKey": "sampleText", "msgParam": {"content": "Ticket IT-12 was not found."}}
    hooked = render.webhook_body(render.with_mention(message, user, webhook=True), [user.user_id])
    assert hooked["text"]["content"].endswith("@0321456789")
    assert hooked["at"] == {"atUserIds": ["0321456789"], "isAtAll": False}
    named = render.with_mention(message, user, webhook=False)
    assert named["msgParam"]["content"].startswith("@李雷 ")


def test_toast_exists_in_both_languages() -> None:
    assert render.toast_text("zh-CN") != render.toast_text("en")
    assert render.toast_response("en")["cardData"]["cardParamMap"]["notice"] == render.toast_text("en")
