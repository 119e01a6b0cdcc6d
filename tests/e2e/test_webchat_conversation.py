"""Web chat end to end: people in headless Chromium talk to the real desk (app, core, outbox, database)."""

from __future__ import annotations

import json

import pytest

from tests.browser import screenshot
from tests.e2e.support import LiveDesk, People, browser_marks

pytestmark = [
    *browser_marks(),
    # the browser exercises the web chat, not the database: run on SQLite only
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


def test_employee_reports_technician_claims_and_resolves_employee_rates(live_desk: LiveDesk,
                                                                        people: People) -> None:
    from playwright.sync_api import expect

    employee = people.join("Li Lei")
    expect(employee.page.locator("#me")).to_have_text("Li Lei · Employee")
    expect(employee.page.locator(".room-tab[aria-current=true]")).to_have_text("# it-help")

    # the employee reports in #it-help; the bot answers in the thread with the ticket card
    employee.say("VPN 连不上了")
    ticket_message = employee.page.locator(".thread .msg.from-bot", has_text="IT-1 · VPN 连不上了")
    ticket_card = ticket_message.locator(".card")
    expect(ticket_card.locator(".card-title")).to_have_text("IT-1 · VPN 连不上了")
    expect(ticket_card.locator(".field", has_text="状态").locator("dd")).to_have_text("新建")
    card_id = ticket_message.get_attribute("data-id")
    screenshot(employee.page, "e2e-webchat-1-employee-reported")

    # the technician sees the new ticket in #it-team and claims it
    tech = people.join("Wang Fang", "technician")
    tech.room("it-team")
    team_card = tech.page.locator(".card", has_text="IT-1 · VPN 连不上了")
    expect(team_card.locator(".field", has_text="Status").locator("dd")).to_have_text("New")
    screenshot(tech.page, "e2e-webchat-2-technician-sees-ticket")
    team_card.get_by_role("button", name="Claim").click()
    expect(team_card.locator(".field", has_text="Assignee").locator("dd")).to_have_text("Wang Fang")

    # the card in the group room changes in place: same message, in progress, the technician's name
    expect(ticket_card.locator(".field", has_text="状态").locator("dd")).to_have_text("处理中")
    expect(ticket_card.locator(".field", has_text="处理人").locator("dd")).to_have_text("Wang Fang")
    expect(employee.page.locator(".thread .card", has_text="IT-1 ·")).to_have_count(1)
    assert ticket_message.get_attribute("data-id") == card_id
    screenshot(employee.page, "e2e-webchat-3-card-in-progress")

    # the technician resolves with a note from the team room
    tech.say("/ticket resolve IT-1 重置了 VPN 配置")
    # the note is in Chinese, so the answer to the command is too
    expect(tech.page.locator(".msg.private .text", has_text="IT-1 已解决。")).to_be_visible()
    expect(team_card.locator(".field", has_text="Status").locator("dd")).to_have_text("Resolved")
    screenshot(tech.page, "e2e-webchat-4-technician-resolved")

    # the employee is asked "Is it fixed?" in the thread, mentioned by name, and rates 5
    survey = employee.page.locator(".thread .card", has_text="问题解决了吗？")
    expect(survey.locator(".card-title")).to_have_text("问题解决了吗？· IT-1")
    expect(survey.locator(".mention")).to_have_text("@Li Lei")
    expect(survey.locator(".card-body")).to_contain_text("重置了 VPN 配置")
    screenshot(employee.page, "e2e-webchat-5-survey")
    survey.get_by_role("button", name="5", exact=True).click()
    expect(survey.locator(".card-body")).to_have_text("感谢你为 IT-1 打分：5/5。 还有想说的？请在本话题中回复。")
    expect(survey.get_by_role("button")).to_have_count(0)
    expect(ticket_card.locator(".field", has_text="状态").locator("dd")).to_have_text("已关闭")
    expect(ticket_card.locator(".field", has_text="评分").locator("dd")).to_have_text("★★★★★ 5/5")
    screenshot(employee.page, "e2e-webchat-6-rated")

    # a reply in the thread becomes the rating's comment, shown on the survey card and told to the team
    employee.page.locator(".entry > .msg .footer").first.get_by_role("button", name="Reply").click()
    employee.say("修得很快，谢谢")
    expect(survey.locator(".card-body")).to_have_text("感谢你为 IT-1 打分：5/5。\n“修得很快，谢谢”")
    expect(tech.page.locator(".msg.from-bot .text", has_text="修得很快")).to_contain_text("Li Lei")

    # the database agrees, as an admin sees it from the command line
    result = live_desk.cli("tickets", "show", "IT-1", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["status"], shown["rating"], shown["rating_comment"]) == ("closed", 5, "修得很快，谢谢")
    assert (shown["requester"], shown["assignee"]) == ("webchat:li-lei", "webchat:wang-fang")
    assert [e["kind"] for e in shown["timeline"]] == ["opened", "claimed", "resolved", "rated", "closed", "rated"]
    assert "重置了 VPN 配置" in shown["timeline"][2]["text"]
    assert employee.problems == [] and tech.problems == []


HTML_REPORT = '<b>x</b> 打印机坏了 <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def test_html_in_a_message_is_shown_as_text_in_the_message_and_the_ticket_card(live_desk: LiveDesk,
                                                                                people: People) -> None:
    from playwright.sync_api import expect

    employee = people.join("Li Lei")
    employee.say(HTML_REPORT)
    subject = HTML_REPORT.splitlines()[0][:80]
    expect(employee.page.locator(".entry > .msg .text")).to_have_text(HTML_REPORT)
    title = employee.page.locator(".thread .card .card-title")
    expect(title).to_have_text(f"IT-1 · {subject}")
    assert title.inner_html().startswith("IT-1 · &lt;b&gt;x&lt;/b&gt;")

    tech = people.join("Wang Fang", "technician")
    tech.room("it-team")
    expect(tech.page.locator(".card .card-title")).to_have_text(f"IT-1 · {subject}")
    screenshot(employee.page, "e2e-webchat-7-html-as-text")

    for person in (employee, tech):
        assert person.page.locator(".messages b, .messages img, .messages script").count() == 0
        assert person.page.evaluate("window.pwned") is None
        assert person.problems == []
    # core stored the text as written: it is the page that must never treat it as markup
    assert live_desk.api("/tickets/IT-1")["subject"] == subject


