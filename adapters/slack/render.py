"""Render a core Reply as Slack Block Kit (plus the new-ticket modal view)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from adapters.slack.parse import NEW_TICKET_FORM, encode_button_value
from adapters.slack.strings import text as t
from core.replies import Reply, clip

# Block Kit limits: https://api.slack.com/reference/block-kit/blocks
MAX_BLOCKS = 50
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
FIELDS_PER_SECTION = 10
BUTTON_LABEL_CHARS = 75
BUTTONS_PER_ACTIONS = 25
FALLBACK_CHARS = 3900

_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_BULLET = re.compile(r"^(\s*)[-*]\s+", re.M)
_STRIKE = re.compile(r"~~(.+?)~~")


def escape(text: str) -> str:
    """Slack's three control characters. https://api.slack.com/reference/surfaces/formatting#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(md: str) -> str:
    """The small Markdown core writes -> Slack mrkdwn (bold is *x*, italic _x_, links <url|label>)."""
    out = escape(md)
    out = _MD_LINK.sub(lambda m: f"\x01{m.group(2)}|{m.group(1)}\x02", out)
    out = _BOLD.sub(lambda m: "\x03" + (m.group(1) or m.group(2)) + "\x03", out)
    out = _ITALIC.sub(lambda m: "_" + m.group(1) + "_", out)
    out = _HEADING.sub(lambda m: "\x03" + m.group(1) + "\x03", out)
    out = _BULLET.sub(lambda m: m.group(1) + "• ", out)
    out = _STRIKE.sub(lambda m: "~" + m.group(1) + "~", out)
    return out.replace("\x03", "*").replace("\x01", "<").replace("\x02", ">")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def button_action_id(action_id: str, n: int) -> str:
    # Slack requires action_id unique within a block; the core action id travels in `value`.
    return f"{action_id}:{n}"


def render(reply: Reply) -> dict[str, Any]:
    """Reply -> the `text` / `blocks` arguments of chat.postMessage, chat.update, chat.postEphemeral."""
    mention = f"<@{reply.mention.user_id}> " if reply.mention else ""
    if not reply.is_card:
        return {"text": clip(mention + to_mrkdwn(reply.as_text()), FALLBACK_CHARS)}

    blocks: list[dict[str, Any]] = []
    if reply.title:
        blocks.append({"type": "header", "text": _plain(reply.title, HEADER_CHARS)})
    body = mention + to_mrkdwn(reply.body_md) if reply.body_md else mention.strip()
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(body, SECTION_CHARS)}})
    for i in range(0, len(reply.fields), FIELDS_PER_SECTION):
        chunk = reply.fields[i:i + FIELDS_PER_SECTION]
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": clip(f"*{escape(f.label)}*\n{to_mrkdwn(f.value)}", FIELD_CHARS)}
            for f in chunk
        ]})
    if reply.timeline:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _timeline_text([f"`{escape(i.at)}`  {to_mrkdwn(i.text)}"
                                                       for i in reply.timeline])}
        ]})
    n = 0
    for i in range(0, len(reply.buttons), BUTTONS_PER_ACTIONS):
        elements = []
        for b in reply.buttons[i:i + BUTTONS_PER_ACTIONS]:
            element: dict[str, Any] = {
                "type": "button",
                "text": _plain(b.label, BUTTON_LABEL_CHARS),
                "action_id": button_action_id(b.action_id, n),
                "value": encode_button_value(b.action_id, b.value),
            }
            if b.style in ("primary", "danger"):
                element["style"] = b.style
            elements.append(element)
            n += 1
        blocks.append({"type": "actions", "elements": elements})
    # `text` is what notifications and screen readers show for a blocks message.
    return {"text": clip(mention + escape(reply.fallback_text), FALLBACK_CHARS), "blocks": blocks[:MAX_BLOCKS]}


def _timeline_text(lines: list[str]) -> str:
    """Newest entries matter most: drop the oldest when the context element would overflow."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > SECTION_CHARS - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))


def new_ticket_modal(*, lang: str, categories: Sequence[str], priorities: Sequence[str],
                     default_priority: str | None, channel: str | None) -> dict[str, Any]:
    """The views.open payload for `/ticket new`: subject, description, category, priority."""

    def options(values: Sequence[str]) -> list[dict[str, Any]]:
        return [{"text": _plain(v, 75), "value": v} for v in values[:100]]

    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "subject", "label": _plain(t("modal.subject", lang), 2000),
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150,
                     "placeholder": _plain(t("modal.subject.hint", lang), 150)}},
        {"type": "input", "block_id": "description", "label": _plain(t("modal.description", lang), 2000),
         "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                     "placeholder": _plain(t("modal.description.hint", lang), 150)}},
    ]
    if categories:
        blocks.append({"type": "input", "block_id": "category", "optional": True,
                       "label": _plain(t("modal.category", lang), 2000),
                       "element": {"type": "static_select", "action_id": "value",
                                   "placeholder": _plain(t("modal.pick", lang), 150),
                                   "options": options(categories)}})
    if priorities:
        element: dict[str, Any] = {"type": "static_select", "action_id": "value",
                                   "placeholder": _plain(t("modal.pick", lang), 150),
                                   "options": options(priorities)}
        if default_priority in priorities:
            element["initial_option"] = {"text": _plain(default_priority, 75), "value": default_priority}
        blocks.append({"type": "input", "block_id": "priority", "optional": True,
                       "label": _plain(t("modal.priority", lang), 2000), "element": element})
    return {
        "type": "modal",
        "callback_id": NEW_TICKET_FORM,
        "title": _plain(t("modal.title", lang), 24),
        "submit": _plain(t("modal.submit", lang), 24),
        "close": _plain(t("modal.close", lang), 24),
        "private_metadata": json.dumps({"channel": channel} if channel else {}),
        "blocks": blocks,
    }
