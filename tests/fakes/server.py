"""Runs a fake platform's aiohttp app on 127.0.0.1:0, on its own thread and event loop, with waits on its state."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from aiohttp import web

T = TypeVar("T")


async def serve_app(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 on a free port (never a fixed one); returns its runner and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


@dataclass
class Failure:
    """A canned error answer a fake gives instead of its normal reply."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


class ThreadedFakeServer:
    """Base for a fake platform server that runs on its own thread and event loop.

    The code under test (on the test's loop) then talks to it over real HTTP/websockets exactly as
    it would to the platform, and a blocking SDK call on the test's loop cannot stall the fake.
    Subclasses build their app in `_app()`, keep open websockets in `_sockets` (closed on stop), and
    call `_changed()` after every change of state that a test may wait for (`_wait_sync` from plain
    code, `await _wait(...)` from any event loop)."""

    label: ClassVar[str] = "platform"  # names the thread ("fake-<label>") and start-up errors

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._cond = threading.Condition()  # guards shared state; signals every change
        self._waiters: list[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"fake-{self.label.lower()}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.label} did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._run(self._shutdown(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def _serve(self) -> None:
        self._runner, self.port = await serve_app(self._app())

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        """Run `coro` on the fake's loop from another thread and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ---------------------------------------------------------------- recording and waiting
    def _record_call(self, call: Any) -> None:
        with self._cond:
            self.calls.append(call)
        self._changed()

    def _changed(self) -> None:
        """Wake every waiter whose condition now holds (call after changing recorded state)."""
        with self._cond:
            self._cond.notify_all()
            waiters = list(self._waiters)
        for pred, loop, fut in waiters:
            if pred():
                loop.call_soon_threadsafe(_resolve, fut)

    def _wait_sync(self, pred: Callable[[], Any], timeout: float) -> bool:
        """Block this thread until `pred()` holds; False on timeout."""
        with self._cond:
            return bool(self._cond.wait_for(pred, timeout))

    async def _wait(self, pred: Callable[[], Any], timeout: float) -> bool:
        """Await on any event loop, without holding a thread, until `pred()` holds; False on timeout."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (pred, loop, fut)
        with self._cond:
            self._waiters.append(entry)
        try:
            if not pred():
                await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._cond:
                self._waiters.remove(entry)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Changes:
    """Lets coroutines on one event loop wait until a condition on recorded state holds.

    For fakes and sinks that live on the test's own loop; call `await notify()` after each change."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()

    async def notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """The first truthy `predicate()` result; raises TimeoutError after `timeout` seconds."""
        async def wait() -> T:
            async with self._cond:
                return await self._cond.wait_for(predicate)
        return await asyncio.wait_for(wait(), timeout)
