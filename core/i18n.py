"""User-facing strings in English and Simplified Chinese, and picking the reader's language."""

from __future__ import annotations

import re

EN = "en"
ZH = "zh-CN"
LANGS = (EN, ZH)

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]{2,}")


def detect_lang(text: str, default: str) -> str:
    """The language a person wrote in: any Chinese characters → zh-CN, Latin words → en."""
    stripped = re.sub(r"(/\w+|[A-Z]+-\d+|#\d+|@\S+)", " ", text or "")
    if _CJK.search(stripped):
        return ZH
    if _LATIN.search(stripped):
        return EN
    return default


def norm_lang(lang: str | None, default: str = ZH) -> str:
    if not lang:
        return default
    return ZH if lang.lower().startswith("zh") else EN


STATUS_NAMES = {
    "new": ("New", "新建"),
    "assigned": ("Assigned", "已指派"),
    "in_progress": ("In progress", "处理中"),
    "waiting": ("Waiting on requester", "等待用户回复"),
    "resolved": ("Resolved", "已解决"),
    "closed": ("Closed", "已关闭"),
}

_T: dict[str, tuple[str, str]] = {
    # card labels
    "field.status": ("Status", "状态"),
    "field.priority": ("Priority", "优先级"),
    "field.requester": ("Requester", "提交人"),
    "field.assignee": ("Assignee", "处理人"),
    "field.category": ("Category", "类别"),
    "field.group": ("Group", "支持组"),
    "field.location": ("Location", "地点"),
    "field.rating": ("Rating", "评分"),
    "field.respond_by": ("Respond by", "响应时限"),
    "field.resolve_by": ("Resolve by", "解决时限"),
    "field.suggested": ("Suggested articles", "推荐文章"),
    "field.resolution": ("Resolution", "解决方案"),
    "nobody": ("—", "—"),
    # buttons
    "btn.claim": ("Claim", "认领"),
    "btn.resolve": ("Resolve", "解决"),
    "btn.waiting": ("Ask requester", "等待用户"),
    "btn.reopen": ("Reopen", "重开"),
    "btn.cancel": ("Cancel my request", "撤销工单"),
    "btn.fixed": ("Yes, close", "已解决，关闭"),
    "btn.not_fixed": ("No, reopen", "没解决，重开"),
    "btn.kb_solved": ("This solved it", "问题已解决"),
    "btn.kb_need_help": ("I still need help", "仍需人工帮助"),
    "btn.kb_capture": ("Save as article", "存为知识文章"),
    "btn.kb_publish": ("Publish", "发布"),
    # timeline
    "tl.opened": ("Opened by {who}", "{who} 提交了工单"),
    "tl.opened_api": ("Opened through the API by {who}", "{who} 通过 API 提交了工单"),
    "tl.claimed": ("Claimed by {who}", "{who} 认领了工单"),
    "tl.assigned": ("Assigned to {to} by {who}", "{who} 指派给 {to}"),
    "tl.routed": ("Routed to group {group}", "已分派到支持组 {group}"),
    "tl.auto_assigned": ("Assigned to {to} ({how})", "已自动指派给 {to}（{how}）"),
    "tl.status": ("{who} set the status to {status}", "{who} 将状态改为「{status}」"),
    "tl.priority": ("{who} changed the priority {old} → {new}", "{who} 将优先级由 {old} 改为 {new}"),
    "tl.comment": ("{who}: {text}", "{who}：{text}"),
    "tl.resolved": ("Resolved by {who}: {text}", "{who} 已解决：{text}"),
    "tl.closed": ("Closed by {who}", "{who} 关闭了工单"),
    "tl.auto_closed": ("Closed automatically: no answer to the survey", "用户未回复满意度调查，工单自动关闭"),
    "tl.cancelled": ("Cancelled by {who}", "{who} 取消了工单"),
    "tl.reopened": ("Reopened by {who}: {text}", "{who} 重新打开了工单：{text}"),
    "tl.rated": ("Rated {rating}/5 by {who}", "{who} 评分 {rating}/5"),
    "tl.rating_remark": ("{who} on the rating: {text}", "{who} 的评价：{text}"),
    "tl.linked": ("{who} linked {other} ({relation})", "{who} 关联了 {other}（{relation}）"),
    "tl.first_response": ("First response by {who}", "{who} 首次响应"),
    "tl.suggested": ("Suggested articles: {titles}", "已推荐文章：{titles}"),
    "link.duplicate_of": ("duplicate of", "重复于"),
    "link.related_to": ("related to", "相关"),
    # replies
    "ticket.created": ("Ticket {key} is open. A technician will pick it up soon.",
                       "已为你创建工单 {key}，技术人员会尽快处理。"),
    "ticket.not_found": ("I can't find ticket {ref}. Check the number, e.g. {prefix}-12.",
                         "找不到工单 {ref}，请检查编号，例如 {prefix}-12。"),
    "ticket.need_id": ("Which ticket? Add its number, e.g. `{cmd} IT-12`.",
                       "请带上工单编号，例如 `{cmd} IT-12`。"),
    "ticket.claimed": ("{who} claimed {key}.", "{who} 认领了 {key}。"),
    "ticket.already_claimed": ("{key} is already being handled by {who}.", "{key} 已由 {who} 处理中。"),
    "ticket.assigned": ("{key} is assigned to {to}.", "{key} 已指派给 {to}。"),
    "ticket.assigned_you": ("{who} assigned {key} to you: {subject}", "{who} 将工单 {key} 指派给你：{subject}"),
    "ticket.status_set": ("{key} is now {status}.", "{key} 当前状态：{status}。"),
    "ticket.priority_set": ("{key} priority is now {priority}.", "{key} 的优先级已改为 {priority}。"),
    "ticket.comment_added": ("Comment added to {key}.", "已在 {key} 添加备注。"),
    "ticket.relay_to_requester": ("{who} on {key}: {text}", "{who} 回复了 {key}：{text}"),
    "ticket.relay_to_team": ("{who} replied on {key}: {text}", "{who} 在 {key} 中回复：{text}"),
    "ticket.waiting_note": ("{who} needs more information from you on {key}: {text}",
                            "{who} 需要你补充 {key} 的信息：{text}"),
    "ticket.resolved": ("{key} is resolved.", "{key} 已解决。"),
    "ticket.closed": ("{key} is closed. Thanks!", "{key} 已关闭，谢谢！"),
    "ticket.cancelled": ("{key} is cancelled.", "{key} 已取消。"),
    "ticket.reopened": ("{key} is reopened and back with {who}.", "{key} 已重新打开，转回 {who} 处理。"),
    "ticket.reopened_team": ("{key} was reopened by {who}: {text}", "{key} 被 {who} 重新打开：{text}"),
    "ticket.linked": ("{key} is linked to {other} ({relation}).", "{key} 已关联 {other}（{relation}）。"),
    "ticket.new_in_team": ("New ticket {key} from {who}", "新工单 {key}，提交人 {who}"),
    "ticket.reopen_window": ("{key} was closed more than {days} days ago; please open a new ticket.",
                             "{key} 已关闭超过 {days} 天，请新建工单。"),
    "ticket.thanks_closed": ("Glad it's sorted. {key} is closed.", "很高兴问题已解决，{key} 已关闭。"),
    "ticket.resolved_hint": ("{key} is resolved. If the problem is back, press Reopen or write `/ticket reopen {key}`.",
                             "{key} 已解决。如果问题又出现了，请点「重开」或发送 `/ticket reopen {key}`。"),
    "transition.refused": ("{key} is {status}, so you can't {action} it.", "{key} 当前为「{status}」，无法{action}。"),
    "action.claim": ("claim", "认领"),
    "action.assign": ("assign", "指派"),
    "action.resolve": ("resolve", "解决"),
    "action.close": ("close", "关闭"),
    "action.reopen": ("reopen", "重开"),
    "action.cancel": ("cancel", "取消"),
    "action.status": ("change", "修改"),
    "action.comment": ("comment on", "备注"),
    "action.rate": ("rate", "评分"),
    "action.admin": ("change roles", "修改角色"),
    "action.report": ("see reports", "查看报表"),
    "action.publish": ("publish articles", "发布文章"),
    "perm.refused": ("Sorry, only {roles} can {action}.", "抱歉，只有{roles}可以{action}。"),
    "perm.not_yours": ("Sorry, {key} isn't your ticket.", "抱歉，{key} 不是你的工单。"),
    "role.technician": ("technicians", "技术人员"),
    "role.lead": ("leads", "组长"),
    "role.admin": ("admins", "管理员"),
    "role.granted": ("{who} is now {role} on desk {desk}.", "{who} 已成为 {desk} 服务台的{role}。"),
    "role.revoked": ("{who} is no longer {role} on desk {desk}.", "{who} 已不再是 {desk} 服务台的{role}。"),
    "survey.title": ("Is it fixed? · {key}", "问题解决了吗？· {key}"),
    "survey.body": ("{who} resolved your ticket {key}: {text}\nDid that fix it? Rate the help from 1 to 5.",
                    "{who} 已处理你的工单 {key}：{text}\n问题解决了吗？请为本次服务打分（1–5）。"),
    "survey.thanks": ("Thanks for rating {key} {rating}/5.", "感谢你为 {key} 打分：{rating}/5。"),
    "survey.remark_hint": ("Anything to add? Reply in this thread.", "还有想说的？请在本话题中回复。"),
    "survey.remark_saved": ("Thanks, your comment on {key} is saved.", "谢谢，你对 {key} 的评价已记录。"),
    "ticket.rating_remark_to_team": ("{who} rated {key} {rating}/5: {text}", "{who} 为 {key} 打分 {rating}/5：{text}"),
    "survey.already": ("{key} was already rated.", "{key} 已经评过分了。"),
    "survey.closed_rate": ("{key} is closed. How was the help? Rate 1 to 5.", "{key} 已关闭。请为本次服务打分（1–5）。"),
    "cancel.only_requester": ("Only the person who reported {key} can withdraw it; technicians use /ticket cancel.",
                              "只有 {key} 的报告人可以撤销；技术人员请用 /ticket cancel。"),
    "survey.only_requester": ("Only the person who reported {key} can answer this survey.",
                              "只有 {key} 的提交人可以回答该调查。"),
    "greeting": ("Hi {who}! Tell me what's wrong and I'll open a ticket, or write `/ticket help`.",
                 "你好 {who}！描述一下遇到的问题，我会为你创建工单；也可以发送「帮助」查看命令。"),
    "thanks": ("You're welcome!", "不客气！"),
    "status.none": ("You have no open tickets.", "你目前没有未关闭的工单。"),
    "status.list_title": ("Your open tickets", "你的未关闭工单"),
    "list.title": ("Open tickets", "未关闭的工单"),
    "list.empty": ("No tickets match.", "没有符合条件的工单。"),
    "message.truncated": ("(message shortened to {n} characters)", "（消息过长，已截断为 {n} 个字符）"),
    "empty.message": ("Your message was empty. Tell me what's wrong, or write `/ticket help`.",
                      "消息为空。请描述遇到的问题，或发送「帮助」。"),
    "new.need_text": ("Describe the problem after `new`, e.g. `/ticket new VPN keeps disconnecting`.",
                      "请在「新建」后描述问题，例如「新建 VPN 经常断线」。"),
    "kb.suggest_title": ("These articles may help", "以下文章可能有帮助"),
    "kb.suggest_body": ("Did one of these solve it? If not, I'll open a ticket.",
                        "这些能解决你的问题吗？如果不能，我会为你创建工单。"),
    "kb.deflected": ("Great, glad that helped! No ticket needed.", "太好了，问题已解决，无需创建工单。"),
    "kb.already_decided": ("That question was already answered.", "这个问题已经处理过了。"),
    "kb.captured": ("Draft article {id} from {key}. Check it, then press Publish or write `/ticket kb publish {id}` "
                    "(technicians and leads).",
                    "已根据 {key} 生成草稿文章 {id}。请先检查内容，再点“发布”或发送 `/ticket kb publish {id}`（技术人员和组长）。"),
    "kb.published": ("Article {id} is published and searchable now.", "文章 {id} 已发布，可立即被搜索到。"),
    "kb.not_found": ("Article {id} was not found.", "找不到文章 {id}。"),
    "kb.need_resolved": ("Only resolved or closed tickets can become articles.", "只有已解决或已关闭的工单可以转为文章。"),
    "kb.feedback": ("Thanks for the feedback.", "感谢你的反馈。"),
    "kb.not_yours": ("Only the person who asked can answer these suggestions.", "只有提问人本人可以对这些推荐作出选择。"),
    "stale.action": ("That button is out of date; here is the current state of {key}. Now: {status}, assignee {who}.",
                     "该按钮已过期，以下是 {key} 的最新状态。当前：{status}，处理人 {who}。"),
    "unknown.action": ("That button is no longer supported.", "该按钮已失效。"),
    "error.not_taken": ("Sorry, I couldn't take that message just now. Please send it again in a minute.",
                        "抱歉，刚才没能收下这条消息，请过一会儿再发一次。"),
    "error.internal": ("Sorry, something went wrong handling that. The desk team has been told.",
                       "抱歉，处理时出错了，已通知服务台。"),
    "welcome": ("Hi! I'm the {desk} service desk bot. @mention me with a problem to open a ticket, or write `/ticket help`.",
                "大家好！我是 {desk} 服务台机器人。@我 描述问题即可创建工单，发送「帮助」查看命令。"),
    "form.subject_required": ("The subject is required.", "标题为必填项。"),
    "rate.bad": ("Ratings go from 1 to 5.", "评分范围为 1 到 5。"),
    "priority.bad": ("Priority must be P0, P1, P2 or P3.", "优先级必须是 P0、P1、P2 或 P3。"),
    "status.bad": ("Unknown status {status}. Use one of: {choices}.", "未知状态 {status}，可选：{choices}。"),
    "assign.bad": ("Assign to whom? Write `/ticket assign IT-12 platform:user_id` or @mention them.",
                   "请指明处理人，例如「指派 IT-12 @张三」。"),
    "link.bad": ("Write `/ticket link IT-12 duplicate IT-3` or `related`.", "用法：「关联 IT-12 重复 IT-3」或「相关」。"),
    "role.bad": ("Write `/ticket role grant|revoke platform:user_id technician|lead|admin`.",
                 "用法：`/ticket role grant|revoke 平台:用户ID technician|lead|admin`。"),
    # SLA: card, alerts, timeline, report
    "sla.left": ("{left} left", "剩余 {left}"),
    "sla.no_target": ("{key} has no SLA target: this desk's policy lists none for {priority}.",
                      "{key} 没有 SLA 时限：本服务台的策略未设置 {priority} 的目标。"),
    "sla.overdue": ("overdue {over}", "已超时 {over}"),
    "sla.paused": ("paused, waiting on requester", "已暂停（等待用户回复）"),
    "sla.target.respond": ("first response", "首次响应"),
    "sla.target.resolve": ("resolution", "解决"),
    "sla.alert.warn_title": ("⏰ SLA due soon · {key}", "⏰ SLA 即将到期 · {key}"),
    "sla.alert.warn": ("{key} ({priority}) {target} is due {due}: {left} left. {subject}",
                       "{key}（{priority}）{target}时限为 {due}，剩余 {left}。{subject}"),
    "sla.alert.breach_title": ("🔴 SLA breached · {key}", "🔴 SLA 已超时 · {key}"),
    "sla.alert.breach": ("{key} ({priority}) missed its {target} target, due {due}. {subject}",
                         "{key}（{priority}）{target}已超时，时限为 {due}。{subject}"),
    "sla.alert.escalate_title": ("🔺 SLA escalation level {level} · {key}", "🔺 SLA 升级（第 {level} 级）· {key}"),
    "sla.alert.escalate": ("{key} ({priority}) is overdue for {target} since {due} ({over}). Assignee: {who}. "
                           "{subject}",
                           "{key}（{priority}）{target}自 {due} 起超时（{over}）。处理人：{who}。{subject}"),
    "tl.sla_warn": ("SLA: {target} due soon", "SLA：{target}即将到期"),
    "tl.sla_breach": ("SLA: {target} target missed", "SLA：{target}已超时"),
    "tl.sla_escalate": ("SLA: escalated (level {level}, {target})", "SLA：已升级（第 {level} 级，{target}）"),
    "report.sla_title": ("SLA compliance {desk} {since} → {until}", "{desk} SLA 达标情况 {since} → {until}"),
    "report.sla_header": ("{group}: response met {rmet}/{rtotal} ({rpct}), resolution met {smet}/{stotal} ({spct}), "
                          "open overdue {open_over}",
                          "{group}：响应达标 {rmet}/{rtotal}（{rpct}），解决达标 {smet}/{stotal}（{spct}），"
                          "未关闭且已超时 {open_over}"),
    "report.sla_all": ("All", "全部"),
    "report.sla_by_priority": ("By priority", "按优先级"),
    "report.sla_by_technician": ("By technician", "按技术人员"),
    "report.sla_alerts": ("Alerts sent: {warn} warnings, {breach} breaches, {escalate} escalations",
                          "已发送提醒：预警 {warn} 次，超时 {breach} 次，升级 {escalate} 次"),
    "report.sla_unassigned": ("(unassigned)", "（未指派）"),
}


def t(key: str, lang: str, /, **kw: object) -> str:
    en, zh = _T[key]
    text = zh if lang == ZH else en
    return text.format(**{k: localise(v, lang) for k, v in kw.items()}) if kw else text


def localise(value: object, lang: str) -> object:
    """Arguments written "@status.new" or "@action.claim" are translated for the reader too."""
    if not isinstance(value, str) or not value.startswith("@"):  # nearly every argument: said as it is
        return value
    if value.startswith("@status."):
        return status_name(value[len("@status."):], lang)
    return t(value[1:], lang) if value[1:] in _T else value


def status_name(status: str, lang: str) -> str:
    en, zh = STATUS_NAMES.get(status, (status, status))
    return zh if lang == ZH else en


def has(key: str) -> bool:
    return key in _T