def test_bad_input_empty_long_and_a_stale_button(live_desk: LiveDesk, people: People) -> None:
    from playwright.sync_api import expect

    employee = people.join("Li Lei")

    # an empty message is refused by the page ...
    employee.say("   \n  ")
    expect(employee.page.locator("#composer-error")).to_have_text("Type a message first.")
    # ... and by the server, for a page that sends one anyway; nothing reaches the desk
    assert _raw_frame(live_desk, {"type": "message", "room": "it-help", "text": " \n\t "}) == {
        "type": "error", "ref": "raw-1", "code": "empty_message", "params": {}}
    assert live_desk.stored_events() == 0

    # a 10,000-character message is accepted, cut to 4000 with a note, and becomes a ticket
    # words, not one long run: core masks long opaque runs as pasted secrets
    filler = "The paper tray jams after two pages. https://print.example.com/queue/floor-3/jobs?page=2 "
    long_text = "Printer on floor 3 jams\n" + (filler * 200)[: 10_000 - 24]
    assert len(long_text) == 10_000
    employee.say(long_text)
    message = employee.page.locator(".entry > .msg", has_text="Printer on floor 3 jams")
    expect(message.locator(".note")).to_have_text("Shortened to 4000 characters")
    expect(message.locator(".text")).to_have_class("text clamped")
    expect(employee.page.locator("#composer-error")).to_be_hidden()
    card = employee.page.locator(".thread .card")
    expect(card.locator(".card-title")).to_have_text("IT-1 · Printer on floor 3 jams")
    assert len(card.locator(".card-body").inner_text()) <= 600
    screenshot(employee.page, "e2e-webchat-8-long-message")
    message.get_by_role("button", name="Show all").click()
    expect(message.locator(".text")).to_have_class("text")
    expect(message.get_by_role("button", name="Show less")).to_be_visible()
    assert len(message.locator(".text").inner_text()) == 4000
    ticket = live_desk.api("/tickets/IT-1")
    assert ticket["description"] == long_text[:4000]

    # a technician whose page missed the card's update clicks its stale Claim button
    missing = {"updates": True}
    wang = people.join("Wang Fang", "technician",
                       deliver=lambda frame: not (missing["updates"] and frame.get("type") == "update"))
    wang.room("it-team")
    zhao = people.join("Zhao Min", "technician")
    zhao.room("it-team")
    zhao.page.locator(".card").get_by_role("button", name="Claim").click()
    expect(zhao.page.locator(".card .field", has_text="Assignee").locator("dd")).to_have_text("Zhao Min")
    stale = wang.page.locator(".card")
    expect(stale.locator(".field", has_text="Status").locator("dd")).to_have_text("New")

    missing["updates"] = False
    stale.get_by_role("button", name="Claim").click()
    expect(wang.page.locator(".msg.private .text")).to_have_text(
        "That button is out of date; here is the current state of IT-1. Now: In progress, assignee Zhao Min.")
    expect(stale.locator(".field", has_text="Status").locator("dd")).to_have_text("In progress")
    expect(stale.locator(".field", has_text="Assignee").locator("dd")).to_have_text("Zhao Min")
    expect(stale.get_by_role("button", name="Claim")).to_have_count(0)
    screenshot(wang.page, "e2e-webchat-9-stale-claim")

    # the stale click changed nothing
    ticket = live_desk.api("/tickets/IT-1")
    assert (ticket["status"], ticket["assignee"]) == ("in_progress", "webchat:zhao-min")
    assert [e["kind"] for e in ticket["timeline"]] == ["opened", "claimed"]
    assert employee.problems == [] and wang.problems == [] and zhao.problems == []


