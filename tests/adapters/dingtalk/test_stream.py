"""Stream-mode intake against the fake gateway: acks, card callbacks, dedup, reconnect, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from adapters.base import IntakeResult
from adapters.dingtalk.transport import card_track_id
from core.events import ActionClicked, ConversationRef, Inbound, MessageReceived
from core.replies import Outgoing
from tests import sample_replies
from tests.adapters.dingtalk.conftest import make_adapter
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.sink import RecordingSink


class AnsweringSink(RecordingSink):
    """Records events and answers `wait` submits with the outputs core would have produced."""

    def __init__(self, outputs: list[Outgoing]) -> None:
        super().__init__()
        self.outputs = outputs
        self.waits: list[float] = []

    async def submit(self, event: Inbound, *, wait: float = 0.0) -> IntakeResult:
        self.waits.append(wait)
        result = await super().submit(event, wait=wait)
        return IntakeResult(stored=True, duplicate=result.duplicate, outputs=tuple(self.outputs) if wait else ())


async def test_robot_message_is_stored_then_acked(fake: FakeDingTalk, running) -> None:
    adapter, sink = running
    data = fake.robot_message(text=" 打印机卡纸了")
    mid = fake.push_robot_message(data)
    ack = await fake.wait_ack(mid)
    assert ack["code"] == 200
    assert len(sink.events) == 1
    event = sink.events[0]
    assert isinstance(event, MessageReceived)
    assert event.text == "打印机卡纸了" and event.mentions_bot
    assert event.event_id == mid and event.message_key == data["msgId"]
    assert event.conversation.chat_id == "cidGroupA=="
    # the open call carried our credentials and subscriptions, to the configured base URL
    opened = fake.calls_to("/v1.0/gateway/connections/open")[0]["json"]
    assert {s["topic"] for s in opened["subscriptions"]} == {"/v1.0/im/bot/messages/get",
                                                           "/v1.0/card/instances/callback"}
    assert fake.unexpected_acks == []
    # the SDK's import-time base URL was never used: it still names the real platform
    import dingtalk_stream.utils

    assert dingtalk_stream.utils.DINGTALK_OPENAPI_ENDPOINT != fake.url


async def test_system_ping_is_answered_quietly(fake: FakeDingTalk, running, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="adapters.dingtalk"):
        mid = fake.push_ping()
        ack = await fake.wait_ack(mid)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"opaque": "fake-opaque"}
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_same_message_delivered_twice_is_stored_once(fake: FakeDingTalk, running) -> None:
    _, sink = running
    data = fake.robot_message(msg_id="msgSame001==")
    mid = fake.push_robot_message(data)
    await fake.wait_ack(mid)
    fake.push_robot_message(data, message_id=mid)  # redelivery of the same frame
    fake.push_robot_message(data)  # the same message under a new delivery id
    await fake.wait_for(lambda: sum(len(v) for v in fake.acks.values()) == 3, what="three acks")
    assert all(a["code"] == 200 for acks in fake.acks.values() for a in acks)
    assert len(sink.events) == 1


async def test_store_failure_is_not_acked_ok_and_redelivery_is_stored(fake: FakeDingTalk, running) -> None:
    _, sink = running
    sink.fail = True
    data = fake.robot_message()
    mid = fake.push_robot_message(data)
    assert (await fake.wait_ack(mid))["code"] == 500
    sink.fail = False
    fake.push_robot_message(data, message_id=mid)
    assert (await fake.wait_ack(mid, count=2))["code"] == 200
    assert len(sink.events) == 1


async def test_card_click_is_answered_with_the_updated_card(fake: FakeDingTalk) -> None:
    to = ConversationRef(platform="dingtalk", tenant="ding-corp", chat_id="cidGroupA==", thread_id="msgSrc")
    elsewhere = ConversationRef(platform="dingtalk", chat_id="cidTeamRoom==")
    claimed = replace(sample_replies.TICKET_CARD, title="IT-12 · claimed")
    survey = sample_replies.SURVEY_CARD
    # core's outputs: the same card for the team room, another card in the clicked group, then ours
    sink = AnsweringSink([Outgoing(to=elsewhere, reply=replace(claimed, title="team copy")),
                          Outgoing(to=to, reply=survey), Outgoing(to=to, reply=claimed)])
    adapter = make_adapter(fake)
    await adapter.start(sink)
    track_id = card_track_id("ticket:12")
    try:
        await fake.wait_connections(1)
        mid = fake.push_card_callback(fake.card_callback(out_track_id=track_id, action_id="ticket.claim",
                                                         value={"ticket": "12"}))
        ack = await fake.wait_ack(mid)
    finally:
        await adapter.stop()
    assert sink.waits == [2.0]
    event = sink.events[0]
    assert isinstance(event, ActionClicked)
    assert (event.action_id, dict(event.value), event.card_message_id) == ("ticket.claim", {"ticket": "12"},
                                                                           track_id)
    assert event.user.user_id == "u-wangfang" and event.conversation.chat_id == "cidGroupA=="
    response = json.loads(ack["data"])["response"]
    assert response["cardData"]["cardParamMap"]["title"] == "IT-12 · claimed"
    assert json.loads(response["cardData"]["cardParamMap"]["buttons"])[0]["action_id"] == "ticket.claim"


async def test_survey_click_is_answered_with_the_survey_not_the_ticket_card(fake: FakeDingTalk) -> None:
    to = ConversationRef(platform="dingtalk", chat_id="@u-lilei", is_direct=True)
    answered = replace(sample_replies.SURVEY_CARD, body_md="Thanks for rating IT-12 5/5.", buttons=())
    sink = AnsweringSink([Outgoing(to=to, reply=sample_replies.TICKET_CARD), Outgoing(to=to, reply=answered)])
    adapter = make_adapter(fake)
    await adapter.start(sink)
    try:
        await fake.wait_connections(1)
        mid = fake.push_card_callback(fake.card_callback(
            out_track_id=card_track_id("survey:12"), action_id="survey.rate", value={"ticket": "12", "rating": "5"},
            user_id="u-lilei", group=False))
        ack = await fake.wait_ack(mid)
    finally:
        await adapter.stop()
    assert sink.events[0].conversation.chat_id == "@u-lilei"
    params = json.loads(ack["data"])["response"]["cardData"]["cardParamMap"]
    assert params["body"] == "Thanks for rating IT-12 5/5." and json.loads(params["buttons"]) == []


async def test_card_click_without_a_card_gets_a_notice(fake: FakeDingTalk) -> None:
    sink = AnsweringSink([])
    adapter = make_adapter(fake, default_lang="en")
    await adapter.start(sink)
    try:
        await fake.wait_connections(1)
        mid = fake.push_card_callback(fake.card_callback(out_track_id="deskbot-abc", action_id="survey.rate",
                                                         value={"ticket": "12", "rating": "5"}, group=False))
        ack = await fake.wait_ack(mid)
    finally:
        await adapter.stop()
    assert sink.events[0].conversation.is_direct
    notice = json.loads(ack["data"])["response"]["cardData"]["cardParamMap"]["notice"]
    assert notice.startswith("Received")


async def test_gateway_drop_reconnects_and_intake_goes_on(fake: FakeDingTalk, running) -> None:
    adapter, sink = running
    fake.drop()
    await fake.wait_connections(2)
    mid = fake.push_robot_message(fake.robot_message(text=" 网络断了又好了"))
    await fake.wait_ack(mid)
    assert adapter.connections == 2
    assert [e.text for e in sink.events] == ["网络断了又好了"]
    # each connection used a fresh ticket from a new open call
    assert len(fake.calls_to("/v1.0/gateway/connections/open")) == 2


async def test_failed_open_is_retried(fake: FakeDingTalk) -> None:
    for _ in range(2):
        fake.fail_next("/v1.0/gateway/connections/open", 503, {"code": "ServiceUnavailable"})
    adapter = make_adapter(fake, reconnect_delay=0.01)
    await adapter.start(RecordingSink())
    try:
        await fake.wait_connections(1)
    finally:
        await adapter.stop()
    assert len(fake.calls_to("/v1.0/gateway/connections/open")) == 3


async def test_stop_returns_promptly_and_closes_the_websocket(fake: FakeDingTalk, running) -> None:
    adapter, _ = running
    started = time.monotonic()
    await adapter.stop()
    assert time.monotonic() - started < 1.5
    await fake.wait_for(lambda: fake.disconnects == 1, what="websocket closed")
    assert adapter.connections == 0


async def test_stop_while_waiting_to_reconnect_returns_promptly(fake: FakeDingTalk) -> None:
    fake.fail_next("/v1.0/gateway/connections/open", 500, {"code": "SystemError"})
    adapter = make_adapter(fake, reconnect_delay=30.0)
    await adapter.start(RecordingSink())
    await fake.wait_calls("/v1.0/gateway/connections/open")
    started = time.monotonic()
    await adapter.stop()
    assert time.monotonic() - started < 1.0
    assert fake.connections == 0


async def test_start_returns_promptly_and_the_loop_stays_free(fake: FakeDingTalk) -> None:
    adapter = make_adapter(fake)
    started = time.monotonic()
    await adapter.start(RecordingSink())
    assert time.monotonic() - started < 0.2
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        await fake.wait_connections(1)
    finally:
        task.cancel()
        await adapter.stop()
    assert ticks >= 1


def test_package_import_does_not_load_the_sdk() -> None:
    code = "import sys, adapters.dingtalk, adapters.dingtalk.parse, adapters.dingtalk.render; " \
           "assert 'dingtalk_stream' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


async def test_first_reconnect_is_quick_and_flapping_backs_off(fake: FakeDingTalk, monkeypatch) -> None:
    from adapters.dingtalk.connection import GatewayConnection

    pauses: list[str] = []
    monkeypatch.setattr(GatewayConnection, "_quick_delay", lambda self: pauses.append("quick") or 0.0)
    monkeypatch.setattr(GatewayConnection, "_delay", lambda self, n: pauses.append(f"backoff{n}") or 0.0)
    adapter = make_adapter(fake, reconnect_delay=30.0)  # the real back-off would outlast the test
    await adapter.start(RecordingSink())
    try:
        await fake.wait_connections(1)
        fake.drop()
        await fake.wait_connections(2)
        fake.drop()  # dropped again right away: not a healthy connection
        await fake.wait_connections(3)
    finally:
        await adapter.stop()
    assert pauses == ["quick", "backoff1"]
