"""The README quick start in Chromium: the example desk answers with starter articles before it opens a ticket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import screenshot
from tests.e2e.support import LiveDesk, People, browser_marks, served

pytestmark = [*browser_marks(), pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.fixture
def live_desk(db_url: str) -> Iterator[LiveDesk]:
    yield from served(db_url, knowledge=True)  # config.example.toml as it is: suggest first


@pytest.fixture
def people(chromium_browser: Any, live_desk: LiveDesk) -> Iterator[People]:
    crowd = People(chromium_browser, live_desk)
    yield crowd
    crowd.close()


def test_still_need_help_opens_the_ticket_and_solved_opens_none(live_desk: LiveDesk, people: People) -> None:
    from playwright.sync_api import expect

    employee = people.join("Li Lei")
    employee.say("VPN 连不上了")
    offer = employee.page.locator(".thread .card", has_text="以下文章可能有帮助")
    expect(offer.locator(".card-body")).to_contain_text("vpn-cannot-connect")
    screenshot(employee.page, "e2e-knowledge-1-suggestions")
    offer.get_by_role("button", name="仍需人工帮助").click()
    expect(offer.locator(".card-body")).to_contain_text("IT-1")
    expect(offer.get_by_role("button")).to_have_count(0)
    card = employee.page.locator(".thread .card", has_text="IT-1 · VPN 连不上了")
    expect(card.locator(".field", has_text="推荐文章").locator("dd")).to_contain_text("VPN")
    screenshot(employee.page, "e2e-knowledge-2-ticket-opened")

    employee.say("printer shows offline and nothing prints")
    second = employee.page.locator(".thread .card", has_text="These articles may help").last
    expect(second.locator(".card-body")).to_contain_text("printer-offline")
    second.get_by_role("button", name="This solved it").click()
    expect(second.locator(".card-body")).to_have_text("Great, glad that helped! No ticket needed.")
    screenshot(employee.page, "e2e-knowledge-3-deflected")

    tickets = live_desk.api("/tickets")
    assert [t["key"] for t in tickets] == ["IT-1"]
    stats = live_desk.cli("kb", "stats", "--json")
    assert stats.exit_code == 0, stats.output
    deflections = json.loads(stats.output)["deflections"]
    assert (deflections["deflected"], deflections["escalated"], deflections["pending"]) == (1, 1, 0)
    assert employee.problems == []
