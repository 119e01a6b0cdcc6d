"""Socket Mode against the local websocket fake: hello, envelopes, acks with the envelope id."""

from __future__ import annotations

import asyncio

import pytest

from adapters.slack.transport import SlackAdapter
from core.events import CommandInvoked, MessageReceived
from tests.adapters.slack.helpers import event_body, message_event
from tests.fakes.sink import RecordingSink


@pytest.fixture
async def socket_adapter(fake):
    adapter = SlackAdapter(mode="socket", bot_token="xoxb-test", app_token="xapp-test", api_base_url=fake.url)
    sink = RecordingSink()
    await adapter.start(sink)
    await asyncio.to_thread(fake.wait_connected)
    yield adapter, sink
    await adapter.stop()


def events_api(envelope_id: str, event_id: str, event: dict, retry: int = 0) -> dict:
    return {"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
            "retry_attempt": retry, "retry_reason": "timeout" if retry else "",
            "payload": event_body(event, event_id)}


async def test_socket_mode_connects_with_the_app_token(socket_adapter, fake):
    adapter, _ = socket_adapter
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.token == "xapp-test"
    assert adapter.routes() == []


async def test_event_envelope_is_stored_then_acked(socket_adapter, fake):
    _, sink = socket_adapter
    fake.send_envelope(events_api("env-1", "EvS1", message_event("<@UBOT> badge reader broken", ts="11.1",
                                                                 kind="app_mention")))
    ack = await asyncio.to_thread(fake.wait_ack, "env-1")
    assert ack == {"envelope_id": "env-1"}
    [event] = sink.events
    assert isinstance(event, MessageReceived) and event.text == "badge reader broken"


async def test_redelivered_envelope_is_stored_once(socket_adapter, fake):
    _, sink = socket_adapter
    event = message_event("<@UBOT> projector", ts="12.1", kind="app_mention")
    fake.send_envelope(events_api("env-2", "EvS2", event))
    await asyncio.to_thread(fake.wait_ack, "env-2")
    fake.send_envelope(events_api("env-3", "EvS2", event, retry=1))
    await asyncio.to_thread(fake.wait_ack, "env-3")
    assert len(sink.events) == 1


async def test_store_failure_leaves_the_envelope_unacked(socket_adapter, fake):
    _, sink = socket_adapter
    sink.fail = True
    failed = asyncio.Event()
    submit = sink.submit

    async def failing_submit(event, *, wait=0.0):
        try:
            return await submit(event, wait=wait)
        finally:
            sink.fail = False
            failed.set()

    sink.submit = failing_submit
    fake.send_envelope(events_api("env-4", "EvS4", message_event("<@UBOT> x", ts="13.1", kind="app_mention")))
    await asyncio.wait_for(failed.wait(), 5)
    # Slack redelivers what is not acked: the next envelope is acked, the failed one never was.
    fake.send_envelope(events_api("env-5", "EvS5", message_event("<@UBOT> y", ts="13.2", kind="app_mention")))
    await asyncio.to_thread(fake.wait_ack, "env-5")
    assert not any(a.get("envelope_id") == "env-4" for a in fake.acks)
    assert [e.event_id for e in sink.events] == ["EvS5"]


async def test_slash_command_envelope(socket_adapter, fake):
    _, sink = socket_adapter
    payload = {"token": "legacy", "team_id": "T1", "channel_id": "CITTEAM", "user_id": "U2", "command": "/ticket",
               "text": "resolve IT-12 reset profile", "response_url": fake.response_url("c"),
               "trigger_id": "1337.20.s", "api_app_id": "A1"}
    fake.send_envelope({"envelope_id": "env-6", "type": "slash_commands", "accepts_response_payload": True,
                        "payload": payload})
    await asyncio.to_thread(fake.wait_ack, "env-6")
    [command] = sink.events
    assert isinstance(command, CommandInvoked)
    assert command.args == ("resolve", "IT-12", "reset", "profile")


async def test_stop_closes_the_connection(fake):
    adapter = SlackAdapter(mode="socket", bot_token="xoxb-test", app_token="xapp-test", api_base_url=fake.url)
    await adapter.start(RecordingSink())
    await asyncio.to_thread(fake.wait_connected)
    await adapter.stop()
    await asyncio.to_thread(fake.wait_disconnected)
    assert len(fake.calls_to("apps.connections.open")) == 1  # no reconnect after stop
