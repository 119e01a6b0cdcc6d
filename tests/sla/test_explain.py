"""`/ticket sla IT-12`: the clock explained in English and Simplified Chinese."""

from __future__ import annotations

import string

from core.settings import Calendar, SlaPolicy
from core.sla import explain
from core.sla.calendar import BusinessCalendar
from core.sla.explain import explain_clock
from core.sla.policy import compute_clock
from tests.sla.helpers import cst

CAL = BusinessCalendar.from_settings(Calendar(holidays=["2025-12-24"]))


def _clock(**kw):
    base = dict(policy=SlaPolicy(), calendar=CAL, priority="P2", created_at=cst(2025, 9, 30, 16))
    base.update(kw)
    return compute_clock(**base)


def test_paused_ticket_in_english() -> None:
    c = _clock(
        now=cst(2025, 10, 9, 15),
        pauses=[(cst(2025, 10, 9, 10), cst(2025, 10, 9, 11)), (cst(2025, 10, 9, 14), None)],
        first_response_at=cst(2025, 10, 9, 10, 12),
    )
    text = explain_clock(key="IT-12", clock=c, calendar=CAL, lang="en")
    lines = text.splitlines()
    assert lines[0] == "SLA clock for IT-12 (P2)"
    assert "Asia/Shanghai" in lines[1] and "09:00–12:00, 13:30–18:00" in lines[1]
    assert "Chinese statutory holidays" in lines[1] and "2025-12-24" in lines[1]
    assert lines[2].startswith("First response: target 4h of working time;")
    assert "met at 2025-10-09 10:12 (Thu)" in lines[2]
    # 3bd, due on the make-up Saturday after National Day (pause until now counted)
    assert lines[3] == (
        "Resolution: target 3 business days = 22h 30m of working time; due 2025-10-11 18:00 (Sat); "
        "18h of working time left, clock paused."
    )
    assert "paused 2h of working time so far" in lines[4]
    assert "since 2025-10-09 14:00 (Thu)" in lines[4]
    assert lines[-1] == "Times are in Asia/Shanghai."


def test_breached_ticket_in_chinese() -> None:
    c = _clock(now=cst(2025, 10, 10, 10))
    text = explain_clock(key="IT-12", clock=c, calendar=CAL, lang="zh-CN")
    assert text.splitlines()[0] == "IT-12 的 SLA 计时（P2）"
    assert "首次响应：目标 4小时工作时间；截止 2025-10-09 11:00（周四）；已超时 6小时30分钟工作时间。" in text
    assert "剩余" in text and "等待请求人：无暂停时间。" in text
    assert "以上时间均为 Asia/Shanghai 时区。" in text


def test_missed_and_around_the_clock() -> None:
    c = _clock(priority="P0", now=cst(2025, 10, 1, 20), first_response_at=cst(2025, 9, 30, 16, 45),
               resolved_at=cst(2025, 9, 30, 19))
    en = explain_clock(key="IT-7", clock=c, calendar=CAL, lang="en")
    assert "target 15m around the clock" in en
    assert "missed: done at 2025-09-30 16:45 (Tue), 30m around the clock late" in en
    assert "met at 2025-09-30 19:00 (Tue)" in en
    zh = explain_clock(key="IT-7", clock=c, calendar=CAL, lang="zh")
    assert "15分钟（全天候计时）" in zh and "未达成" in zh


def test_unknown_statutory_year_is_mentioned() -> None:
    c = _clock(priority="P3", created_at=cst(2026, 12, 30, 16), now=cst(2027, 1, 4, 9))
    assert "no statutory holiday data for 2027" in explain_clock(key="IT-1", clock=c, calendar=CAL, lang="en")
    assert "缺少 2027 年的法定节假日数据" in explain_clock(key="IT-1", clock=c, calendar=CAL, lang="zh-CN")


def test_desk_that_does_not_pause() -> None:
    c = _clock(policy=SlaPolicy(pause_when_waiting=False), now=cst(2025, 10, 9, 9))
    assert "does not stop the clock" in explain_clock(key="IT-3", clock=c, calendar=CAL, lang="en")
    assert "不暂停计时" in explain_clock(key="IT-3", clock=c, calendar=CAL, lang="zh-CN")


def test_calendar_without_statutory_days_does_not_claim_them() -> None:
    cal = BusinessCalendar(cn_statutory=False, timezone="Europe/Berlin", weekend=[6])
    c = compute_clock(policy=SlaPolicy(), calendar=cal, priority="P2", created_at=cst(2025, 11, 3, 10),
                      now=cst(2025, 11, 3, 10))
    text = explain_clock(key="IT-4", clock=c, calendar=cal, lang="en")
    assert "statutory" not in text and "days off: Sun." in text


def test_every_string_exists_in_both_languages_with_the_same_fields() -> None:
    def fields(text: str) -> set[str]:
        # {s} is the English plural ending; Chinese has none.
        return {f for _, f, _, _ in string.Formatter().parse(text) if f} - {"s"}

    for key, (en, zh) in explain._T.items():
        assert en and zh, key
        assert fields(en) == fields(zh), key
