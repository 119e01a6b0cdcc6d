"""A recording EventSink for adapter tests that do not need the core (dedup like the real one)."""

from __future__ import annotations

from adapters.base import IntakeResult
from core.events import Inbound


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[Inbound] = []
        self._keys: set[tuple[str, str]] = set()
        self.fail = False

    async def submit(self, event: Inbound, *, wait: float = 0.0) -> IntakeResult:
        if self.fail:
            raise RuntimeError("store unavailable")
        keys = {(event.platform, "e:" + event.event_id)}
        if event.message_key:
            keys.add((event.platform, "m:" + event.message_key))
        if keys & self._keys:
            return IntakeResult(stored=True, duplicate=True)
        self._keys |= keys
        self.events.append(event)
        return IntakeResult(stored=True)
