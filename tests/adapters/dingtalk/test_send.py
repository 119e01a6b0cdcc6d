"""Sending through the fake Open API: robot messages, cards created and updated, session webhooks, errors."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from core.events import ConversationRef, UserRef
from core.replies import DeliveryError, Reply
from tests import sample_replies
from tests.adapters.dingtalk.conftest import make_adapter
from tests.fakes.dingtalk import CLIENT_ID, FakeDingTalk

GROUP = ConversationRef(platform="dingtalk", tenant="ding-corp", chat_id="cidGroupA==")
DIRECT = ConversationRef(platform="dingtalk", tenant="ding-corp", chat_id="@u-lilei", is_direct=True)
LILEI = UserRef(platform="dingtalk", user_id="u-lilei", display_name="Li Lei")
GROUP_SEND = "/v1.0/robot/groupMessages/send"
DIRECT_SEND = "/v1.0/robot/oToMessages/batchSend"
CARD_SEND = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE = "/v1.0/card/instances"
WEBHOOK = "/robot/sendBySession"


@pytest.fixture
async def plain(fake: FakeDingTalk):
    """An adapter without a card template (markdown fallback), not connected to the gateway."""
    adapter = make_adapter(fake, card_template_id=None)
    yield adapter
    await adapter.stop()


@pytest.fixture
async def carded(fake: FakeDingTalk):
    adapter = make_adapter(fake)
    yield adapter
    await adapter.stop()


def test_send_rate_is_twenty_a_minute(plain) -> None:
    assert plain.send_rate == (20, 60.0)


async def test_group_markdown_fallback_with_cached_token(fake: FakeDingTalk, plain) -> None:
    first = await plain.send(GROUP, sample_replies.TICKET_CARD)
    second = await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert first.message_id and first.message_id != second.message_id and not first.updated_in_place
    assert len(fake.calls_to("/v1.0/oauth2/accessToken")) == 1
    sends = fake.calls_to(GROUP_SEND)
    assert [c["json"]["msgKey"] for c in sends] == ["sampleMarkdown", "sampleText"]
    body = sends[0]["json"]
    assert body["openConversationId"] == "cidGroupA==" and body["robotCode"] == CLIENT_ID
    assert sends[0]["token"] in fake.tokens
    text = json.loads(body["msgParam"])["text"]
    assert "[1] Claim" in text and "[2] Resolve" in text and "**Priority**: P2" in text


async def test_direct_message_goes_through_batch_send(fake: FakeDingTalk, plain) -> None:
    result = await plain.send(DIRECT, sample_replies.PLAIN_TEXT)
    (call,) = fake.calls_to(DIRECT_SEND)
    assert call["json"]["userIds"] == ["u-lilei"]
    assert json.loads(call["json"]["msgParam"]) == {"content": "Ticket IT-12 was not found."}
    assert result.message_id and result.message_id.startswith("pqk-")


async def test_fallback_card_cannot_be_edited_so_it_is_posted_anew(fake: FakeDingTalk, plain) -> None:
    result = await plain.send(GROUP, sample_replies.TICKET_CARD, update_message_id="pqk-1")
    assert not result.updated_in_place and result.message_id
    assert fake.calls_to(CARD_UPDATE) == []


async def test_ephemeral_in_a_group_is_sent_to_that_person_only(fake: FakeDingTalk, plain) -> None:
    reply = Reply(fallback_text="Only technicians can claim tickets.", only_visible_to=LILEI)
    await plain.send(GROUP, reply)
    assert fake.calls_to(GROUP_SEND) == []
    assert fake.calls_to(DIRECT_SEND)[0]["json"]["userIds"] == ["u-lilei"]


async def test_mention_is_written_into_open_api_text(fake: FakeDingTalk, plain) -> None:
    await plain.send(GROUP, Reply(fallback_text="IT-12 opened", mention=LILEI))
    param = json.loads(fake.calls_to(GROUP_SEND)[0]["json"]["msgParam"])
    assert param["content"] == "@Li Lei IT-12 opened"


async def test_ticket_card_is_created_and_delivered_to_the_group(fake: FakeDingTalk, carded) -> None:
    reply = replace(sample_replies.TICKET_CARD, mention=LILEI)
    result = await carded.send(GROUP, reply)
    (call,) = fake.calls_to(CARD_SEND)
    body = call["json"]
    assert body["cardTemplateId"] == "tpl-ticket.schema" and body["callbackType"] == "STREAM"
    assert body["openSpaceId"] == "dtv1.card//IM_GROUP.cidGroupA=="
    assert body["imGroupOpenDeliverModel"] == {"robotCode": CLIENT_ID, "atUserIds": {"u-lilei": "Li Lei"}}
    assert result.message_id == body["outTrackId"] and not result.updated_in_place
    assert fake.cards[result.message_id]["params"]["title"] == "IT-12 · VPN 连不上了"
    assert fake.calls_to(GROUP_SEND) == []


async def test_card_in_a_direct_chat_goes_to_the_robot_space(fake: FakeDingTalk, carded) -> None:
    await carded.send(DIRECT, sample_replies.SURVEY_CARD)
    body = fake.calls_to(CARD_SEND)[0]["json"]
    assert body["openSpaceId"] == "dtv1.card//IM_ROBOT.u-lilei"
    assert body["imRobotOpenDeliverModel"] == {"spaceType": "IM_ROBOT", "robotCode": CLIENT_ID}


async def test_ephemeral_card_is_delivered_to_its_recipient_only(fake: FakeDingTalk, carded) -> None:
    reply = replace(sample_replies.TICKET_CARD, only_visible_to=LILEI)
    await carded.send(GROUP, reply)
    assert fake.calls_to(CARD_SEND)[0]["json"]["imGroupOpenDeliverModel"]["recipients"] == ["u-lilei"]


async def test_card_is_updated_in_place(fake: FakeDingTalk, carded) -> None:
    first = await carded.send(GROUP, sample_replies.TICKET_CARD)
    resolved = replace(sample_replies.TICKET_CARD, status="resolved", buttons=())
    second = await carded.send(GROUP, resolved, update_message_id=first.message_id)
    assert second.message_id == first.message_id and second.updated_in_place
    (call,) = fake.calls_to(CARD_UPDATE)
    assert call["method"] == "PUT" and call["json"]["outTrackId"] == first.message_id
    card = fake.cards[first.message_id]["params"]
    assert card["status"] == "resolved" and json.loads(card["buttons"]) == []
    assert len(fake.calls_to(CARD_SEND)) == 1


async def test_unknown_card_is_posted_anew(fake: FakeDingTalk, carded) -> None:
    result = await carded.send(GROUP, sample_replies.TICKET_CARD, update_message_id="deskbot-gone")
    assert not result.updated_in_place and result.message_id != "deskbot-gone"
    assert result.message_id in fake.cards


async def test_session_webhook_is_used_while_valid(fake: FakeDingTalk, running) -> None:
    adapter, _ = running
    mid = fake.push_robot_message(fake.robot_message())
    await fake.wait_ack(mid)
    result = await adapter.send(GROUP, Reply(fallback_text="Got it: IT-13", mention=LILEI))
    assert result.message_id is None
    (call,) = fake.calls_to(WEBHOOK)
    assert call["json"] == {"msgtype": "text", "text": {"content": "Got it: IT-13 @u-lilei"},
                            "at": {"atUserIds": ["u-lilei"], "isAtAll": False}}
    assert fake.calls_to(GROUP_SEND) == [] and fake.calls_to("/v1.0/oauth2/accessToken") == []


async def test_expiring_session_webhook_is_not_used(fake: FakeDingTalk, running) -> None:
    adapter, _ = running
    mid = fake.push_robot_message(fake.robot_message(webhook_ttl=30))
    await fake.wait_ack(mid)
    await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    assert fake.calls_to(WEBHOOK) == [] and len(fake.calls_to(GROUP_SEND)) == 1


async def test_refused_session_webhook_falls_back_to_open_api(fake: FakeDingTalk, running) -> None:
    adapter, _ = running
    mid = fake.push_robot_message(fake.robot_message())
    await fake.wait_ack(mid)
    fake.sessions.clear()  # the platform ended the session early
    await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    assert len(fake.calls_to(WEBHOOK)) == 1  # forgotten after the refusal
    assert len(fake.calls_to(GROUP_SEND)) == 2


async def test_throttling_is_retryable_with_retry_after(fake: FakeDingTalk, plain) -> None:
    fake.fail_next(GROUP_SEND, 429, {"code": "Throttling.Api", "message": "too fast"}, {"Retry-After": "7"})
    with pytest.raises(DeliveryError) as caught:
        await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable and caught.value.retry_after == 7.0
    fake.fail_next(GROUP_SEND, 403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps"})
    with pytest.raises(DeliveryError) as caught:
        await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable and caught.value.retry_after and caught.value.retry_after > 0


async def test_flow_controlled_direct_send_is_retryable(fake: FakeDingTalk, plain) -> None:
    fake.fail_next(DIRECT_SEND, 200, {"processQueryKey": "pqk-x", "flowControlledStaffIdList": ["u-lilei"]})
    with pytest.raises(DeliveryError) as caught:
        await plain.send(DIRECT, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable


async def test_server_errors_retry_and_permission_errors_do_not(fake: FakeDingTalk, plain) -> None:
    fake.fail_next(GROUP_SEND, 502, {"code": "ServiceUnavailable"})
    with pytest.raises(DeliveryError) as caught:
        await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable
    fake.fail_next(GROUP_SEND, 400, {"code": "robot.notInGroup", "message": "robot is not in the group"})
    with pytest.raises(DeliveryError) as caught:
        await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert not caught.value.retryable and "robot.notInGroup" in caught.value.reason


async def test_expired_token_is_refreshed_after_a_retryable_failure(fake: FakeDingTalk, plain) -> None:
    await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    fake.expire_tokens()
    with pytest.raises(DeliveryError) as caught:
        await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable
    await plain.send(GROUP, sample_replies.PLAIN_TEXT)
    assert len(fake.calls_to("/v1.0/oauth2/accessToken")) == 2
    assert fake.calls_to(GROUP_SEND)[-1]["token"] in fake.tokens


async def test_unreachable_api_is_retryable(fake: FakeDingTalk) -> None:
    adapter = make_adapter(fake)
    adapter.api_base_url = "http://127.0.0.1:1"  # nothing listens on port 1
    try:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    finally:
        await adapter.stop()
    assert caught.value.retryable


async def test_core_direct_message_convention_goes_through_batch_send(fake: FakeDingTalk, plain) -> None:
    # core starts DMs itself as chat_id "@<userId>" (core.tickets.dm_to)
    await plain.send(ConversationRef(platform="dingtalk", chat_id="@u-lilei", is_direct=True),
                     sample_replies.PLAIN_TEXT)
    await plain.send(ConversationRef(platform="dingtalk", chat_id="@u-hanmei"), sample_replies.PLAIN_TEXT)
    assert [c["json"]["userIds"] for c in fake.calls_to(DIRECT_SEND)] == [["u-lilei"], ["u-hanmei"]]
    assert fake.calls_to(GROUP_SEND) == []


async def test_core_direct_message_card_goes_to_the_robot_space(fake: FakeDingTalk, carded) -> None:
    to = ConversationRef(platform="dingtalk", chat_id="@u-lilei", is_direct=True)
    await carded.send(to, sample_replies.SURVEY_CARD)
    assert fake.calls_to(CARD_SEND)[0]["json"]["openSpaceId"] == "dtv1.card//IM_ROBOT.u-lilei"


async def test_send_after_stop_is_retryable_and_opens_nothing(fake: FakeDingTalk) -> None:
    adapter = make_adapter(fake)
    await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    await adapter.stop()
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(GROUP, sample_replies.PLAIN_TEXT)
    assert caught.value.retryable
    assert len(fake.calls_to(GROUP_SEND)) == 1


async def test_stop_lets_a_send_under_way_finish(fake: FakeDingTalk) -> None:
    adapter = make_adapter(fake)
    await adapter.send(GROUP, sample_replies.PLAIN_TEXT)  # token fetched, client open
    fake.delay_next(GROUP_SEND, 0.3)
    sending = asyncio.create_task(adapter.send(GROUP, sample_replies.PLAIN_TEXT))
    await fake.wait_calls(GROUP_SEND, 2)
    await adapter.stop()
    assert sending.done()
    assert (await sending).message_id  # answered, not cut off by the closed HTTP client
