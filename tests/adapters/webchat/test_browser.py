"""The chat page in headless Chromium: pick a person, talk, see a card arrive, click it, see it change."""

from __future__ import annotations

from dataclasses import replace

from core.events import ActionClicked, CommandInvoked, ConversationRef, MessageReceived, ReactionAdded
from core.replies import Button, Field
from tests.adapters.webchat.conftest import chat_app
from tests.browser import (
    WatchedSink,
    chromium,
    run_in_own_loop,
    screenshot,
    serve_asgi,
)
from tests.e2e.support import browser_marks, require_chromium
from tests.sample_replies import TICKET_CARD

pytestmark = browser_marks()

HOSTILE = 'VPN 连不上了 <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def test_person_talks_sees_card_clicks_it_and_sees_it_change(adapter) -> None:
    from playwright.sync_api import expect

    require_chromium()
    sink = WatchedSink()
    with serve_asgi(chat_app(adapter, sink)) as server, \
            chromium(viewport={"width": 1100, "height": 760}) as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(server.url + "/chat?lang=en")

        # an empty name is refused in the page itself
        page.click("#picker-form button[type=submit]")
        expect(page.locator("#picker-error")).to_have_text("Enter your name.")
        page.fill("#name", "Li Lei")
        page.select_option("#role", "employee")
        screenshot(page, "webchat-1-picker")
        page.click("#picker-form button[type=submit]")
        expect(page.locator("#me")).to_have_text("Li Lei · Employee")
        expect(page.locator("#status")).to_have_text("Connected")

        # an empty message is refused before it leaves the page
        page.press("#text", "Enter")
        expect(page.locator("#composer-error")).to_have_text("Type a message first.")

        page.fill("#text", HOSTILE)
        page.press("#text", "Enter")
        said = sink.wait_for_event(lambda e: isinstance(e, MessageReceived))
        assert said.text == HOSTILE and said.in_intake_chat and said.user.user_id == "li-lei"
        expect(page.locator(".msg .text")).to_have_text(HOSTILE)
        expect(page.locator("#text")).to_have_value("")
        assert page.locator(".messages script, .messages img").count() == 0
        assert page.evaluate("window.pwned") is None

        # the bot answers in the thread with a ticket card (from another loop, as the outbox does)
        in_thread = ConversationRef(platform="webchat", chat_id="it-help", thread_id=said.message_id)
        posted = run_in_own_loop(lambda: adapter.send(in_thread, TICKET_CARD))
        card = page.locator(".thread .card")
        expect(card.locator(".card-title")).to_have_text(TICKET_CARD.title)
        expect(card.locator(".timeline li")).to_have_count(2)
        screenshot(page, "webchat-2-ticket-card")

        card.get_by_role("button", name="Claim").click()
        clicked = sink.wait_for_event(lambda e: isinstance(e, ActionClicked))
        assert (clicked.action_id, dict(clicked.value)) == ("ticket.claim", {"ticket": "12"})
        assert clicked.card_message_id == posted.message_id

        claimed = replace(
            TICKET_CARD, status="in_progress",
            fields=(Field(label="Status", value="In progress"), Field(label="Assignee", value="Wang Fang")),
            buttons=(Button(label="Resolve", action_id="ticket.resolve", value={"ticket": "12"}),),
        )
        result = run_in_own_loop(lambda: adapter.send(in_thread, claimed, update_message_id=posted.message_id))
        assert result.updated_in_place
        expect(card.locator(".field dd").first).to_have_text("In progress")
        expect(page.locator(".card")).to_have_count(1)
        expect(card.get_by_role("button")).to_have_text(["Resolve"])
        screenshot(page, "webchat-3-card-updated")

        # a thread reply, a 🎫 reaction from the palette and a slash command
        page.locator(".entry > .msg .footer").first.get_by_role("button", name="Reply").click()
        page.fill("#text", "still broken")
        page.click("#send")
        threaded = sink.wait_for_event(lambda e: isinstance(e, MessageReceived) and e.text == "still broken")
        assert threaded.is_thread_reply and threaded.conversation.thread_id == said.message_id
        page.locator(".entry > .msg .footer").first.get_by_role("button", name="☺+").click()
        page.get_by_title("🎫 makes this a ticket").click()
        reacted = sink.wait_for_event(lambda e: isinstance(e, ReactionAdded))
        assert reacted.target_message_id == said.message_id and reacted.target_text == HOSTILE
        expect(page.locator(".reaction")).to_have_text(["🎫 1"])
        page.click("#thread-cancel")
        page.fill("#text", "/ticket status IT-12")
        page.press("#text", "Enter")
        command = sink.wait_for_event(lambda e: isinstance(e, CommandInvoked))
        assert (command.name, command.args) == ("ticket", ("status", "IT-12"))

        # another tab is another person: a technician who also sees the team room
        second = browser.new_page()
        second.goto(server.url + "/chat?lang=en")
        second.fill("#name", "Wang Fang")
        second.select_option("#role", "technician")
        second.click("#picker-form button[type=submit]")
        expect(second.locator(".room-tab")).to_have_text(["# it-help", "@ deskbot", "# it-teamteam"])
        expect(second.locator(".thread .card")).to_have_count(1)
        page.reload()
        expect(page.locator("#me")).to_have_text("Li Lei · Employee")
        second.close()

        # narrow screen, Chinese
        page.set_viewport_size({"width": 390, "height": 780})
        page.click("#lang-toggle")
        expect(page.locator("#send")).to_have_text("发送")
        expect(page.locator("#me")).to_have_text("Li Lei · 员工")
        screenshot(page, "webchat-4-narrow-zh")
        assert problems == []
