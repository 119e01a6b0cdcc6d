"""Command reference shown in chat, per verb, in English and Chinese."""

from __future__ import annotations

from core.i18n import ZH

# verb: (usage, English description, Chinese usage, Chinese description)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "help": ("/ticket help [command]", "show commands", "帮助 [命令]", "查看命令说明"),
    "new": ("/ticket new <problem>", "open a ticket", "新建 <问题描述>", "创建工单"),
    "show": ("/ticket show IT-12", "show a ticket", "查看 IT-12", "查看工单"),
    "list": ("/ticket list [status]", "list open tickets", "列表 [状态]", "列出未关闭工单"),
    "mine": ("/ticket mine", "your tickets", "我的工单", "查看我的工单"),
    "claim": ("/ticket claim IT-12", "take a ticket (technicians)", "认领 IT-12", "认领工单（技术人员）"),
    "assign": ("/ticket assign IT-12 @person", "assign to someone (leads)", "指派 IT-12 @某人", "指派工单（组长）"),
    "priority": ("/ticket priority IT-12 P1", "set priority P0–P3", "优先级 IT-12 P1", "设置优先级 P0–P3"),
    "status": ("/ticket status IT-12 waiting [note]", "set status: new, assigned, in_progress, waiting, resolved, closed",
               "状态 IT-12 等待 [说明]", "设置状态：新建、已指派、处理中、等待、已解决、关闭"),
    "comment": ("/ticket comment IT-12 <text>", "add a comment (reaches the requester)",
                "备注 IT-12 <内容>", "添加备注（会转达给提交人）"),
    "resolve": ("/ticket resolve IT-12 <what fixed it>", "resolve and ask the requester",
                "解决 IT-12 <解决方法>", "标记已解决并请提交人确认"),
    "close": ("/ticket close IT-12", "close a ticket", "关闭 IT-12", "关闭工单"),
    "reopen": ("/ticket reopen IT-12 [why]", "reopen a resolved ticket", "重开 IT-12 [原因]", "重新打开工单"),
    "link": ("/ticket link IT-12 duplicate|related IT-3", "link two tickets", "关联 IT-12 重复|相关 IT-3", "关联两个工单"),
    "cancel": ("/ticket cancel IT-12", "cancel your ticket", "取消 IT-12", "取消自己的工单"),
    "rate": ("/ticket rate IT-12 5 [comment]", "rate the help 1–5", "评分 IT-12 5 [评价]", "为服务打分 1–5"),
    "sla": ("/ticket sla IT-12", "explain the SLA clock", "时效 IT-12", "查看 SLA 计时说明"),
    "kb": ("/ticket kb IT-12 | kb publish KB-ID", "turn a solved ticket into an article",
           "知识 IT-12 | 知识 publish KB-ID", "将已解决工单转为知识文章"),
    "role": ("/ticket role grant|revoke platform:user technician|lead|admin", "change roles (admins)",
             "角色 grant|revoke 平台:用户 technician|lead|admin", "修改角色（管理员）"),
    "report": ("/ticket report [sla|mttr|csat|recurring] [days]", "desk reports (leads)",
               "报表 [sla|mttr|csat|recurring] [天数]", "服务台报表（组长）"),
}


def usage(verb: str, lang: str) -> str:
    en_usage, en_desc, zh_usage, zh_desc = COMMANDS[verb]
    if lang == ZH:
        return f"{zh_usage} — {zh_desc}（也可用 {en_usage}）"
    return f"{en_usage} — {en_desc}"


def help_text(lang: str, verb: str | None = None) -> str:
    if verb and verb in COMMANDS:
        head = "用法：" if lang == ZH else "Usage: "
        return head + usage(verb, lang)
    head = "可用命令：" if lang == ZH else "Commands:"
    return "\n".join([head, *(usage(v, lang) for v in COMMANDS)])