def test_switching_to_chinese_changes_the_page_and_the_desk_answers_in_chinese(live_desk: LiveDesk,
                                                                               people: People) -> None:
    from playwright.sync_api import expect

    employee = people.join("Li Lei", viewport=(390, 780))
    page = employee.page
    expect(page.locator("#send")).to_have_text("Send")
    page.click("#lang-toggle")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#send")).to_have_text("发送")
    expect(page.locator("#me")).to_have_text("Li Lei · 员工")
    expect(page.locator("#lang-toggle")).to_have_text("English")
    expect(page.locator("#text")).to_have_attribute("placeholder", "输入消息 — @deskbot 提问，/ticket 使用命令")
    expect(page.locator(".room-tab[data-room^='dm:']")).to_have_attribute("title", "私聊")

    # a message with no words of its own is answered in the page's language
    employee.say("@deskbot")
    expect(page.locator(".thread .msg.from-bot .text")).to_have_text("消息为空。请描述遇到的问题，或发送「帮助」。")
    employee.say("打印机卡纸了")
    card = page.locator(".thread .card", has_text="IT-1")
    expect(card.locator(".card-title")).to_have_text("IT-1 · 打印机卡纸了")
    expect(card.get_by_role("button")).to_have_text(["认领", "解决"])
    screenshot(page, "e2e-webchat-10-narrow-chinese")

    page.reload()
    expect(page.locator("#send")).to_have_text("发送")
    expect(page.locator("#status")).to_have_text("已连接")
    assert employee.problems == []


def test_thread_replies_travel_between_the_requester_and_the_team(live_desk: LiveDesk, people: People) -> None:
    from playwright.sync_api import expect

    employee = people.employee_reports("Outlook keeps asking for my password")
    tech = people.join("Wang Fang", "technician")
    tech.room("it-team")

    # the technician answers under the ticket card in the team room; the employee is told in their thread
    tech.page.locator(".entry", has_text="IT-1").locator(".footer").first.get_by_role("button", name="Reply").click()
    expect(tech.page.locator("#thread-banner")).to_be_visible()
    tech.say("Please sign out of Outlook and in again")
    relayed = employee.page.locator(".thread .msg.from-bot .text", has_text="Please sign out")
    expect(relayed).to_have_text("@Li Lei Wang Fang on IT-1: Please sign out of Outlook and in again")

    # the employee answers in their own thread; the team sees it under the card
    employee.page.locator(".entry > .msg .footer").first.get_by_role("button", name="Reply").click()
    employee.say("Still asking")
    expect(tech.page.locator(".thread .msg.from-bot .text", has_text="Still asking")).to_have_text(
        "Li Lei replied on IT-1: Still asking")
    screenshot(tech.page, "e2e-webchat-11-thread-relay")
    kinds = [e["kind"] for e in live_desk.api("/tickets/IT-1")["timeline"]]
    assert kinds == ["opened", "comment", "relay"]
    assert employee.problems == [] and tech.problems == []


