"""Sending through the fake Open API: create, threaded reply, in-place patch, ephemeral, errors, token cache."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from adapters.feishu import create_adapter
from core.events import ConversationRef, UserRef
from core.replies import DeliveryError, Reply
from tests.adapters.feishu.helpers import config
from tests.sample_replies import PLAIN_TEXT, SURVEY_CARD, TICKET_CARD

GROUP = ConversationRef(platform="feishu", tenant="tenant1", chat_id="oc_general")


async def test_top_level_card_is_created_in_the_chat(adapter, fake):
    result = await adapter.send(GROUP, TICKET_CARD)
    [call] = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert call.params == {"receive_id_type": "chat_id"}
    assert call.body["receive_id"] == "oc_general" and call.body["msg_type"] == "interactive"
    assert call.content["header"]["title"]["content"] == "IT-12 · VPN 连不上了"
    assert call.content["config"]["update_multi"] is True
    assert call.token in fake.issued_tokens
    assert 0 < len(call.body["uuid"]) <= 50
    assert result.message_id == call_message_id(fake, call) and not result.updated_in_place


def call_message_id(fake, call) -> str:
    return next(m for m, item in fake.messages.items() if item["body"]["content"] == call.body["content"])


async def test_reply_in_thread_when_the_conversation_has_a_thread(adapter, fake):
    fake.add_message("om_root", chat_id="oc_general", text="VPN down", sender_open_id="ou_lilei")
    result = await adapter.send(GROUP.in_thread("om_root"), PLAIN_TEXT)
    [call] = fake.calls_to("POST", "/messages/om_root/reply")
    assert call.body["reply_in_thread"] is True
    assert call.body["msg_type"] == "text" and call.content == {"text": "Ticket IT-12 was not found."}
    assert fake.messages[result.message_id]["root_id"] == "om_root"


async def test_reply_to_a_message_without_thread_quotes_it(adapter, fake):
    fake.add_message("om_q", chat_id="oc_general", text="hi", sender_open_id="ou_lilei")
    await adapter.send(GROUP, PLAIN_TEXT, reply_to_message_id="om_q")
    [call] = fake.calls_to("POST", "/messages/om_q/reply")
    assert call.body["reply_in_thread"] is False


async def test_card_update_patches_in_place(adapter, fake):
    first = await adapter.send(GROUP, TICKET_CARD)
    result = await adapter.send(GROUP, SURVEY_CARD, update_message_id=first.message_id)
    [call] = fake.calls_to("PATCH", f"/messages/{first.message_id}")
    assert set(call.body) == {"content"}
    assert call.content["header"]["template"] == "green"
    assert (result.message_id, result.updated_in_place) == (first.message_id, True)


async def test_text_cannot_be_patched_so_it_is_posted_anew(adapter, fake):
    result = await adapter.send(GROUP, PLAIN_TEXT, update_message_id="om_old")
    assert not fake.calls_to("PATCH", "/messages/")
    assert result.message_id and result.message_id != "om_old" and not result.updated_in_place


async def test_retried_send_carries_the_same_uuid_and_is_shown_once(adapter, fake):
    a = await adapter.send(GROUP, TICKET_CARD)
    b = await adapter.send(GROUP, TICKET_CARD)
    calls = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert calls[0].body["uuid"] == calls[1].body["uuid"]
    assert a.message_id == b.message_id
    c = await adapter.send(GROUP.in_thread("om_x"), TICKET_CARD)
    assert fake.calls_to("POST", "/reply")[0].body["uuid"] != calls[0].body["uuid"]
    assert c.message_id != a.message_id


async def test_outbox_key_makes_the_uuid_of_every_retry_of_a_row(adapter, fake):
    first = await adapter.send(GROUP, PLAIN_TEXT, idempotency_key="deskbot-outbox-42")
    again = await adapter.send(GROUP, PLAIN_TEXT, idempotency_key="deskbot-outbox-42")
    calls = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert calls[0].body["uuid"].startswith("deskbot-outbox-42-")
    assert calls[0].body["uuid"] == calls[1].body["uuid"] and len(calls[0].body["uuid"]) <= 50
    assert first.message_id == again.message_id  # the retry is shown once
    # the same text from another outbox row is a new message, not swallowed as a retry
    other = await adapter.send(GROUP, PLAIN_TEXT, idempotency_key="deskbot-outbox-43")
    assert other.message_id != first.message_id


def test_outbox_key_reused_by_another_database_does_not_swallow_a_different_message():
    from adapters.feishu.transport import send_uuid

    key = "deskbot-outbox-7"
    card = send_uuid(GROUP, TICKET_CARD, None, None, key=key)
    assert card != send_uuid(GROUP, SURVEY_CARD, None, None, key=key)
    assert card == send_uuid(GROUP, TICKET_CARD, "om_1", None, key=key)  # the row's retry, same uuid
    long = send_uuid(GROUP, TICKET_CARD, None, None, key="k" * 80)
    assert len(long) == 50 and long == send_uuid(GROUP, TICKET_CARD, None, None, key="k" * 80)


@pytest.mark.parametrize(("chat_id", "id_type", "receive_id"), [
    ("@ou_wangfang", "open_id", "ou_wangfang"),
    ("@on_wangfang", "union_id", "on_wangfang"),
])
async def test_direct_message_core_starts_goes_to_the_person(adapter, fake, chat_id, id_type, receive_id):
    to = ConversationRef(platform="feishu", chat_id=chat_id, is_direct=True)
    result = await adapter.send(to, PLAIN_TEXT, idempotency_key="deskbot-outbox-9")
    [call] = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert call.params == {"receive_id_type": id_type}
    assert call.body["receive_id"] == receive_id and call.content == {"text": "Ticket IT-12 was not found."}
    assert result.message_id and not fake.calls_to("POST", "/ephemeral/")


async def test_private_reply_to_a_person_core_writes_to_is_a_direct_message(adapter, fake):
    reply = Reply(fallback_text="You were assigned IT-12.", only_visible_to=UserRef(platform="feishu",
                                                                                  user_id="ou_wangfang"))
    await adapter.send(ConversationRef(platform="feishu", chat_id="@ou_wangfang"), reply)
    [call] = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert call.params == {"receive_id_type": "open_id"} and call.body["receive_id"] == "ou_wangfang"
    assert not fake.calls_to("POST", "/ephemeral/")


async def test_ephemeral_reply_goes_to_the_ephemeral_endpoint(adapter, fake):
    reply = Reply(fallback_text="Only technicians can claim tickets.",
                  only_visible_to=UserRef(platform="feishu", user_id="ou_lilei"))
    result = await adapter.send(GROUP, reply)
    [call] = fake.calls_to("POST", "/open-apis/ephemeral/v1/send")
    assert call.body["open_id"] == "ou_lilei" and call.body["chat_id"] == "oc_general"
    assert call.body["card"]["elements"][0]["content"] == "Only technicians can claim tickets."
    assert result.message_id.startswith("om_eph_")
    # in a direct chat there is nobody else: a normal message
    await adapter.send(ConversationRef(platform="feishu", chat_id="oc_p2p", is_direct=True), reply)
    assert len(fake.calls_to("POST", "/open-apis/ephemeral/v1/send")) == 1


async def test_token_is_fetched_once_for_concurrent_sends_and_cached(adapter, fake):
    await asyncio.gather(*(adapter.send(GROUP, Reply(fallback_text=f"m{n}")) for n in range(5)))
    await adapter.send(GROUP, Reply(fallback_text="later"))
    assert len(fake.calls_to("POST", "tenant_access_token")) == 1
    assert len({c.token for c in fake.calls_to("POST", "/open-apis/im/v1/messages")}) == 1


async def test_invalid_token_is_refetched_once(adapter, fake):
    await adapter.send(GROUP, Reply(fallback_text="one"))
    fake.revoked_tokens.update(fake.issued_tokens)
    await adapter.send(GROUP, Reply(fallback_text="two"))
    assert len(fake.calls_to("POST", "tenant_access_token")) == 2
    assert fake.calls_to("POST", "/open-apis/im/v1/messages")[-1].token == fake.issued_tokens[-1]


async def test_429_is_retryable_after_the_rate_limit_reset(adapter, fake):
    fake.fail_next("/open-apis/im/v1/messages", status=429, code=99991400, msg="request trigger frequency limit",
                   headers={"x-ogw-ratelimit-reset": "7"})
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, TICKET_CARD)
    assert err.value.retryable and err.value.retry_after == 7.0


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (400, 99991400, True),  # rate limit reported in the body
    (400, 230020, True),    # per-chat frequency limit
    (500, 1, True),
    (503, 0, True),
    (400, 230002, False),   # bot removed from the chat
    (400, 230027, False),   # no permission
    (400, 230011, False),   # recalled
    (400, 230001, False),   # bad request: retrying changes nothing
])
async def test_errors_are_classified(adapter, fake, status, code, retryable):
    fake.fail_next("/open-apis/im/v1/messages", status=status, code=code)
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, TICKET_CARD)
    assert err.value.retryable is retryable


async def test_patch_of_a_recalled_card_is_permanent(adapter, fake):
    first = await adapter.send(GROUP, TICKET_CARD)
    fake.fail_next(f"/messages/{first.message_id}", status=400, code=230011, msg="message recalled")
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, TICKET_CARD, update_message_id=first.message_id)
    assert not err.value.retryable and "recalled" in err.value.reason


async def test_unreachable_api_is_retryable():
    adapter = create_adapter(config(domain="http://127.0.0.1:9"))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    adapter.api._transport = httpx.MockTransport(refuse)
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, PLAIN_TEXT)
    assert err.value.retryable
    await adapter.stop()


async def test_api_lost_during_a_send_is_retryable(adapter, fake):
    await adapter.send(GROUP, PLAIN_TEXT)  # token cached: the next send goes straight to lark-oapi
    fake.stop()
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, TICKET_CARD)
    assert err.value.retryable and "/open-apis/im/v1/messages" in err.value.reason


async def test_domain_lark_oapi_refuses_parks_the_send():
    # lark-oapi takes https origins only (http on loopback): nothing is sent, nothing retried
    adapter = create_adapter(config(domain="http://feishu.internal:8080"))
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GROUP, PLAIN_TEXT)
    assert not err.value.retryable and "https" in err.value.reason
    await adapter.stop()


def test_domain_aliases():
    from adapters.feishu.api import base_url

    assert base_url("feishu") == "https://open.feishu.cn"
    assert base_url("Lark") == "https://open.larksuite.com"
    assert base_url("http://127.0.0.1:5/") == "http://127.0.0.1:5"


def test_send_rate():
    assert create_adapter(config()).send_rate == (5, 1.0)


def test_uuid_is_stable_and_depends_on_what_is_sent():
    from adapters.feishu.transport import send_uuid

    a = send_uuid(GROUP, TICKET_CARD, None, None)
    assert a == send_uuid(GROUP, TICKET_CARD, None, None)
    assert a != send_uuid(GROUP, SURVEY_CARD, None, None)
    assert a != send_uuid(GROUP.in_thread("om_1"), TICKET_CARD, None, None)
    assert json.dumps(a)  # plain string
