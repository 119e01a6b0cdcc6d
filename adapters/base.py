"""The contract between deskbot's runtime and each chat platform adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from core.events import ConversationRef, Inbound
from core.replies import Outgoing, Reply, SendResult


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeResult:
    """What the sink says about one submitted event.

    `stored` is True once the event is durably written (safe to ack the platform);
    `duplicate` is True when the same (platform, event id) or message key was seen before.
    `outputs` is filled only when the caller asked to wait for processing: the messages
    core produced for this event (for platforms that answer a click with the new card).
    """

    stored: bool
    duplicate: bool = False
    outputs: Sequence[Outgoing] = field(default_factory=tuple)


class EventSink(Protocol):
    async def submit(self, event: Inbound, *, wait: float = 0.0) -> IntakeResult:
        """Store and dedup `event`; with `wait` > 0, also wait up to that many seconds
        for core to process it and return what it produced. Raises if it could not be
        stored: the adapter must then answer the platform with an error so it retries."""
        ...


class Adapter(Protocol):
    """One chat platform. `parse`/`render` are pure and live in parse.py / render.py;
    the transport owns the SDK, signatures, acks and sending."""

    platform: ClassVar[str]
    # (messages, seconds): at most that many sends per conversation from the outbox
    send_rate: ClassVar[tuple[int, float]]

    def routes(self) -> list[Any]:
        """Starlette routes to mount in deskbot's ASGI app (empty for pure long-connection)."""
        ...

    async def start(self, sink: EventSink) -> None:
        """Connect long connections / remember the sink. Must return promptly."""
        ...

    async def stop(self) -> None:
        """Stop intake and close connections."""
        ...

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        update_message_id: str | None = None,
        reply_to_message_id: str | None = None,
    ) -> SendResult:
        """Post `reply` (or update the message `update_message_id` in place).

        An adapter may also accept `idempotency_key: str | None = None`: the delivery loop then
        passes a key that is the same for every retry of one outbox row (Feishu's `uuid`).
        Raise core.replies.DeliveryError(retryable=...) on failure; set retry_after from
        the platform's Retry-After where given. Return updated_in_place=False with a new
        message id when the platform could not edit and posted anew instead."""
        ...
