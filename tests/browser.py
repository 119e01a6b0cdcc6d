"""Browser-test helpers: serve an ASGI app on a free loopback port, drive Debian's chromium via playwright."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.sink import RecordingSink

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser downloaded by playwright
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
STARTUP_TIMEOUT = 15.0


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def skip_without_chromium() -> pytest.MarkDecorator:
    """Mark for browser tests: `@skip_without_chromium()` next to `@pytest.mark.browser`."""
    return pytest.mark.skipif(not chromium_available(), reason=f"{CHROMIUM} is not installed")


class LiveServer:
    """An ASGI app served by uvicorn in a background thread, on a port the OS picked.

    `loop` is the server's event loop: hand coroutines to it with `call(coro_fn)` from the test
    thread (adapters and sinks live there)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        ready = threading.Event()

        class _Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                ready.set()

        self._ready = ready
        self._server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                              lifespan="auto"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="live-asgi", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start() instead of dying silently in the thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self._server.serve()

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT) or self._error is not None:
            raise RuntimeError(f"ASGI server did not start: {self._error!r}")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def call(self, make: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `make()` (a coroutine) on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STARTUP_TIMEOUT)


@contextmanager
def serve_asgi(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium(**context_options: Any) -> Iterator[Any]:
    """A playwright browser context on Debian's chromium (viewport etc. via `context_options`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(**context_options)
            yield context
            context.close()
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ (uploaded by CI) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Waiter:
    """Wait from the test thread for something another thread records (no fixed sleeps)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError("condition not met in time")
        return result


class WatchedSink(RecordingSink):
    """RecordingSink whose events a test thread can wait for while a live server fills it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiter = Waiter()

    async def submit(self, event: Any, *, wait: float = 0.0) -> Any:
        result = await super().submit(event, wait=wait)
        self.waiter.notify()
        return result

    def wait_for_event(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The first recorded event matching `predicate`, waiting for it to arrive."""
        return self.waiter.wait_for(lambda: next((e for e in list(self.events) if predicate(e)), None), timeout)


def run_in_own_loop(make: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Run a coroutine on a fresh loop in a fresh thread (playwright's sync API owns this thread's loop),
    the way a delivery worker on another loop would call an adapter."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(make())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="other-loop")
    thread.start()
    thread.join(timeout)
    if "error" in box:
        raise box["error"]
    if "result" not in box:
        raise TimeoutError("coroutine did not finish in time")
    return box["result"]
