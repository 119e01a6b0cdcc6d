"""End-to-end support: the real container, runtime and ASGI app on a test database, for adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import select as sm_select

from adapters.base import Adapter
from bot.app import create_app
from bot.config import Config
from bot.container import Container, build
from bot.runtime import Runtime
from core.db.models import IntakeEvent, OutboxMessage, Ticket, TimelineEntry
from core.settings import Desk, Roles


def desk_config(db_url: str, *, desk: Desk | None = None, **sections: Any) -> Config:
    """A Config on `db_url` with one IT desk (knowledge off) and the given platform sections.

    Example: desk_config(url, desk=Desk(team_chat="slack:CTEAM", roles=Roles(technicians=["slack:UTECH"])),
                         slack={"enabled": True, ...})"""
    desk = desk or Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off", roles=Roles())
    data: dict[str, Any] = {"database": {"url": db_url}, "desks": [desk.model_dump()],
                            "webchat": {"enabled": False}}
    data.update(sections)
    return Config.model_validate(data)


@dataclass
class RunningDesk:
    container: Container
    runtime: Runtime
    app: Any  # ASGI app with adapter routes (workers run in `runtime`, not in the app's lifespan)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every stored event is processed and every deliverable message is sent/parked."""
        platforms = set(self.container.adapters)

        def busy() -> int:
            with self.container.uow.begin() as s:
                pending = s.execute(select(func.count()).select_from(IntakeEvent)
                                    .where(IntakeEvent.status == "pending")).scalar() or 0
                sending = s.execute(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status.in_(("pending", "sending")),  # type: ignore[attr-defined]
                    OutboxMessage.platform.in_(platforms))).scalar() or 0  # type: ignore[attr-defined]
            return int(pending) + int(sending)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await asyncio.to_thread(busy):
            if loop.time() > deadline:
                raise TimeoutError("the desk did not go idle")
            self.runtime.sink.wake.set()
            self.runtime.deliverer.wake.set()
            await asyncio.sleep(0.02)

    def tickets(self) -> list[Ticket]:
        with self.container.uow.begin() as s:
            return list(s.exec(sm_select(Ticket).order_by(Ticket.id)).all())

    def ticket(self, key: str) -> Ticket:
        with self.container.uow.begin() as s:
            return s.exec(sm_select(Ticket).where(Ticket.key == key)).one()

    def timeline(self, key: str) -> list[str]:
        with self.container.uow.begin() as s:
            tk = s.exec(sm_select(Ticket).where(Ticket.key == key)).one()
            return [e.kind for e in s.exec(sm_select(TimelineEntry).where(TimelineEntry.ticket_id == tk.id)
                                           .order_by(TimelineEntry.id)).all()]  # type: ignore[arg-type]

    def outbox(self) -> list[OutboxMessage]:
        with self.container.uow.begin() as s:
            return list(s.exec(sm_select(OutboxMessage).order_by(OutboxMessage.id)).all())  # type: ignore[arg-type]


@asynccontextmanager
async def running_desk(config: Config, *, adapters: dict[str, Adapter] | None = None,
                       poll_seconds: float = 0.05) -> AsyncIterator[RunningDesk]:
    """Build the real container (adapters from config unless given), start the runtime, yield, stop.

    The database must already be migrated (use the `db_url` fixture from tests/conftest.py)."""
    container = build(config, with_adapters=adapters is None)
    if adapters is not None:
        container.adapters = adapters
    app = create_app(container, run_workers=False)
    runtime = Runtime(container, poll_seconds=poll_seconds)
    app.state.runtime = runtime
    await runtime.start()
    try:
        yield RunningDesk(container=container, runtime=runtime, app=app)
    finally:
        await runtime.stop(drain_seconds=2.0)
        container.close()
