"""core Reply -> Feishu message bodies (interactive card JSON 1.0 or text) and card-callback answers; pure."""

from __future__ import annotations

from typing import Any

from core.replies import Button, Reply

from .parse import ACTION_KEY, PLATFORM

# Card JSON 1.0 ("message card"): `config.update_multi` makes the card shared, which the PATCH
# endpoint requires before and after an update.
# https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/patch
_STATUS_COLOURS = {"resolved": "green", "closed": "grey", "cancelled": "grey", "canceled": "grey"}
_PRIORITY_COLOURS = {"P0": "red", "P1": "orange", "P2": "blue", "P3": "wathet"}
_BUTTON_TYPES = {"primary": "primary", "danger": "danger"}

_STRINGS: dict[str, dict[str, str]] = {
    "timeline": {"en": "Timeline", "zh-CN": "处理记录"},
    "received": {"en": "Received", "zh-CN": "已收到"},
}


def text_for(key: str, lang: str) -> str:
    table = _STRINGS[key]
    return table["zh-CN"] if lang.lower().startswith("zh") else table["en"]


def header_colour(reply: Reply) -> str:
    """Header template: explicit extra, else status (resolved green, closed grey), else priority."""
    explicit = reply.extras.get("feishu:header_color")
    if explicit:
        return str(explicit)
    if reply.status and reply.status.lower() in _STATUS_COLOURS:
        return _STATUS_COLOURS[reply.status.lower()]
    return _PRIORITY_COLOURS.get(reply.priority or "", "blue")


def render(reply: Reply) -> dict[str, Any]:
    """{"msg_type": "interactive" | "text", "content": <dict>}; the transport JSON-encodes content.

    Ephemeral replies are always cards: the ephemeral endpoint only sends cards."""
    if reply.is_card or reply.only_visible_to is not None:
        return {"msg_type": "interactive", "content": render_card(reply)}
    text = reply.as_text()
    mention = _mention_user(reply)
    if mention:
        text = f'<at user_id="{mention}"></at> {text}'
    return {"msg_type": "text", "content": {"text": text}}


def render_card(reply: Reply) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    mention = _mention_user(reply)
    body = reply.body_md if reply.is_card else (reply.body_md or reply.fallback_text)
    if mention:
        body = f"<at id={mention}></at> {body or ''}".rstrip()
    if body:
        elements.append({"tag": "markdown", "content": body})
    if reply.fields:
        elements.append({"tag": "div", "fields": [
            {"is_short": True, "text": {"tag": "lark_md", "content": f"**{f.label}**\n{f.value}"}}
            for f in reply.fields
        ]})
    if reply.timeline:
        lines = "\n".join(f"{item.at}  {item.text}" for item in reply.timeline)
        elements.append({"tag": "hr"})
        elements.append({"tag": "markdown", "content": f"**{text_for('timeline', reply.lang)}**\n{lines}"})
    if reply.buttons:
        action: dict[str, Any] = {"tag": "action", "actions": [render_button(b) for b in reply.buttons]}
        if len(reply.buttons) > 3:
            action["layout"] = "flow"  # wrap a row of rating buttons instead of squeezing them
        elements.append(action)
    if not elements and not reply.title:
        elements.append({"tag": "markdown", "content": reply.fallback_text})
    card: dict[str, Any] = {"config": {"wide_screen_mode": True, "update_multi": True}}
    if reply.title:
        card["header"] = {"template": header_colour(reply),
                          "title": {"tag": "plain_text", "content": reply.title}}
    card["elements"] = elements
    return card


def render_button(button: Button) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": button.label},
        "type": _BUTTON_TYPES.get(button.style, "default"),
        # the click comes back as event.action.value: the action id plus ids, nothing else
        "value": {ACTION_KEY: button.action_id, **{str(k): str(v) for k, v in button.value.items()}},
    }


def callback_answer(card: Reply | None, toast: str | None = None, *, lang: str = "en") -> dict[str, Any]:
    """Body of the answer to card.action.trigger: the updated card when core produced one, with the
    clicker's own answer as a toast when there is one; without a card a toast ("Received" if nothing
    better). https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-callback-communication"""
    answer: dict[str, Any] = {}
    if toast:
        answer["toast"] = {"type": "info", "content": toast}
    if card is not None:
        answer["card"] = {"type": "raw", "data": render_card(card)}
    if answer:
        return answer
    return {"toast": {"type": "success", "content": text_for("received", lang),
                      "i18n": {"zh_cn": text_for("received", "zh-CN"), "en_us": text_for("received", "en")}}}


def _mention_user(reply: Reply) -> str | None:
    m = reply.mention
    return m.user_id if m is not None and m.platform == PLATFORM else None
