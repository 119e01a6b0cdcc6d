"""Reports: volume, MTTR, SLA compliance (per desk, priority and technician), CSAT and recurring problems."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from statistics import mean, median

from sqlmodel import Session, select

from core.context import Context
from core.db.models import Deflection, Ticket
from core.i18n import ZH
from core.intents import VERBS
from core.settings import Desk


@dataclass
class DeskReport:
    desk: str
    since: str
    until: str
    opened: int = 0
    resolved: int = 0
    open_now: int = 0
    mttr_hours: float | None = None
    median_ttr_hours: float | None = None
    response_met: int = 0
    response_total: int = 0
    resolution_met: int = 0
    resolution_total: int = 0
    csat_average: float | None = None
    csat_satisfied_pct: float | None = None
    ratings: int = 0
    deflected: int = 0
    by_priority: dict[str, dict[str, int]] = field(default_factory=dict)
    by_technician: dict[str, dict[str, int]] = field(default_factory=dict)
    recurring: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_WORD = re.compile(r"[a-z0-9]{3,}|[\u4e00-\u9fff]{2,4}")
_STOP = {"the", "and", "can", "not", "cannot", "with", "my", "for", "please", "help", "有人", "一下", "怎么", "不了"}


def _pct(met: int, total: int) -> str:
    return f"{100 * met / total:.0f}%" if total else "—"


def build(session: Session, desk: Desk, since: datetime, until: datetime) -> DeskReport:
    rows = session.exec(select(Ticket).where(Ticket.desk == desk.name, Ticket.created_at >= since,
                                             Ticket.created_at < until)).all()  # type: ignore[operator]
    report = DeskReport(desk=desk.name, since=since.isoformat(), until=until.isoformat(), opened=len(rows))
    report.open_now = len(session.exec(select(Ticket.id).where(
        Ticket.desk == desk.name, Ticket.status.in_(("new", "assigned", "in_progress", "waiting")))).all())  # type: ignore[attr-defined]
    durations = []
    ratings = []
    words: Counter[str] = Counter()
    for tk in rows:
        prio = report.by_priority.setdefault(tk.priority, {"opened": 0, "met": 0, "breached": 0})
        prio["opened"] += 1
        tech = report.by_technician.setdefault(tk.assignee_name or tk.assignee or "—",
                                               {"tickets": 0, "met": 0, "breached": 0})
        tech["tickets"] += 1
        if tk.resolved_at is not None or tk.closed_at is not None:
            done = tk.resolved_at or tk.closed_at
            report.resolved += 1
            durations.append((done - tk.created_at).total_seconds() / 3600)  # type: ignore[operator]
        if tk.respond_by is not None and tk.first_response_at is not None:
            report.response_total += 1
            report.response_met += tk.first_response_at <= tk.respond_by
        if tk.resolve_by is not None and tk.resolved_at is not None:
            met = tk.resolved_at <= tk.resolve_by
            report.resolution_total += 1
            report.resolution_met += met
            prio["met" if met else "breached"] += 1
            tech["met" if met else "breached"] += 1
        if tk.rating:
            ratings.append(tk.rating)
        words.update({w for w in _WORD.findall(tk.subject.lower()) if w not in _STOP})
    if durations:
        report.mttr_hours = round(mean(durations), 2)
        report.median_ttr_hours = round(median(durations), 2)
    if ratings:
        report.ratings = len(ratings)
        report.csat_average = round(mean(ratings), 2)
        report.csat_satisfied_pct = round(100 * sum(r >= 4 for r in ratings) / len(ratings), 1)
    report.deflected = len(session.exec(select(Deflection.id).where(
        Deflection.desk == desk.name, Deflection.status == "deflected", Deflection.created_at >= since,
        Deflection.created_at < until)).all())  # type: ignore[operator]
    report.recurring = [(w, n) for w, n in words.most_common(5) if n > 1]
    return report


def render(report: DeskReport, lang: str) -> str:
    zh = lang == ZH
    lines = [
        (f"{report.desk} 服务台报表 {report.since[:10]} → {report.until[:10]}" if zh else
         f"{report.desk} desk report {report.since[:10]} → {report.until[:10]}"),
        (f"新建 {report.opened}，已解决 {report.resolved}，当前未关闭 {report.open_now}" if zh else
         f"Opened {report.opened}, resolved {report.resolved}, open now {report.open_now}"),
        (f"平均解决时长（MTTR）：{report.mttr_hours if report.mttr_hours is not None else '—'} 小时" if zh else
         f"MTTR: {report.mttr_hours if report.mttr_hours is not None else '—'} h"),
        (f"SLA 响应达标 {_pct(report.response_met, report.response_total)}，解决达标 "
         f"{_pct(report.resolution_met, report.resolution_total)}" if zh else
         f"SLA response met {_pct(report.response_met, report.response_total)}, resolution met "
         f"{_pct(report.resolution_met, report.resolution_total)}"),
        (f"满意度：{report.csat_average or '—'}/5（{report.ratings} 份评分）" if zh else
         f"CSAT: {report.csat_average or '—'}/5 ({report.ratings} ratings)"),
        (f"知识库自助解决：{report.deflected}" if zh else f"Deflected by knowledge: {report.deflected}"),
    ]
    if report.recurring:
        label = "高频问题：" if zh else "Recurring: "
        lines.append(label + ", ".join(f"{w} ×{n}" for w, n in report.recurring))
    return "\n".join(lines)


def chat_report(ctx: Context, desk: Desk, args: list[str], lang: str) -> str:
    """`/ticket report [sla] [days]`: the desk report, or its SLA compliance, over the last N days."""
    days = next((int(a) for a in args if a.isdigit()), 30)
    since, until = ctx.now - timedelta(days=days), ctx.now + timedelta(seconds=1)
    if any(a.lower() in VERBS["sla"] for a in args):
        return render_sla(sla_report(ctx.session, desk, since, until, now=ctx.now), lang)
    return render(build(ctx.session, desk, since, until), lang)


# ---------------------------------------------------------------- SLA compliance


@dataclass
class SlaCounts:
    """Targets met and missed. An open ticket past its deadline counts as missed (and open overdue)."""

    respond_met: int = 0
    respond_missed: int = 0
    resolve_met: int = 0
    resolve_missed: int = 0
    open_overdue: int = 0

    def add(self, other: SlaCounts) -> None:
        for name in ("respond_met", "respond_missed", "resolve_met", "resolve_missed", "open_overdue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def respond_pct(self) -> float | None:
        total = self.respond_met + self.respond_missed
        return round(100 * self.respond_met / total, 1) if total else None

    @property
    def resolve_pct(self) -> float | None:
        total = self.resolve_met + self.resolve_missed
        return round(100 * self.resolve_met / total, 1) if total else None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "respond_pct": self.respond_pct, "resolve_pct": self.resolve_pct}


@dataclass
class SlaReport:
    """SLA compliance of one desk's tickets opened in [since, until), judged at `at`."""

    desk: str
    since: str
    until: str
    at: str
    total: SlaCounts = field(default_factory=SlaCounts)
    by_priority: dict[str, SlaCounts] = field(default_factory=dict)
    by_technician: dict[str, SlaCounts] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=lambda: {"warn": 0, "breach": 0, "escalate": 0})

    def as_dict(self) -> dict[str, object]:
        return {
            "desk": self.desk, "since": self.since, "until": self.until, "at": self.at,
            "total": self.total.as_dict(),
            "by_priority": {k: v.as_dict() for k, v in sorted(self.by_priority.items())},
            "by_technician": {k: v.as_dict() for k, v in sorted(self.by_technician.items())},
            "alerts": dict(self.alerts),
        }


