"""Long connection: lark-oapi's ws.Client against the fake gateway (endpoint + protobuf frames)."""

from __future__ import annotations

import pytest

from adapters.base import IntakeResult
from adapters.feishu import create_adapter
from core.events import ActionClicked, ConversationRef, MessageReceived
from core.replies import Outgoing
from tests.adapters.feishu.helpers import card_event, config, message_event
from tests.fakes.sink import RecordingSink
from tests.sample_replies import TICKET_CARD


class ClickSink(RecordingSink):
    async def submit(self, event, *, wait: float = 0.0) -> IntakeResult:
        res = await super().submit(event, wait=wait)
        if isinstance(event, ActionClicked):
            team = ConversationRef(platform="feishu", chat_id=event.conversation.chat_id)
            return IntakeResult(stored=True, duplicate=res.duplicate, outputs=[Outgoing(to=team, reply=TICKET_CARD)])
        return res


@pytest.fixture
async def connected(fake):
    adapter = create_adapter(config(domain=fake.url, mode="long_connection", encrypt_key=None,
                                    verification_token=None))
    sink = ClickSink()
    await adapter.start(sink)
    await fake.wait_for_ws()
    yield adapter, sink
    await adapter.stop()


async def test_events_arrive_on_the_main_loop_and_are_acked_after_store(connected, fake):
    adapter, sink = connected
    assert adapter.routes() == []
    ack = await fake.push_event(message_event("ev-ws-1", "打印机坏了"))
    assert ack["code"] == 200
    [event] = sink.events
    assert isinstance(event, MessageReceived) and event.mentions_bot and event.text == "打印机坏了"
    # the same event delivered again is acked and not stored twice
    assert (await fake.push_event(message_event("ev-ws-1", "打印机坏了")))["code"] == 200
    assert len(sink.events) == 1


async def test_card_click_is_answered_with_the_card_through_the_frame(connected, fake):
    _, sink = connected
    ack = await fake.push_event(card_event("ev-ws-card", {"action_id": "ticket.claim", "ticket": "12"}))
    assert ack["code"] == 200
    assert ack["data"]["card"]["data"]["header"]["title"]["content"] == "IT-12 · VPN 连不上了"
    [event] = sink.events
    assert (event.action_id, dict(event.value)) == ("ticket.claim", {"ticket": "12"})


async def test_store_failure_answers_500_so_the_platform_redelivers(connected, fake):
    _, sink = connected
    sink.fail = True
    assert (await fake.push_event(message_event("ev-ws-2", "help")))["code"] == 500
    sink.fail = False
    assert (await fake.push_event(message_event("ev-ws-2", "help")))["code"] == 200
    assert [e.event_id for e in sink.events] == ["ev-ws-2"]


async def test_stop_closes_the_socket_and_ends_the_thread(fake):
    adapter = create_adapter(config(domain=fake.url, mode="long_connection"))
    await adapter.start(RecordingSink())
    await fake.wait_for_ws()
    conn = adapter.long_connection
    assert conn.alive
    await adapter.stop()
    await fake.wait_for_ws_closed()
    assert not conn.alive and conn.error is None
    # no reconnect after stop
    assert fake.ws_connections == 1
    assert len(fake.calls_to("POST", "/callback/ws/endpoint")) == 1
