"""Every string the chat page shows, in English and Simplified Chinese (the page switches between them)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"en": "IT help desk chat", "zh-CN": "IT 服务台聊天"},
    "picker.heading": {"en": "Who are you?", "zh-CN": "你是谁？"},
    "picker.name": {"en": "Name", "zh-CN": "姓名"},
    "picker.name_placeholder": {"en": "e.g. Li Lei", "zh-CN": "例如：李雷"},
    "picker.role": {"en": "Role", "zh-CN": "角色"},
    "picker.enter": {"en": "Enter chat", "zh-CN": "进入聊天"},
    "picker.hint": {
        "en": "Anyone can join as an employee. Other roles are for names listed in the desk's config.",
        "zh-CN": "任何人都可以以员工身份加入；其他角色仅限配置中列出的姓名。",
    },
    "picker.tab_hint": {
        "en": "Each browser tab keeps its own person: open another tab to chat as someone else.",
        "zh-CN": "每个浏览器标签页各自保存身份：打开新标签页即可以另一个人的身份聊天。",
    },
    "role.employee": {"en": "Employee", "zh-CN": "员工"},
    "role.technician": {"en": "Technician", "zh-CN": "技术员"},
    "role.lead": {"en": "Team lead", "zh-CN": "组长"},
    "role.admin": {"en": "Admin", "zh-CN": "管理员"},
    "person.switch": {"en": "Switch person", "zh-CN": "切换身份"},
    "lang.toggle": {"en": "中文", "zh-CN": "English"},
    "rooms.heading": {"en": "Rooms", "zh-CN": "聊天室"},
    "room.direct": {"en": "Direct message", "zh-CN": "私聊"},
    "room.team": {"en": "team", "zh-CN": "团队"},
    "composer.placeholder": {
        "en": "Message — @deskbot to ask, /ticket for commands",
        "zh-CN": "输入消息 — @deskbot 提问，/ticket 使用命令",
    },
    "composer.send": {"en": "Send", "zh-CN": "发送"},
    "composer.hint": {"en": "Enter to send · Shift+Enter for a new line",
                      "zh-CN": "回车发送 · Shift+回车换行"},
    "composer.thread": {"en": "Replying in thread:", "zh-CN": "在话题中回复："},
    "composer.cancel_thread": {"en": "Cancel", "zh-CN": "取消"},
    "msg.reply": {"en": "Reply", "zh-CN": "回复"},
    "msg.react": {"en": "Add reaction", "zh-CN": "添加表情"},
    "msg.ticket_hint": {"en": "🎫 makes this a ticket", "zh-CN": "🎫 将此消息转为工单"},
    "msg.only_you": {"en": "Only visible to you", "zh-CN": "仅你可见"},
    "msg.cut": {"en": "Shortened to {limit} characters", "zh-CN": "已截断为 {limit} 个字符"},
    "msg.more": {"en": "Show all", "zh-CN": "显示全部"},
    "msg.less": {"en": "Show less", "zh-CN": "收起"},
    "msg.updated": {"en": "updated", "zh-CN": "已更新"},
    "msg.bot": {"en": "bot", "zh-CN": "机器人"},
    "room.empty": {"en": "No messages yet.", "zh-CN": "暂无消息。"},
    "status.connecting": {"en": "Connecting…", "zh-CN": "正在连接…"},
    "status.online": {"en": "Connected", "zh-CN": "已连接"},
    "status.offline": {"en": "Offline — reconnecting…", "zh-CN": "连接断开，正在重连…"},
    "card.sending": {"en": "Sending…", "zh-CN": "发送中…"},
    "error.empty_message": {"en": "Type a message first.", "zh-CN": "请先输入消息。"},
    "error.name_required": {"en": "Enter your name.", "zh-CN": "请输入姓名。"},
    "error.name_too_long": {"en": "Names can be at most 40 characters.", "zh-CN": "姓名最多 40 个字符。"},
    "error.name_invalid": {"en": "Use letters or digits in the name.", "zh-CN": "姓名需包含字母或数字。"},
    "error.name_taken_by_bot": {"en": "That name belongs to the bot.", "zh-CN": "该名称属于机器人。"},
    "error.role_unknown": {"en": "Pick a role.", "zh-CN": "请选择角色。"},
    "error.role_not_allowed": {
        "en": "The desk's config does not allow this role for that name.",
        "zh-CN": "配置不允许该姓名使用此角色。",
    },
    "error.unknown_room": {"en": "You are not in that room.", "zh-CN": "你不在该聊天室中。"},
    "error.message_gone": {"en": "That message is no longer here.", "zh-CN": "该消息已不存在。"},
    "error.not_stored": {
        "en": "The desk could not take that just now — please try again.",
        "zh-CN": "服务台暂时无法接收，请重试。",
    },
    "error.not_ready": {
        "en": "The desk is starting — please try again in a moment.",
        "zh-CN": "服务台正在启动，请稍后重试。",
    },
    "error.too_large": {"en": "That is too large to send.", "zh-CN": "内容过大，无法发送。"},
    "error.bad_frame": {
        "en": "The page sent something the server did not understand — please reload.",
        "zh-CN": "服务器无法理解页面发送的内容，请刷新页面。",
    },
    "error.unauthorized": {
        "en": "This chat needs an access token: open the link your administrator gave you (…/chat?token=…).",
        "zh-CN": "此聊天需要访问令牌：请打开管理员提供的链接（…/chat?token=…）。",
    },
}

LANGS: tuple[str, ...] = ("en", "zh-CN")


def text(key: str, lang: str) -> str:
    entry = STRINGS[key]
    return entry.get(lang) or entry["en"]


def table(lang: str) -> dict[str, str]:
    return {key: text(key, lang) for key in STRINGS}
