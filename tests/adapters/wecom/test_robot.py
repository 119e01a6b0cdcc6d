"""The smart-robot long connection against a local websocket gateway: subscribe, callbacks, replies."""

from __future__ import annotations

import asyncio

import pytest

from adapters.wecom import create_adapter
from adapters.wecom.robot import RobotLink
from core.events import ActionClicked, BotAdded, ConversationRef, MessageReceived
from core.replies import DeliveryError, Outgoing
from tests.adapters.wecom.conftest import wecom_config
from tests.sample_replies import PLAIN_TEXT, TICKET_CARD

GROUP = ConversationRef(platform="wecom", tenant="aibot:BOT-1", chat_id="wrGROUP1", is_direct=False)


def group_mention(msgid: str, text: str = "@IT助手 打印机卡纸了") -> dict:
    return {"msgid": msgid, "aibotid": "BOT-1", "chatid": "wrGROUP1", "chattype": "group",
            "from": {"userid": "lilei"}, "msgtype": "text", "text": {"content": text}}


@pytest.fixture
async def robot_adapter(qyapi, gateway, sink):
    a = create_adapter(wecom_config(qyapi.url, robot_url=gateway.url), robot_backoff_base=0.01,
                       robot_store_retries=(0.2, 0.05))
    await a.start(sink)
    await gateway.wait_for(lambda: gateway.subscriptions >= 1)
    await a.robot.ready.wait()
    yield a
    await a.stop()


async def test_subscribes_with_bot_id_and_secret(robot_adapter, gateway) -> None:
    frame = await gateway.wait_frame("aibot_subscribe")
    assert frame["body"] == {"bot_id": "BOT-1", "secret": "ROBOT-SECRET"}
    assert frame["headers"]["req_id"]


async def test_group_mention_becomes_an_event_and_is_answered_with_a_respond_frame(
        robot_adapter, gateway, sink) -> None:
    req_id = await gateway.push("aibot_msg_callback", group_mention("MSG-1"))
    (event,) = await sink.wait_events(1)
    assert isinstance(event, MessageReceived)
    assert event.text == "打印机卡纸了" and event.mentions_bot
    assert event.conversation == GROUP and event.event_id == "aibot:MSG-1"

    result = await robot_adapter.send(GROUP, PLAIN_TEXT, reply_to_message_id="MSG-1")
    frame = await gateway.wait_frame("aibot_respond_msg")
    assert frame["headers"]["req_id"] == req_id
    assert frame["body"]["msgtype"] == "stream"
    assert frame["body"]["stream"]["finish"] is True
    assert frame["body"]["stream"]["content"] == "Ticket IT-12 was not found."
    assert result.message_id

    # one reply per callback: the next message to that chat is a proactive send
    await robot_adapter.send(GROUP, PLAIN_TEXT, reply_to_message_id="MSG-1")
    sent = await gateway.wait_frame("aibot_send_msg")
    assert sent["body"] == {"chatid": "wrGROUP1", "msgtype": "markdown",
                            "markdown": {"content": "Ticket IT-12 was not found."}}


async def test_the_same_msgid_twice_is_stored_once(robot_adapter, gateway, sink) -> None:
    await gateway.push("aibot_msg_callback", group_mention("MSG-2"))
    await gateway.push("aibot_msg_callback", group_mention("MSG-2"))
    await gateway.push("aibot_msg_callback", group_mention("MSG-3"))
    await sink.wait_events(2)
    assert [e.event_id for e in sink.events] == ["aibot:MSG-2", "aibot:MSG-3"]


async def test_a_store_that_fails_is_tried_again_then_the_person_is_asked_to_resend(
        robot_adapter, gateway, sink) -> None:
    attempts: list[str] = []
    submit = sink.submit

    async def counted(event, *, wait: float = 0.0):  # noqa: ANN202
        attempts.append(event.event_id)
        return await submit(event, wait=wait)

    sink.submit = counted
    # the database comes back within the retries: the message is stored once, nobody is bothered
    sink.fail = True
    await gateway.push("aibot_msg_callback", group_mention("MSG-R1"))
    for _ in range(200):
        if attempts:
            break
        await asyncio.sleep(0.005)
    sink.fail = False
    await sink.wait_events(1)
    assert attempts == ["aibot:MSG-R1", "aibot:MSG-R1"]
    assert [e.event_id for e in sink.events] == ["aibot:MSG-R1"]
    # it stays down: after the retries the person gets an answer to that very message
    sink.fail = True
    req_id = await gateway.push("aibot_msg_callback", group_mention("MSG-R2"))
    frame = await gateway.wait_frame("aibot_respond_msg")
    assert frame["headers"]["req_id"] == req_id
    assert frame["body"]["stream"]["content"] == "抱歉，刚才没能收下这条消息，请过一会儿再发一次。"
    assert attempts[2:] == ["aibot:MSG-R2"] * 3  # the first try and both retries
    assert [e.event_id for e in sink.events] == ["aibot:MSG-R1"]
    assert [f for f in gateway.frames if f.get("cmd") == "aibot_respond_msg"] == [frame]


