"""User-facing Slack-only strings (the new-ticket modal), in English and Simplified Chinese."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "modal.title": "New ticket",
        "modal.submit": "Submit",
        "modal.close": "Cancel",
        "modal.subject": "Subject",
        "modal.subject.hint": "A short summary, e.g. VPN does not connect",
        "modal.description": "Description",
        "modal.description.hint": "What happened, since when, any error message",
        "modal.category": "Category",
        "modal.priority": "Priority",
        "modal.pick": "Choose…",
    },
    "zh-CN": {
        "modal.title": "新建工单",
        "modal.submit": "提交",
        "modal.close": "取消",
        "modal.subject": "标题",
        "modal.subject.hint": "一句话概括，例如：VPN 连不上",
        "modal.description": "问题描述",
        "modal.description.hint": "发生了什么、从何时开始、报错信息",
        "modal.category": "类别",
        "modal.priority": "优先级",
        "modal.pick": "请选择…",
    },
}


def text(key: str, lang: str) -> str:
    """The string for `key` in `lang` ("zh*" -> Simplified Chinese, anything else -> English)."""
    table = STRINGS["zh-CN"] if lang.lower().startswith("zh") else STRINGS["en"]
    return table[key]
