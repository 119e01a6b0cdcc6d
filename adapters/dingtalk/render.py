"""Render core Replies as DingTalk card data (template cards) or robot messages (markdown / ActionCard)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.events import UserRef
from core.replies import Button, Reply

# Card template contract (documented in the README, DingTalk section). DingTalk's cardParamMap only takes
# string values, so lists travel as JSON strings and the template loops over them.
# https://open.dingtalk.com/document/orgapp/create-and-deliver-cards
CARD_KEYS = ("title", "markdown", "body", "fields", "timeline", "buttons", "status", "priority",
             "color", "lang", "fallback", "notice")

_STATUS_COLORS = {"new": "blue", "open": "blue", "claimed": "orange", "in_progress": "orange",
                  "waiting": "gray", "resolved": "green", "closed": "gray", "reopened": "red"}
_BUTTON_COLORS = {"primary": "blue", "danger": "red", "default": "gray"}
_URLS_EXTRA = "dingtalk:button_urls"  # {action_id: https URL}: buttons that open a page instead

_TOAST = {"en": "Received, updating the card…", "zh-CN": "已收到，正在更新卡片…"}


def _lang(lang: str) -> str:
    return "zh-CN" if lang.lower().startswith("zh") else "en"


def toast_text(lang: str) -> str:
    return _TOAST[_lang(lang)]


def button_value(button: Button) -> str:
    return json.dumps(dict(button.value), ensure_ascii=False, sort_keys=True)


def card_buttons(reply: Reply) -> list[dict[str, str]]:
    """Loop items for the template's button list; the template binds `action_id`/`value` as
    the button's callback params, so a click comes back with exactly these strings."""
    return [
        {"id": f"b{i}", "text": b.label, "color": _BUTTON_COLORS.get(b.style, "gray"),
         "action_id": b.action_id, "value": button_value(b)}
        for i, b in enumerate(reply.buttons, 1)
    ]


def _details_md(reply: Reply) -> list[str]:
    blocks: list[str] = []
    if reply.body_md:
        blocks.append(reply.body_md)
    if reply.fields:
        blocks.append("\n".join(f"- **{f.label}**: {f.value}" for f in reply.fields))
    if reply.timeline:
        blocks.append("\n".join(f"- {t.at}  {t.text}" for t in reply.timeline))
    return blocks


def card_params(reply: Reply) -> dict[str, str]:
    """cardParamMap for the configured interactive card template (every value a string)."""
    return {
        "title": reply.title or reply.fallback_text,
        "markdown": "\n\n".join(_details_md(reply)),
        "body": reply.body_md or "",
        "fields": json.dumps([{"label": f.label, "value": f.value} for f in reply.fields], ensure_ascii=False),
        "timeline": json.dumps([{"at": t.at, "text": t.text} for t in reply.timeline], ensure_ascii=False),
        "buttons": json.dumps(card_buttons(reply), ensure_ascii=False),
        "status": reply.status or "",
        "priority": reply.priority or "",
        "color": "red" if reply.priority in ("P0", "P1") else _STATUS_COLORS.get(reply.status or "", "blue"),
        "lang": reply.lang,
        "fallback": reply.fallback_text,
        "notice": "",
    }


def card_response(reply: Reply) -> dict[str, Any]:
    """What a card callback answers to redraw the clicked card with `reply`."""
    return {"cardUpdateOptions": {"updateCardDataByKey": True},
            "cardData": {"cardParamMap": card_params(reply)}}


def toast_response(lang: str) -> dict[str, Any]:
    """Card callback answer when core produced no card: show a short notice on the card."""
    return {"cardUpdateOptions": {"updateCardDataByKey": True},
            "cardData": {"cardParamMap": {"notice": toast_text(lang)}}}


_CHOICE_HINT = {"en": "Reply with a number to choose (in a group, @mention the robot first).",
                "zh-CN": "回复对应数字即可选择（群聊中请先 @机器人）。"}


def choice_hint(lang: str) -> str:
    return _CHOICE_HINT[_lang(lang)]


def choices(reply: Reply) -> list[tuple[str, Button]]:
    """The number that stands for each button in the Markdown fallback.

    A button labelled with a number (survey ratings "1".."5") keeps that number, so answering
    "5" rates five stars; the other buttons take 1, 2, … skipping the numbers already used.
    """
    labels = [b.label.strip() for b in reply.buttons]
    fixed = {label for label in labels if label.isdigit() and len(label) <= 2 and labels.count(label) == 1}
    taken = {str(int(label)) for label in fixed}
    out: list[tuple[str, Button]] = []
    n = 0
    for label, button in zip(labels, reply.buttons, strict=True):
        if label in fixed:
            out.append((str(int(label)), button))
            continue
        n += 1
        while str(n) in taken:
            n += 1
        out.append((str(n), button))
    return out


