"""End-to-end support: the desk of config.example.toml served live on a test database, and people in Chromium."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from bot.config import Config, load_config
from bot.container import Container
from tests.browser import CHROMIUM, LiveServer, chromium_available

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.toml"
API_TOKEN = "e2e-api-token"
STEP_TIMEOUT_MS = 8000  # one step (a click, a card arriving) takes well under a second; fail fast if not
# CI sets this: there a missing chromium is a failure, not a skip
BROWSER_REQUIRED = os.environ.get("DESKBOT_REQUIRE_BROWSER") == "1"


def browser_marks() -> list[pytest.MarkDecorator]:
    """`pytestmark` for browser tests: marked `browser`, skipped without chromium unless CI requires it."""
    return [
        pytest.mark.browser,
        pytest.mark.skipif(not chromium_available() and not BROWSER_REQUIRED,
                           reason=f"{CHROMIUM} is not installed (set DESKBOT_REQUIRE_BROWSER=1 to fail instead)"),
    ]


def require_chromium() -> None:
    if not chromium_available():
        pytest.fail(f"DESKBOT_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")


def example_env(db_url: str) -> dict[str, str]:
    """Environment overrides that point config.example.toml at the test database and give the API a token."""
    return {"DESKBOT_DATABASE__URL": db_url, "DESKBOT_API__TOKENS": f'["{API_TOKEN}"]'}


def example_config(db_url: str, *, knowledge: bool = False) -> Config:
    """config.example.toml as `make run` reads it, on `db_url`; unless `knowledge`, with suggestions off
    (so a report opens a ticket at once whatever articles a future knowledge base holds)."""
    config = load_config(EXAMPLE_CONFIG, environ=example_env(db_url))
    if not knowledge:
        config.desks[0] = config.desks[0].model_copy(update={"knowledge_mode": "off"})
    return config


@dataclass
class LiveDesk:
    """The real app (`bot.app.create_app`) served on a free loopback port, workers running in its lifespan."""

    server: LiveServer
    container: Container
    db_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str) -> Any:
        response = httpx.get(self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {API_TOKEN}"},
                             timeout=10.0)
        response.raise_for_status()
        return response.json()

    def stored_events(self) -> int:
        """Events the web chat handed to durable intake so far."""
        from sqlalchemy import func, select

        from core.db.models import IntakeEvent

        with self.container.uow.begin() as session:
            return int(session.execute(select(func.count()).select_from(IntakeEvent)).scalar() or 0)

    def cli(self, *args: str) -> Result:
        """`deskbot --config config.example.toml ARGS` against the same database, as an admin would run it."""
        from bot.cli import main

        return CliRunner().invoke(main, ["--config", str(EXAMPLE_CONFIG), *args], env=example_env(self.db_url),
                                  catch_exceptions=False)


@dataclass
class Person:
    """One person in their own browser context (own sessionStorage, own websocket)."""

    name: str
    page: Any
    problems: list[str] = field(default_factory=list)

    def room(self, room_id: str) -> None:
        self.page.click(f".room-tab[data-room='{room_id}']")

    def say(self, text: str) -> None:
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")


class People:
    """Opens people on the live desk; closes their contexts before the server stops."""

    def __init__(self, browser: Any, desk: LiveDesk) -> None:
        self._browser, self._desk = browser, desk
        self._contexts: list[Any] = []

    def join(self, name: str, role: str = "employee", *, lang: str = "en",
             viewport: tuple[int, int] = (1100, 820),
             deliver: Callable[[dict[str, Any]], bool] | None = None) -> Person:
        """A person who picked `name` and `role` and is connected. `deliver`, when given, sees every frame the
        server sends this page and drops those it returns False for (a page that misses updates)."""
        from playwright.sync_api import expect

        context = self._browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                            locale="en-US", timezone_id="Asia/Shanghai")
        self._contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        if deliver is not None:
            page.route_web_socket(re.compile(r"/chat/ws$"), lambda route: _filtered(route, deliver))
        person = Person(name=name, page=page)
        page.on("pageerror", lambda exc: person.problems.append(str(exc)))
        page.on("console", lambda msg: person.problems.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{self._desk.url}/chat?lang={lang}")
        page.fill("#name", name)
        page.select_option("#role", role)
        page.click("#picker-form button[type=submit]")
        expect(page.locator("#status")).to_have_attribute("data-state", "online")
        return person

    def employee_reports(self, text: str) -> Person:
        """Li Lei writes `text` in #it-help and sees the card of IT-1 in the thread."""
        from playwright.sync_api import expect

        employee = self.join("Li Lei")
        employee.say(text)
        expect(employee.page.locator(".thread .card .card-title")).to_have_text(f"IT-1 · {text}")
        return employee

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()


def _filtered(route: Any, deliver: Callable[[dict[str, Any]], bool]) -> None:
    server = route.connect_to_server()
    route.on_message(server.send)
    server.on_message(lambda text: route.send(text) if deliver(json.loads(text)) else None)


def served(db_url: str, *, knowledge: bool = False) -> Iterator[LiveDesk]:
    """The container from the example config on `db_url`, served as `create_app(container)` like `deskbot run`."""
    from bot.app import create_app
    from bot.startup import prepare

    container = prepare(example_config(db_url, knowledge=knowledge))  # what `deskbot run` does before it serves the app
    # workers wake on every event; the poll only paces retries, kept short so a retried event shows quickly
    server = LiveServer(create_app(container, poll_seconds=0.2))
    server.start()
    try:
        yield LiveDesk(server=server, container=container, db_url=db_url)
    finally:
        server.stop()
        container.close()
