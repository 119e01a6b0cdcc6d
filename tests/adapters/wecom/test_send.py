"""Sending through the app against a fake qyapi: token cache and refresh, cards, updates with ResponseCode."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.wecom import create_adapter
from core.events import ConversationRef, UserRef
from core.replies import DeliveryError, Reply
from tests.adapters.wecom.conftest import AGENT_ID, CORP_ID, click_xml, wecom_config
from tests.sample_replies import PLAIN_TEXT, SURVEY_CARD, TICKET_CARD

DM = ConversationRef(platform="wecom", tenant=CORP_ID, chat_id="lilei", is_direct=True)
SEND = "/cgi-bin/message/send"
UPDATE = "/cgi-bin/message/update_template_card"
TOKEN = "/cgi-bin/gettoken"


async def test_text_send_fetches_the_token_once_and_reuses_it(adapter, qyapi) -> None:
    first = await adapter.send(DM, PLAIN_TEXT)
    second = await adapter.send(DM, PLAIN_TEXT)
    assert len(qyapi.calls_to(TOKEN)) == 1
    sends = qyapi.calls_to(SEND)
    assert len(sends) == 2
    assert sends[0]["query"]["access_token"] == "TOKEN-1"
    assert sends[0]["json"] == {"touser": "lilei", "agentid": AGENT_ID, "msgtype": "text",
                                "text": {"content": "Ticket IT-12 was not found."}}
    assert first.message_id and first.message_id != second.message_id
    assert not first.updated_in_place


async def test_expired_token_is_refreshed_and_the_send_retried(adapter, qyapi) -> None:
    await adapter.send(DM, PLAIN_TEXT)
    qyapi.expire_tokens()  # WeCom answers 42001 to the cached token
    await adapter.send(DM, PLAIN_TEXT)
    assert [c["path"] for c in qyapi.calls] == [TOKEN, SEND, SEND, TOKEN, SEND]
    assert qyapi.calls[-1]["query"]["access_token"] == "TOKEN-3"
    assert len(qyapi.sent) == 2


async def test_card_send_uses_a_unique_task_id(adapter, qyapi) -> None:
    a = await adapter.send(DM, TICKET_CARD)
    b = await adapter.send(DM, TICKET_CARD)
    cards = [c["json"]["template_card"] for c in qyapi.calls_to(SEND)]
    assert [c["task_id"] for c in cards] == [a.message_id, b.message_id]
    assert a.message_id != b.message_id and a.message_id.startswith("ticket_12-")
    assert cards[0]["card_type"] == "button_interaction"
    assert [btn["key"] for btn in cards[0]["button_list"]] == ["ticket.claim?ticket=12", "ticket.resolve?ticket=12"]


async def test_card_update_uses_the_most_recent_response_code(adapter, qyapi, client, signer, sink) -> None:
    sent = await adapter.send(DM, TICKET_CARD)
    task_id = sent.message_id
    # the technician clicks Claim: WeCom issues a fresh ResponseCode with the click
    qyapi.response_codes["RC-CLICK-1"] = task_id
    url, body = signer.post(click_xml(task_id, "ticket.claim?ticket=12", "RC-CLICK-1", user="lilei"))
    assert (await client.post(url, content=body)).status_code == 200
    assert sink.events[0].card_message_id == task_id

    claimed = replace(TICKET_CARD, fallback_text="IT-12 claimed", title="IT-12 · claimed by Wang Fang")
    result = await adapter.send(DM, claimed, update_message_id=task_id)
    assert result.message_id == task_id and result.updated_in_place
    update = qyapi.calls_to(UPDATE)[0]["json"]
    assert update["response_code"] == "RC-CLICK-1"
    assert update["agentid"] == AGENT_ID and update["userids"] == ["lilei"]
    assert update["template_card"]["task_id"] == task_id

    # the click's code is single use and now spent: the next change posts a new card
    again = await adapter.send(DM, replace(claimed, title="IT-12 · resolved"), update_message_id=task_id)
    assert not again.updated_in_place and again.message_id != task_id
    assert len(qyapi.calls_to(UPDATE)) == 1
    assert qyapi.calls_to(SEND)[-1]["json"]["template_card"]["task_id"] == again.message_id


async def test_update_without_a_click_uses_the_code_from_message_send(adapter, qyapi) -> None:
    sent = await adapter.send(DM, SURVEY_CARD)
    closed = replace(SURVEY_CARD, body_md="IT-12 is closed. You can still rate it.")
    result = await adapter.send(DM, closed, update_message_id=sent.message_id)
    assert result.updated_in_place
    assert qyapi.calls_to(UPDATE)[0]["json"]["response_code"].startswith("RC-SEND-")


async def test_an_unchanged_card_is_not_updated_and_its_code_is_kept(adapter, qyapi) -> None:
    sent = await adapter.send(DM, TICKET_CARD)
    # a refresh after a refused click redraws the same card: the single-use code is kept for later
    same = await adapter.send(DM, TICKET_CARD, update_message_id=sent.message_id)
    assert same.updated_in_place and same.message_id == sent.message_id
    assert qyapi.calls_to(UPDATE) == []
    changed = await adapter.send(DM, replace(TICKET_CARD, title="IT-12 · claimed"),
                                 update_message_id=sent.message_id)
    assert changed.updated_in_place
    assert qyapi.calls_to(UPDATE)[0]["json"]["response_code"].startswith("RC-SEND-")


async def test_refused_update_posts_anew(adapter, qyapi) -> None:
    sent = await adapter.send(DM, TICKET_CARD)
    qyapi.response_codes.clear()  # WeCom no longer honours the code (72 h passed)
    result = await adapter.send(DM, replace(TICKET_CARD, title="IT-12 · claimed"),
                                update_message_id=sent.message_id)
    assert not result.updated_in_place and result.message_id != sent.message_id
    assert len(qyapi.calls_to(UPDATE)) == 1 and len(qyapi.calls_to(SEND)) == 2


async def test_unknown_card_update_posts_anew_without_calling_update(adapter, qyapi) -> None:
    result = await adapter.send(DM, TICKET_CARD, update_message_id="ticket_12-unknown")
    assert not result.updated_in_place
    assert qyapi.calls_to(UPDATE) == []


@pytest.mark.parametrize(("errcode", "retryable"), [(45009, True), (-1, True), (60011, False), (81013, False)])
async def test_errors_are_classified(adapter, qyapi, errcode: int, retryable: bool) -> None:
    qyapi.fail_next(errcode)
    with pytest.raises(DeliveryError) as info:
        await adapter.send(DM, PLAIN_TEXT)
    assert info.value.retryable is retryable
    assert str(errcode) in info.value.reason


async def test_unreachable_api_is_retryable(sink) -> None:
    a = create_adapter(wecom_config("http://127.0.0.1:9"))  # nothing listens on the discard port
    await a.start(sink)
    try:
        with pytest.raises(DeliveryError) as info:
            await a.send(DM, PLAIN_TEXT)
        assert info.value.retryable
    finally:
        await a.stop()


async def test_groups_need_the_robot_and_ephemeral_goes_to_a_dm(adapter, qyapi) -> None:
    group = ConversationRef(platform="wecom", chat_id="wrGROUP1", is_direct=False)
    with pytest.raises(DeliveryError) as info:
        await adapter.send(group, PLAIN_TEXT)
    assert not info.value.retryable
    private = Reply(fallback_text="Only technicians can claim tickets.",
                    only_visible_to=UserRef(platform="wecom", user_id="hanmeimei"))
    await adapter.send(group, private)
    assert qyapi.calls_to(SEND)[-1]["json"]["touser"] == "hanmeimei"


async def test_core_direct_message_address_is_sent_to_that_userid(adapter, qyapi) -> None:
    # core writes to a person on its own as chat_id "@<userid>" with no tenant (core/tickets.py dm_to)
    await adapter.send(ConversationRef(platform="wecom", chat_id="@hanmeimei", is_direct=True), TICKET_CARD)
    await adapter.send(ConversationRef(platform="wecom", chat_id="@hanmeimei"), PLAIN_TEXT)
    assert [c["json"]["touser"] for c in qyapi.calls_to(SEND)] == ["hanmeimei", "hanmeimei"]


async def test_an_update_without_buttons_greys_the_card_buttons_out(adapter, qyapi) -> None:
    sent = await adapter.send(DM, SURVEY_CARD)
    answered = Reply(fallback_text="Thanks for rating IT-12 5/5.", title="Is it fixed? · IT-12",
                     card_key=SURVEY_CARD.card_key, lang="zh-CN")
    result = await adapter.send(DM, answered, update_message_id=sent.message_id)
    assert result.updated_in_place and result.message_id == sent.message_id
    [update] = qyapi.calls_to(UPDATE)
    assert update["json"]["button"] == {"replace_name": "已处理"} and "template_card" not in update["json"]
    assert len(qyapi.calls_to(SEND)) == 1
    # nothing is left to update on that card: the next version is posted
    again = await adapter.send(DM, answered, update_message_id=sent.message_id)
    assert not again.updated_in_place and qyapi.calls_to(SEND)[-1]["json"]["msgtype"] == "markdown"


async def test_stop_lets_a_send_on_the_wire_finish_and_refuses_new_ones(qyapi, sink) -> None:
    a = create_adapter(wecom_config(qyapi.url))
    await a.start(sink)
    await a.send(DM, PLAIN_TEXT)  # token fetched, client open
    qyapi.hold_sends()
    on_the_wire = asyncio.create_task(a.send(DM, TICKET_CARD))
    await qyapi.held.wait()
    await a.stop()  # the runtime stops adapters first, then drains the outbox
    with pytest.raises(DeliveryError) as info:
        await a.send(DM, PLAIN_TEXT)
    assert info.value.retryable
    qyapi.release_sends()
    result = await on_the_wire
    assert result.message_id and result.message_id.startswith("ticket_12-")
    assert len(qyapi.calls_to(SEND)) == 2
