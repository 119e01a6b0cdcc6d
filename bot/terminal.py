"""`deskbot chat`: a terminal conversation with the desk through the same intake and outbox path."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from sqlalchemy import func, select

from adapters.terminal import TerminalAdapter
from adapters.terminal.parse import PLATFORM, parse_line
from bot.config import Config
from bot.runtime import Runtime
from bot.startup import prepare
from core.db.models import OutboxMessage
from core.events import ConversationRef, UserRef

ROLE_KEYS = {"technician": "technicians", "lead": "leads", "admin": "admins"}


def with_role(config: Config, identity: str, role: str) -> Config:
    """The person at the console gets the chosen role on every desk, for this session only."""
    if role == "employee":
        return config
    desks = []
    for desk in config.desks:
        roles = desk.roles.model_copy(update={
            ROLE_KEYS[role]: [*getattr(desk.roles, ROLE_KEYS[role]), identity]})
        desks.append(desk.model_copy(update={"roles": roles}))
    return config.model_copy(update={"desks": desks})


async def run_terminal_chat(config: Config, *, name: str, role: str, lang: str | None,
                            lines: list[str] | None = None, write=print) -> None:  # type: ignore[no-untyped-def]
    user = UserRef(platform=PLATFORM, user_id=name, display_name=name)
    config = with_role(config, user.identity, role)
    container = prepare(config.model_copy(update={"webchat": config.webchat.model_copy(update={"enabled": False})}))
    conversation = ConversationRef(platform=PLATFORM, chat_id=f"dm:{name}", is_direct=True)
    terminal = TerminalAdapter(write=write, own_chat=conversation.chat_id)
    container.adapters = {PLATFORM: terminal}
    runtime = Runtime(container, poll_seconds=0.2)
    await runtime.start()
    ids = itertools.count(1)
    session = uuid.uuid4().hex[:8]  # event ids stay unique across chat sessions on one database
    write(f"deskbot chat as {name} ({role}). Type a problem, /ticket help, a number to press a button, "
          "or /quit. 输入问题、/ticket help、按钮编号，/quit 退出。")
    feed = iter(lines) if lines is not None else None
    try:
        while True:
            try:
                line = next(feed) if feed is not None else await asyncio.to_thread(input, f"{name}> ")
            except (EOFError, StopIteration):
                break
            if line.strip() in ("/quit", "/exit"):
                break
            event = parse_line(line, user=user, conversation=conversation, event_id=f"cli-{session}-{next(ids)}",
                               now=container.clock.now(), buttons=terminal.buttons, lang=lang)
            if event is None:
                continue
            await runtime.sink.submit(event, wait=5.0)
            runtime.deliverer.wake.set()
            await _drained(runtime)
    finally:
        await runtime.stop(drain_seconds=2.0)
        container.close()


async def _drained(runtime: Runtime, timeout: float = 5.0) -> None:
    """Wait until every console message queued so far has been printed."""
    def pending() -> int:
        with runtime.container.uow.begin() as session:
            return int(session.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.platform == PLATFORM, OutboxMessage.status.in_(("pending", "sending")))).scalar() or 0)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await asyncio.to_thread(pending) and loop.time() < deadline:
        runtime.deliverer.wake.set()
        await asyncio.sleep(0.05)