_OPEN = ("new", "assigned", "in_progress", "waiting")


def ticket_sla(tk: Ticket, now: datetime) -> SlaCounts:
    """How one ticket stands against its stored deadlines at `now` (last SLA cycle for resolution)."""
    c = SlaCounts()
    if tk.respond_by is not None:
        if tk.first_response_at is not None:
            if tk.first_response_at <= tk.respond_by:
                c.respond_met += 1
            else:
                c.respond_missed += 1
        elif tk.status in _OPEN and tk.respond_by <= now and tk.paused_since is None:
            c.respond_missed += 1
    if tk.resolve_by is not None:
        if tk.resolved_at is not None:
            if tk.resolved_at <= tk.resolve_by:
                c.resolve_met += 1
            else:
                c.resolve_missed += 1
        elif tk.status in _OPEN and tk.resolve_by <= now and (
                tk.paused_since is None or tk.paused_since > tk.resolve_by):
            # while waiting on the requester the stored resolve-by is provisional; it only counts
            # when the breach came before the waiting began
            c.resolve_missed += 1
            c.open_overdue += 1
    return c


def sla_report(session: Session, desk: Desk, since: datetime, until: datetime, *, now: datetime) -> SlaReport:
    from core.db.models import SlaAlert

    at = min(now, until)
    report = SlaReport(desk=desk.name, since=since.isoformat(), until=until.isoformat(), at=at.isoformat())
    rows = session.exec(select(Ticket).where(Ticket.desk == desk.name, Ticket.created_at >= since,
                                             Ticket.created_at < until)).all()  # type: ignore[operator]
    for tk in rows:
        counts = ticket_sla(tk, at)
        report.total.add(counts)
        report.by_priority.setdefault(tk.priority, SlaCounts()).add(counts)
        report.by_technician.setdefault(tk.assignee_name or tk.assignee or "", SlaCounts()).add(counts)
    kinds = session.exec(select(SlaAlert.kind).join(Ticket, Ticket.id == SlaAlert.ticket_id).where(  # type: ignore[arg-type]
        Ticket.desk == desk.name, SlaAlert.at >= since, SlaAlert.at < until)).all()  # type: ignore[operator]
    for kind in kinds:
        stage = kind.split("_")[1]
        report.alerts[stage] = report.alerts.get(stage, 0) + 1
    return report


def render_sla(report: SlaReport, lang: str) -> str:
    from core.i18n import t

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}%"

    def line(group: str, c: SlaCounts) -> str:
        return t("report.sla_header", lang, group=group, rmet=c.respond_met, rtotal=c.respond_met + c.respond_missed,
                 rpct=pct(c.respond_pct), smet=c.resolve_met, stotal=c.resolve_met + c.resolve_missed,
                 spct=pct(c.resolve_pct), open_over=c.open_overdue)

    lines = [t("report.sla_title", lang, desk=report.desk, since=report.since[:10], until=report.until[:10]),
             line(t("report.sla_all", lang), report.total)]
    if report.by_priority:
        lines.append(t("report.sla_by_priority", lang))
        lines.extend("  " + line(p, c) for p, c in sorted(report.by_priority.items()))
    if report.by_technician:
        lines.append(t("report.sla_by_technician", lang))
        lines.extend("  " + line(name or t("report.sla_unassigned", lang), c)
                     for name, c in sorted(report.by_technician.items()))
    lines.append(t("report.sla_alerts", lang, warn=report.alerts.get("warn", 0),
                   breach=report.alerts.get("breach", 0), escalate=report.alerts.get("escalate", 0)))
    return "\n".join(lines)
