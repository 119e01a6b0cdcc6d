"""Fixtures for end-to-end tests: one Chromium per module, a live desk per test, people in browser contexts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.support import LiveDesk, People, require_chromium, served


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """Debian's chromium, launched once per module (each person gets a fresh context)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_desk(db_url: str) -> Iterator[LiveDesk]:
    if db_url.startswith("postgresql"):
        # the browser drives the web chat, not the database: one backend is enough here
        pytest.skip("browser tests run on SQLite only")
    yield from served(db_url)


@pytest.fixture
def people(chromium_browser: Any, live_desk: LiveDesk) -> Iterator[People]:
    crowd = People(chromium_browser, live_desk)
    yield crowd
    crowd.close()
