"""Core Reply -> WeCom message bodies: text / markdown, and template_card (button_interaction) (pure)."""

from __future__ import annotations

import re
from typing import Any, Literal

from adapters.wecom.keys import MAX_OPTION_ID_BYTES, MORE_KEY, MORE_QUESTION, encode_key
from core.replies import Reply, clip

Channel = Literal["app", "robot"]

# Limits of 模板卡片 button_interaction (developer.work.weixin.qq.com/document/path/90236):
# at most 6 buttons, 6 horizontal_content_list rows, 10 selector options.
MAX_BUTTONS = 6
MAX_ROWS = 6
MAX_OPTIONS = 10
MAX_SUB_TITLE = 1000
# message/send limits content by UTF-8 bytes: text 2048, markdown 4096 (a Chinese character takes 3)
MAX_TEXT_BYTES = 2048
MAX_MARKDOWN_BYTES = 4096

# button_list[].style 1-4; 1 is the filled accent button, 3 the red one, 2 the plain one.
_STYLE = {"primary": 1, "default": 2, "danger": 3}

_STRINGS = {
    "more": {"en": "More choices", "zh-CN": "更多选项"},
    "confirm": {"en": "Confirm", "zh-CN": "确定"},
    "done": {"en": "Done", "zh-CN": "已处理"},
}


def _t(key: str, lang: str) -> str:
    table = _STRINGS[key]
    return table.get(lang) or table["zh-CN" if lang.lower().startswith("zh") else "en"]


def _plain(md: str) -> str:
    """Template cards show plain text: drop markdown emphasis and code markers."""
    return re.sub(r"(\*\*|\*|`)", "", md)


def _cut_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary, with "…" when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def _markdown(reply: Reply) -> str:
    """A card without buttons as WeCom markdown: bold title, fields and timeline in grey."""
    lines = [f"**{reply.title}**"] if reply.title else []
    if reply.body_md:
        lines.append(reply.body_md)
    lines.extend(f'> {f.label}：<font color="comment">{f.value}</font>' for f in reply.fields)
    lines.extend(f'<font color="comment">{item.at}</font> {item.text}' for item in reply.timeline)
    return "\n".join(lines) or reply.fallback_text


def render_card(reply: Reply, *, task_id: str) -> dict[str, Any]:
    """A `button_interaction` template card. `task_id` must be unique per card send."""
    lines: list[str] = []
    if reply.body_md:
        lines.append(_plain(reply.body_md))
    rows = list(reply.fields)
    lines.extend(f"{f.label}: {f.value}" for f in rows[MAX_ROWS:])
    lines.extend(f"{t.at}  {t.text}" for t in reply.timeline)
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": clip(reply.title or reply.fallback_text, 120)},
    }
    if lines:
        card["sub_title_text"] = clip("\n".join(lines), MAX_SUB_TITLE)
    if rows:
        card["horizontal_content_list"] = [{"keyname": f.label, "value": f.value} for f in rows[:MAX_ROWS]]
    buttons = list(reply.buttons)
    direct = buttons if len(buttons) <= MAX_BUTTONS else buttons[: MAX_BUTTONS - 1]
    button_list = [{"text": b.label, "style": _STYLE.get(b.style, 2), "key": encode_key(b.action_id, b.value)}
                   for b in direct]
    overflow = buttons[len(direct):]
    if overflow:
        # More than 6 buttons: the rest become a selector, submitted with a reserved "confirm" button.
        options = [{"id": key, "text": b.label}
                   for b in overflow[:MAX_OPTIONS]
                   if len((key := encode_key(b.action_id, b.value)).encode()) <= MAX_OPTION_ID_BYTES]
        if options:
            card["button_selection"] = {"question_key": MORE_QUESTION, "title": _t("more", reply.lang),
                                        "option_list": options, "selected_id": options[0]["id"]}
            button_list.append({"text": _t("confirm", reply.lang), "style": 1, "key": MORE_KEY})
    card["button_list"] = button_list
    card["task_id"] = task_id
    return card


def render_text(reply: Reply, *, channel: Channel) -> dict[str, Any]:
    if channel == "robot":
        # the robot sends markdown (aibot_send_msg accepts markdown and template_card only);
        # <@userid> is WeCom markdown's mention syntax
        text = reply.as_text()
        if reply.mention:
            text = f"<@{reply.mention.user_id}> {text}"
        return {"msgtype": "markdown", "markdown": {"content": _cut_bytes(text, MAX_MARKDOWN_BYTES)}}
    if reply.title:  # a card without buttons (a closed ticket, a list): markdown keeps its shape
        return {"msgtype": "markdown", "markdown": {"content": _cut_bytes(_markdown(reply), MAX_MARKDOWN_BYTES)}}
    return {"msgtype": "text", "text": {"content": _cut_bytes(reply.as_text(), MAX_TEXT_BYTES)}}


def locked_buttons(reply: Reply) -> dict[str, Any]:
    """The `button` form of update_template_card: every button greyed out under one label.

    Used when a card's new version has no buttons (an answered survey): a button_interaction card
    cannot be shown without buttons (developer.work.weixin.qq.com/document/path/94888)."""
    return {"replace_name": _t("done", reply.lang)}


def is_template_card(reply: Reply) -> bool:
    return bool(reply.buttons)


def render(reply: Reply, *, channel: Channel = "app", task_id: str | None = None) -> dict[str, Any]:
    """The message body (without recipient fields) for app message/send or robot frames.

    Only cards with buttons become template cards: the card types without buttons (text_notice,
    news_notice) need a URL to open on tap, which a service desk card does not have."""
    if is_template_card(reply):
        if task_id is None:
            raise ValueError("a card needs a task_id")
        return {"msgtype": "template_card", "template_card": render_card(reply, task_id=task_id)}
    return render_text(reply, channel=channel)


def task_id_for(card_key: str | None, suffix: str) -> str:
    """task_id: only letters, digits and `_-@`, at most 128 bytes, unique per app."""
    base = re.sub(r"[^A-Za-z0-9_\-@]", "_", card_key or "card")[:80]
    return f"{base}-{suffix}"[:128]