async def test_card_send_and_click_updates_the_card_from_the_click(robot_adapter, gateway, sink) -> None:
    sent = await robot_adapter.send(GROUP, TICKET_CARD)
    frame = await gateway.wait_frame("aibot_send_msg")
    assert frame["body"]["msgtype"] == "template_card"
    assert frame["body"]["template_card"]["task_id"] == sent.message_id

    sink.outputs = [Outgoing(to=GROUP, reply=TICKET_CARD, ticket_id=12)]
    click = {"msgid": "EVT-1", "create_time": 1795137360, "aibotid": "BOT-1", "chatid": "wrGROUP1",
             "chattype": "group", "from": {"userid": "wangfang"}, "msgtype": "event",
             "event": {"eventtype": "template_card_event", "template_card_event": {
                 "card_type": "button_interaction", "event_key": "ticket.claim?ticket=12",
                 "task_id": sent.message_id}}}
    req_id = await gateway.push("aibot_event_callback", click)
    (event,) = await sink.wait_events(1)
    assert isinstance(event, ActionClicked) and event.card_message_id == sent.message_id
    assert sink.waits == [2.0]
    update = await gateway.wait_frame("aibot_respond_update_msg")
    assert update["headers"]["req_id"] == req_id
    assert update["body"]["response_type"] == "update_template_card"
    assert update["body"]["template_card"]["task_id"] == sent.message_id

    # the outbox delivers the same card later: already shown, nothing sent twice
    frames_before = len(gateway.frames)
    result = await robot_adapter.send(GROUP, TICKET_CARD, update_message_id=sent.message_id)
    assert result.updated_in_place and result.message_id == sent.message_id
    assert len(gateway.frames) == frames_before


async def test_stale_card_update_posts_anew(robot_adapter, gateway) -> None:
    result = await robot_adapter.send(GROUP, TICKET_CARD, update_message_id="ticket_12-gone")
    assert not result.updated_in_place and result.message_id != "ticket_12-gone"
    assert (await gateway.wait_frame("aibot_send_msg"))["body"]["template_card"]["task_id"] == result.message_id


async def test_enter_chat_is_welcomed_with_the_welcome_frame(robot_adapter, gateway, sink) -> None:
    body = {"msgid": "EVT-W", "create_time": 1795137000, "aibotid": "BOT-1", "chattype": "single",
            "from": {"userid": "lilei"}, "msgtype": "event", "event": {"eventtype": "enter_chat"}}
    req_id = await gateway.push("aibot_event_callback", body)
    (event,) = await sink.wait_events(1)
    assert isinstance(event, BotAdded) and event.conversation.is_direct
    await robot_adapter.send(event.conversation, PLAIN_TEXT, reply_to_message_id=event.message_id)
    frame = await gateway.wait_frame("aibot_respond_welcome_msg")
    assert frame["headers"]["req_id"] == req_id
    assert frame["body"] == {"msgtype": "text", "text": {"content": "Ticket IT-12 was not found."}}


async def test_refused_send_is_a_delivery_error(robot_adapter, gateway) -> None:
    gateway.reply_errcode["aibot_send_msg"] = 40058
    with pytest.raises(DeliveryError) as info:
        await robot_adapter.send(GROUP, PLAIN_TEXT)
    assert not info.value.retryable


async def test_reconnects_after_the_gateway_drops_the_connection(robot_adapter, gateway, sink) -> None:
    await gateway.drop_connections()
    await gateway.wait_for(lambda: gateway.subscriptions >= 2)
    await robot_adapter.robot.ready.wait()
    await gateway.push("aibot_msg_callback", group_mention("MSG-AFTER"))
    (event,) = await sink.wait_events(1)
    assert event.event_id == "aibot:MSG-AFTER"


async def test_wrong_secret_keeps_retrying_and_sends_fail_retryable(qyapi, gateway, sink) -> None:
    cfg = wecom_config(qyapi.url, robot_url=gateway.url)
    cfg.robot.secret = "WRONG"
    a = create_adapter(cfg, robot_backoff_base=0.01)
    await a.start(sink)
    try:
        await gateway.wait_frame("aibot_subscribe", count=3)
        assert gateway.subscriptions == 0 and not a.robot.ready.is_set()
        with pytest.raises(DeliveryError) as info:
            await a.send(GROUP, PLAIN_TEXT)
        assert info.value.retryable
    finally:
        await a.stop()


async def test_heartbeat_pings(gateway) -> None:
    async def ignore(frame: dict) -> None:
        raise AssertionError("no callbacks expected")

    link = RobotLink(ws_url=gateway.url, bot_id="BOT-1", secret="ROBOT-SECRET", on_frame=ignore,
                     heartbeat_seconds=0.02)
    link.start()
    try:
        ping = await gateway.wait_frame("ping", count=2)
        assert "body" not in ping and ping["headers"]["req_id"].startswith("ping_")
    finally:
        await link.stop()
    assert link.connects == 1
