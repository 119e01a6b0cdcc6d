"""Golden renders of the sample replies, and the contract: every button clicked parses back to itself."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.wecom.keys import MAX_KEY_BYTES, MAX_OPTION_ID_BYTES, MORE_KEY, decode_key, encode_key
from adapters.wecom.parse import parse_app, parse_robot
from adapters.wecom.render import MAX_BUTTONS, render, task_id_for
from adapters.wecom.xmlmsg import parse_xml
from core.events import ActionClicked, UserRef
from core.replies import Button, Field, Reply, TimelineItem
from tests.sample_replies import ALL

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "rendered" / "wecom"
CHANNELS = ("app", "robot")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_golden_render(name: str, channel: str) -> None:
    got = render(ALL[name], channel=channel, task_id="TASK-golden")
    expected = json.loads((GOLDEN / f"{name}.{channel}.json").read_text(encoding="utf-8"))
    assert got == expected


def _clicks(card: dict) -> list[tuple[str, list[dict]]]:
    """Every (EventKey, SelectedItems) a user can produce on this card."""
    out = [(b["key"], []) for b in card["button_list"] if b["key"] != MORE_KEY]
    selection = card.get("button_selection")
    if selection:
        assert any(b["key"] == MORE_KEY for b in card["button_list"])
        out += [(MORE_KEY, [{"QuestionKey": selection["question_key"], "OptionIds": [o["id"]]}])
                for o in selection["option_list"]]
    return out


def _app_click_xml(key: str, selected: list[dict], task_id: str) -> str:
    items = "".join(
        f"<SelectedItem><QuestionKey><![CDATA[{s['QuestionKey']}]]></QuestionKey><OptionIds>"
        + "".join(f"<OptionId><![CDATA[{o}]]></OptionId>" for o in s["OptionIds"])
        + "</OptionIds></SelectedItem>" for s in selected)
    return ("<xml><ToUserName><![CDATA[wwCORP]]></ToUserName><FromUserName><![CDATA[u1]]></FromUserName>"
            "<CreateTime>1795137360</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[RC]]></ResponseCode>"
            + (f"<SelectedItems>{items}</SelectedItems>" if items else "") + "<AgentID>1</AgentID></xml>")


def _robot_click(key: str, selected: list[dict], task_id: str) -> dict:
    card_event = {"card_type": "button_interaction", "event_key": key, "task_id": task_id}
    if selected:
        card_event["selected_items"] = {"selected_item": [
            {"question_key": s["QuestionKey"], "option_ids": {"option_id": s["OptionIds"]}} for s in selected]}
    return {"msgid": "M-" + key, "create_time": 1795137360, "aibotid": "BOT-1", "chatid": "G1",
            "chattype": "group", "from": {"userid": "u1"}, "msgtype": "event",
            "event": {"eventtype": "template_card_event", "template_card_event": card_event}}


@pytest.mark.parametrize("name", sorted(ALL))
def test_contract_every_reply_renders_and_every_button_round_trips(name: str) -> None:
    reply = ALL[name]
    for channel in CHANNELS:
        body = render(reply, channel=channel, task_id="T-1")
        if body["msgtype"] != "template_card":
            content = (body.get("text") or body.get("markdown"))["content"]
            assert content == reply.as_text()
            assert not reply.buttons
            continue
        card = body["template_card"]
        assert len(card["button_list"]) <= MAX_BUTTONS
        assert all(len(b["key"].encode()) <= MAX_KEY_BYTES for b in card["button_list"])
        assert all(len(o["id"].encode()) <= MAX_OPTION_ID_BYTES
                   for o in (card.get("button_selection") or {}).get("option_list", ()))
        clicks = _clicks(card)
        assert len(clicks) == len(reply.buttons)  # nothing dropped
        clicked = set()
        for key, selected in clicks:
            app_event = parse_app(parse_xml(_app_click_xml(key, selected, "T-1")))
            robot_event = parse_robot(_robot_click(key, selected, "T-1"), now=datetime.now(UTC))
            for event in (app_event, robot_event):
                assert isinstance(event, ActionClicked)
                assert event.card_message_id == "T-1"
            assert (app_event.action_id, dict(app_event.value)) == (robot_event.action_id, dict(robot_event.value))
            clicked.add((app_event.action_id, tuple(sorted(app_event.value.items()))))
        assert clicked == {(b.action_id, tuple(sorted(b.value.items()))) for b in reply.buttons}


@pytest.mark.parametrize("value", [{}, {"ticket": "12"}, {"a": "x&y=z?", "b": "中文 值", "c": ""}])
def test_key_encoding_is_reversible(value: dict) -> None:
    assert decode_key(encode_key("ticket.claim", value)) == ("ticket.claim", value)


def test_key_encoding_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode_key("ticket.claim", {"x": "y" * 2000})
    with pytest.raises(ValueError):
        encode_key("~reserved", {})
    assert decode_key("~more") is None and decode_key("") is None and decode_key("a?b=1&&") is None


def test_task_ids_use_allowed_characters_only() -> None:
    task_id = task_id_for("ticket:12/中文", "abc123")
    assert re.fullmatch(r"[A-Za-z0-9_\-@]{1,128}", task_id)
    assert task_id_for("x" * 300, "s").endswith("-s")


def test_robot_text_mentions_and_card_without_buttons_becomes_markdown() -> None:
    reply = Reply(fallback_text="IT-12 resolved", title="IT-12", body_md="**Done**",
                  fields=(Field(label="状态", value="已关闭"),), timeline=(TimelineItem(at="12-04 10:00", text="Closed"),),
                  mention=UserRef(platform="wecom", user_id="lilei"))
    assert render(reply, channel="robot") == {"msgtype": "markdown", "markdown": {
        "content": "<@lilei> IT-12\n**Done**\n状态: 已关闭\n  12-04 10:00  Closed"}}
    assert render(reply, channel="app") == {"msgtype": "markdown", "markdown": {
        "content": '**IT-12**\n**Done**\n> 状态：<font color="comment">已关闭</font>\n'
                   '<font color="comment">12-04 10:00</font> Closed'}}
    plain = Reply(fallback_text="Thanks for rating IT-12 5/5.")
    assert render(plain, channel="app") == {"msgtype": "text", "text": {"content": "Thanks for rating IT-12 5/5."}}


def test_long_texts_are_cut_to_the_byte_limits() -> None:
    chinese = Reply(fallback_text="网络" * 2000)  # 12,000 bytes
    content = render(chinese, channel="app")["text"]["content"]
    assert len(content.encode()) <= 2048 and content.endswith("…") and content.startswith("网络网络")
    card = Reply(fallback_text="x", title="卡片", body_md="说明" * 2000)
    assert len(render(card, channel="app")["markdown"]["content"].encode()) <= 4096


def test_chinese_card_strings_for_overflow() -> None:
    reply = Reply(fallback_text="评分", title="评分", lang="zh-CN",
                  buttons=tuple(Button(label=str(n), action_id="survey.rate", value={"rating": str(n)})
                                for n in range(1, 9)))
    card = render(reply, task_id="T")["template_card"]
    assert card["button_selection"]["title"] == "更多选项"
    assert card["button_list"][-1]["text"] == "确定"
    assert len(card["button_selection"]["option_list"]) == 3
