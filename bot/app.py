"""The ASGI app served by `deskbot run`: health, readiness, metrics, REST API, adapter endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from sqlalchemy import text

from bot.api import build_router
from bot.container import Container
from bot.runtime import Runtime


def create_app(container: Container, *, run_workers: bool = True, poll_seconds: float = 1.0) -> FastAPI:
    state: dict[str, Runtime | None] = {"runtime": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(container, poll_seconds=poll_seconds)
        app.state.runtime = runtime
        state["runtime"] = runtime
        if run_workers:
            await runtime.start()
        try:
            yield
        finally:
            if run_workers:
                await runtime.stop()

    app = FastAPI(title="deskbot", version="0.1.0", lifespan=lifespan,
                  description="Chat-first IT service desk: REST API for integrations.")
    app.state.container = container

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        def ping() -> None:
            with container.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        try:
            await asyncio.to_thread(ping)
        except Exception as exc:  # noqa: BLE001
            return PlainTextResponse(f"database unreachable: {type(exc).__name__}", status_code=503)
        return PlainTextResponse("ready")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        runtime = state["runtime"]
        body = await asyncio.to_thread(runtime.metrics.render, container.uow) if runtime else ""
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/chat" if "webchat" in container.adapters else "/docs")

    app.include_router(build_router(lambda: state["runtime"]))
    for adapter in container.adapters.values():
        app.router.routes.extend(adapter.routes())
    return app
