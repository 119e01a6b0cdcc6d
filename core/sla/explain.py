"""Plain-text explanation of a ticket's SLA clock for `/ticket sla IT-12`, in English or Simplified Chinese."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from core.sla.calendar import BusinessCalendar
from core.sla.durations import SlaDuration
from core.sla.policy import SlaClock, SlaTimer

EN, ZH = "en", "zh-CN"
_Tr = Callable[..., str]

_T: dict[str, tuple[str, str]] = {
    "title": ("SLA clock for {key} ({priority})", "{key} 的 SLA 计时（{priority}）"),
    "calendar": ("Calendar: {tz}; working hours {hours}; days off: {weekend}{statutory}{extra}.",
                 "日历：{tz}；工作时间 {hours}；休息日：{weekend}{statutory}{extra}。"),
    "statutory": (", Chinese statutory holidays (make-up working days count as working days)",
                  "、中国法定节假日（调休上班日按工作日计）"),
    "extra_holidays": ("; extra holidays {days}", "；另有假日 {days}"),
    "extra_workdays": ("; extra working days {days}", "；另有工作日 {days}"),
    "respond": ("First response", "首次响应"),
    "resolve": ("Resolution", "解决"),
    "line": ("{name}: target {target}; due {due}; {state}.", "{name}：目标 {target}；截止 {due}；{state}。"),
    "business": ("{d} of working time", "{d}工作时间"),
    "around": ("{d} around the clock", "{d}（全天候计时）"),
    "bd": ("{n} business day{s} = {d} of working time", "{n} 个工作日（合计 {d}工作时间）"),
    "days": ("{n} calendar day{s} around the clock", "{n} 个自然日（全天候计时）"),
    "state.met": ("met at {at}", "已于 {at}达成"),
    "state.missed": ("missed: done at {at}, {over} late", "未达成：{at} 完成，超时 {over}"),
    "state.breached": ("overdue by {over}", "已超时 {over}"),
    "state.running": ("{left} left", "剩余 {left}"),
    "state.warning": ("{left} left, due soon", "剩余 {left}，即将到期"),
    "state.paused": ("{left} left, clock paused", "剩余 {left}，计时已暂停"),
    "paused_none": ("Waiting on the requester: no paused time.", "等待请求人：无暂停时间。"),
    "paused_total": ("Waiting on the requester: paused {d} so far.", "等待请求人：累计暂停 {d}。"),
    "paused_now": (" Paused now, since {since}; the clock resumes when the requester answers.",
                   "自 {since}起暂停中，请求人回复后恢复计时。"),
    "no_pause": ("Waiting on the requester does not stop the clock on this desk.",
                 "本服务台等待请求人期间不暂停计时。"),
    "unknown_year": ("Note: no statutory holiday data for {years}; only weekends count as days off there.",
                     "注意：缺少 {years} 年的法定节假日数据，这些年份仅按周末休息计算。"),
    "times_in": ("Times are in {tz}.", "以上时间均为 {tz} 时区。"),
    "none": ("none", "无"),
    "restarted": ("Reopened: the resolution clock restarted at {at} (cycle {cycle}); first response counts from "
                  "the original request.",
                  "已重开：解决计时自 {at} 重新开始（第 {cycle} 轮）；首次响应按最初提交计算。"),
}

_WEEKDAYS = (("Mon", "周一"), ("Tue", "周二"), ("Wed", "周三"), ("Thu", "周四"), ("Fri", "周五"),
             ("Sat", "周六"), ("Sun", "周日"))
_UNITS = {EN: ("d", "h", "m", "less than a minute"), ZH: ("天", "小时", "分钟", "不到1分钟")}
_MAX_LISTED_DAYS = 5


def explain_clock(
    *, key: str, clock: SlaClock, calendar: BusinessCalendar, lang: str = ZH,
    restarted_at: datetime | None = None, cycle: int = 0,
) -> str:
    """The reply to `/ticket sla IT-12`: targets, calendar used, paused time, deadlines and time left.

    `restarted_at` / `cycle`: when the ticket was reopened, the moment its resolution clock restarted.
    """
    lang = ZH if lang.lower().startswith("zh") else EN

    def t(msg: str, /, **kw: object) -> str:
        en, zh = _T[msg]
        return (zh if lang == ZH else en).format(**kw)

    lines = [t("title", key=key, priority=clock.priority), _calendar_line(calendar, lang, t)]
    if restarted_at is not None and cycle:
        lines.append(t("restarted", at=_at(restarted_at, calendar, lang), cycle=cycle + 1))
    for timer in clock.timers:
        lines.append(t(
            "line", name=t(timer.name), target=_target(timer, calendar, lang, t),
            due=_at(timer.due_at, calendar, lang), state=_state(timer, calendar, lang, t),
        ))
    if not clock.pause_when_waiting:
        lines.append(t("no_pause"))
    else:
        paused = clock.resolve.paused_seconds
        text = t("paused_total", d=_amount(paused, clock.resolve.business, lang, t)) if paused else t("paused_none")
        if clock.paused and clock.paused_since is not None:
            text += t("paused_now", since=_at(clock.paused_since, calendar, lang))
        lines.append(text)
    years = sorted({
        d.astimezone(calendar.tz).year
        for d in (clock.now, clock.respond.due_at, clock.resolve.due_at)
    })
    unknown = [str(y) for y in years if not calendar.statutory_known(y)]
    if unknown:
        lines.append(t("unknown_year", years=", ".join(unknown) if lang == EN else "、".join(unknown)))
    lines.append(t("times_in", tz=calendar.timezone))
    return "\n".join(lines)


def _calendar_line(calendar: BusinessCalendar, lang: str, t: _Tr) -> str:
    sep = ", " if lang == EN else "、"
    hours = sep.join(
        f"{s.strftime('%H:%M')}–{'24:00' if e is None else e.strftime('%H:%M')}" for s, e in calendar.periods
    )
    idx = 1 if lang == ZH else 0
    weekend = sep.join(_WEEKDAYS[d][idx] for d in sorted(calendar.weekend))
    extra = ""
    if calendar.extra_holidays:
        extra += t("extra_holidays", days=_days(calendar.extra_holidays, sep))
    if calendar.extra_workdays:
        extra += t("extra_workdays", days=_days(calendar.extra_workdays, sep))
    return t(
        "calendar", tz=calendar.timezone, hours=hours, weekend=weekend or t("none"),
        statutory=t("statutory") if calendar.cn_statutory else "", extra=extra,
    )


def _days(days: frozenset[date], sep: str) -> str:
    listed = sorted(days)
    text = sep.join(d.isoformat() for d in listed[:_MAX_LISTED_DAYS])
    if len(listed) > _MAX_LISTED_DAYS:
        text += f"{sep}+{len(listed) - _MAX_LISTED_DAYS}"
    return text


def _target(timer: SlaTimer, calendar: BusinessCalendar, lang: str, t: _Tr) -> str:
    d: SlaDuration = timer.target
    amount = d.text[: -len(d.unit)]
    if d.unit == "bd":
        plural = "" if amount == "1" else "s"
        return t("bd", n=amount, s=plural, d=_span(timer.target_seconds, lang, days=False))
    if d.unit == "d":
        return t("days", n=amount, s="" if amount == "1" else "s")
    return _amount(timer.target_seconds, timer.business, lang, t)


def _amount(seconds: float, business: bool, lang: str, t: _Tr) -> str:
    # A "day" of working time is ambiguous, so working time is told in hours and minutes only.
    return t("business" if business else "around", d=_span(seconds, lang, days=not business))


def _state(timer: SlaTimer, calendar: BusinessCalendar, lang: str, t: _Tr) -> str:
    state = timer.state
    over = _amount(-timer.left_seconds, timer.business, lang, t)
    left = _amount(timer.left_seconds, timer.business, lang, t)
    if state in ("met", "missed"):
        assert timer.stopped_at is not None
        return t(f"state.{state}", at=_at(timer.stopped_at, calendar, lang), over=over)
    return t(f"state.{state}", left=left, over=over)


def span(seconds: float, lang: str, *, days: bool) -> str:
    """A length of time for people: "3h 20m" / "3小时20分钟"; with `days`, whole days first."""
    return _span(seconds, EN if not lang.lower().startswith("zh") else ZH, days=days)


def _span(seconds: float, lang: str, *, days: bool) -> str:
    d_unit, h_unit, m_unit, tiny = _UNITS[lang]
    minutes = int(max(seconds, 0) // 60)
    if minutes == 0:
        return tiny
    d, rest = divmod(minutes, 1440) if days else (0, minutes)
    h, m = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((d, d_unit), (h, h_unit), (m, m_unit)) if n]
    return (" " if lang == EN else "").join(parts)


def _at(moment: datetime, calendar: BusinessCalendar, lang: str) -> str:
    local = moment.astimezone(calendar.tz)
    wd = _WEEKDAYS[local.weekday()][1 if lang == ZH else 0]
    stamp = local.strftime("%Y-%m-%d %H:%M")
    return f"{stamp}（{wd}）" if lang == ZH else f"{stamp} ({wd})"