def _choice_lines(reply: Reply) -> list[str]:
    lines: list[str] = []
    bare: list[str] = []  # buttons that are their own number share one line: [1] [2] [3] [4] [5]
    for token, button in choices(reply):
        if button.label.strip().isdigit() and str(int(button.label.strip())) == token:
            bare.append(f"[{token}]")
            continue
        if bare:
            lines.append("- " + " ".join(bare))
            bare = []
        lines.append(f"- [{token}] {button.label}")
    if bare:
        lines.append("- " + " ".join(bare))
    return lines


def markdown_text(reply: Reply) -> str:
    """Markdown for robot messages. Buttons cannot call back from robot markdown, so they
    degrade to numbered choices (see `choices`); the transport remembers them per conversation
    and turns an answer of just that number into the button's click."""
    blocks: list[str] = []
    if reply.title:
        blocks.append(f"#### {reply.title}")
    blocks.extend(_details_md(reply))
    if reply.buttons:
        blocks.append("\n".join(_choice_lines(reply)))
        blocks.append(f"*{choice_hint(reply.lang)}*")
    return "\n\n".join(blocks) if blocks else reply.fallback_text


def _link_buttons(reply: Reply) -> list[tuple[str, str]] | None:
    """ActionCard buttons are links: usable only when every button has a URL in extras."""
    urls = reply.extras.get(_URLS_EXTRA)
    if not reply.buttons or not isinstance(urls, Mapping):
        return None
    if not all(urls.get(b.action_id) for b in reply.buttons) or len(reply.buttons) > 5:
        return None
    return [(b.label, str(urls[b.action_id])) for b in reply.buttons]


def has_link_buttons(reply: Reply) -> bool:
    """True when the buttons go out as ActionCard links (they open pages, nothing to answer)."""
    return _link_buttons(reply) is not None


def robot_message(reply: Reply) -> dict[str, Any]:
    """Open API robot message `{"msgKey", "msgParam"}` (groupMessages/send, oToMessages/batchSend).

    https://open.dingtalk.com/document/orgapp/types-of-messages-sent-by-robots
    """
    if not reply.is_card and not reply.body_md:
        return {"msgKey": "sampleText", "msgParam": {"content": reply.fallback_text}}
    title = reply.title or reply.fallback_text
    links = _link_buttons(reply)
    if links:
        text = "\n\n".join([f"#### {title}", *_details_md(reply)])
        if len(links) == 1:
            return {"msgKey": "sampleActionCard", "msgParam": {
                "title": title, "text": text, "singleTitle": links[0][0], "singleURL": links[0][1]}}
        param: dict[str, str] = {"title": title, "text": text}
        for i, (label, url) in enumerate(links, 1):
            param[f"actionTitle{i}"] = label
            param[f"actionURL{i}"] = url
        return {"msgKey": f"sampleActionCard{len(links)}", "msgParam": param}
    return {"msgKey": "sampleMarkdown", "msgParam": {"title": title, "text": markdown_text(reply)}}


def with_mention(message: dict[str, Any], user: UserRef | None, *, webhook: bool) -> dict[str, Any]:
    """Name `user` in the text. Through a session webhook "@userId" in the text plus
    `at.atUserIds` notifies them; the Open API robot send has no @ field, so there it is
    only the readable name."""
    if user is None:
        return message
    param = dict(message["msgParam"])
    tag = f"@{user.user_id}" if webhook else f"@{user.display_name or user.user_id}"
    key = "content" if message["msgKey"] == "sampleText" else "text"
    param[key] = f"{param[key]} {tag}" if webhook else f"{tag} {param[key]}"
    return {**message, "msgParam": param}


def webhook_body(message: dict[str, Any], at_user_ids: list[str] | None = None) -> dict[str, Any]:
    """The same robot message in the session webhook's (custom robot) format."""
    key, param = message["msgKey"], message["msgParam"]
    body: dict[str, Any]
    if key == "sampleText":
        body = {"msgtype": "text", "text": {"content": param["content"]}}
    elif key == "sampleMarkdown":
        body = {"msgtype": "markdown", "markdown": {"title": param["title"], "text": param["text"]}}
    elif key == "sampleActionCard":
        body = {"msgtype": "actionCard", "actionCard": dict(param)}
    else:
        n = int(key.removeprefix("sampleActionCard"))
        btns = [{"title": param[f"actionTitle{i}"], "actionURL": param[f"actionURL{i}"]} for i in range(1, n + 1)]
        body = {"msgtype": "actionCard", "actionCard": {
            "title": param["title"], "text": param["text"], "btnOrientation": "0", "btns": btns}}
    if at_user_ids:
        body["at"] = {"atUserIds": list(at_user_ids), "isAtAll": False}
    return body


def render(reply: Reply) -> dict[str, Any]:
    """Every form a Reply can take on DingTalk (golden renders)."""
    out: dict[str, Any] = {"robot_message": robot_message(reply)}
    if reply.is_card:
        out["card_params"] = card_params(reply)
    return out