def test_a_lead_assigns_a_ticket_and_the_technician_gets_a_direct_message(live_desk: LiveDesk,
                                                                         people: People) -> None:
    from playwright.sync_api import expect

    employee = people.employee_reports("Monitor flickers")
    tech = people.join("Wang Fang", "technician")
    lead = people.join("Zhao Min", "lead")
    lead.room("it-team")
    lead.say("/ticket assign IT-1 webchat:wang-fang")
    expect(lead.page.locator(".msg.private .text", has_text="assigned")).to_have_text(
        "IT-1 is assigned to wang-fang.")

    # core writes to "@wang-fang": the technician's direct room with the bot, flagged as unread
    dm = tech.page.locator(".room-tab[data-room='dm:wang-fang']")
    expect(dm.locator(".badge")).to_have_text("1")
    dm.click()
    expect(tech.page.locator(".msg.from-bot .text")).to_have_text(
        "Zhao Min assigned IT-1 to you: Monitor flickers")
    screenshot(tech.page, "e2e-webchat-12-assigned-dm")
    assert live_desk.api("/tickets/IT-1")["assignee"] == "webchat:wang-fang"
    assert employee.problems == [] and tech.problems == [] and lead.problems == []


def test_claiming_an_already_claimed_ticket_by_command_is_refused_clearly(live_desk: LiveDesk,
                                                                         people: People) -> None:
    from playwright.sync_api import expect

    people.employee_reports("Keyboard missing keys")
    wang = people.join("Wang Fang", "technician")
    wang.room("it-team")
    wang.page.locator(".card").get_by_role("button", name="Claim").click()
    expect(wang.page.locator(".card .field", has_text="Assignee").locator("dd")).to_have_text("Wang Fang")

    zhao = people.join("Zhao Min", "lead")
    zhao.room("it-team")
    zhao.say("/ticket claim IT-1")
    answer = zhao.page.locator(".msg.private.from-bot .text")
    expect(answer).to_have_count(1)
    assert answer.inner_text() == "IT-1 is already being handled by Wang Fang."
    assert live_desk.api("/tickets/IT-1")["assignee"] == "webchat:wang-fang"


def test_an_sla_breach_reaches_the_team_room_and_the_card_without_a_reload(live_desk: LiveDesk,
                                                                           people: People) -> None:
    from datetime import timedelta

    from playwright.sync_api import expect
    from sqlmodel import col, update

    from core.context import Context
    from core.db.models import OutboxMessage
    from core.sla.display import calendar_for
    from core.sla.engine import sla_sweep

    people.employee_reports("Printer on floor 2 is jammed")
    wang = people.join("Wang Fang", "technician")
    wang.room("it-team")
    card = wang.page.locator(".card", has_text="IT-1 · Printer on floor 2 is jammed")
    expect(card.locator(".field", has_text="Respond by").locator("dd")).to_contain_text("left")

    # a month passes for the SLA engine (to a working hour): the reconciliation sweep finds the missed targets
    desk = live_desk.container
    calendar = calendar_for(desk.config.desks[0])
    later = calendar.next_working_moment(desk.clock.now() + timedelta(days=30)) + timedelta(minutes=1)
    with desk.uow.begin() as session:
        sent = sla_sweep(Context(session=session, services=desk.services, now=later))
        # only the SLA engine travelled: the running delivery sends on the real clock
        session.execute(update(OutboxMessage).where(col(OutboxMessage.status) == "pending")
                        .values(next_attempt_at=desk.clock.now()))
    assert sent >= 1
    alert = wang.page.locator(".msg.from-bot", has_text="SLA breached · IT-1").first
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("missed its")
    expect(card.locator(".field", has_text="Resolve by").locator("dd")).to_contain_text("overdue")
    screenshot(wang.page, "e2e-webchat-14-sla-breach")
    assert wang.problems == []


def _raw_frame(desk: LiveDesk, frame: dict[str, object]) -> dict[str, object]:
    """What the server answers a page that skips the page's own checks."""
    from websockets.sync.client import connect

    with connect(desk.url.replace("http://", "ws://") + "/chat/ws") as ws:
        ws.send(json.dumps({"type": "hello", "name": "Li Lei", "role": "employee", "lang": "en"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        ws.send(json.dumps({**frame, "ref": "raw-1"}))
        return json.loads(ws.recv(timeout=5))
