"""Outbound through the real AsyncWebClient against the fake Slack Web API."""

from __future__ import annotations

import pytest

from core.events import ConversationRef, UserRef
from core.replies import DeliveryError, Reply
from tests.adapters.slack.helpers import command_form, signed_headers
from tests.sample_replies import EPHEMERAL, PLAIN_TEXT, SURVEY_CARD, TICKET_CARD

GENERAL = ConversationRef(platform="slack", chat_id="CGENERAL")


async def test_card_is_posted_in_the_thread(adapter, fake):
    to = GENERAL.in_thread("CGENERAL:1763802840.000100")
    result = await adapter.send(to, TICKET_CARD)
    [call] = fake.calls_to("chat.postMessage")
    assert call.token == "xoxb-test"
    assert call.params["channel"] == "CGENERAL"
    assert call.params["thread_ts"] == "1763802840.000100"
    assert call.params["blocks"][0]["type"] == "header"
    assert call.params["text"] == TICKET_CARD.fallback_text
    assert result.message_id == f"CGENERAL:{fake.messages['CGENERAL'][0]['ts']}"
    assert not result.updated_in_place


async def test_reply_to_message_id_threads_when_no_thread_is_set(adapter, fake):
    await adapter.send(GENERAL, PLAIN_TEXT, reply_to_message_id="CGENERAL:5.000001")
    assert fake.calls_to("chat.postMessage")[0].params["thread_ts"] == "5.000001"


async def test_card_is_updated_in_place(adapter, fake):
    first = await adapter.send(GENERAL, TICKET_CARD)
    again = await adapter.send(GENERAL, SURVEY_CARD, update_message_id=first.message_id)
    [update] = fake.calls_to("chat.update")
    channel, ts = first.message_id.split(":")
    assert (update.params["channel"], update.params["ts"]) == (channel, ts)
    assert update.params["blocks"][0]["text"]["text"] == SURVEY_CARD.title
    assert again.message_id == first.message_id and again.updated_in_place
    assert fake.messages["CGENERAL"][0]["blocks"][0]["text"]["text"] == SURVEY_CARD.title


async def test_update_to_plain_text_clears_the_blocks(adapter, fake):
    first = await adapter.send(GENERAL, TICKET_CARD)
    await adapter.send(GENERAL, PLAIN_TEXT, update_message_id=first.message_id)
    assert fake.calls_to("chat.update")[0].params["blocks"] == []


async def test_a_card_that_cannot_be_edited_is_posted_again_in_its_thread(adapter, fake):
    to = GENERAL.in_thread("CGENERAL:1763802840.000100")
    result = await adapter.send(to, TICKET_CARD, update_message_id="CGENERAL:1.000000")  # deleted meanwhile
    assert [c.params["ts"] for c in fake.calls_to("chat.update")] == ["1.000000"]
    [post] = fake.calls_to("chat.postMessage")
    assert post.params["thread_ts"] == "1763802840.000100" and post.params["blocks"][0]["type"] == "header"
    assert not result.updated_in_place and result.message_id == f"CGENERAL:{fake.messages['CGENERAL'][0]['ts']}"


async def test_other_update_failures_are_not_reposted(adapter, fake):
    first = await adapter.send(GENERAL, TICKET_CARD)
    fake.fail("chat.update", error="invalid_blocks")
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GENERAL, SURVEY_CARD, update_message_id=first.message_id)
    assert not err.value.retryable and "invalid_blocks" in err.value.reason
    assert len(fake.calls_to("chat.postMessage")) == 1


async def test_ephemeral(adapter, fake):
    result = await adapter.send(GENERAL.in_thread("CGENERAL:3.0"), EPHEMERAL)
    [call] = fake.calls_to("chat.postEphemeral")
    assert (call.params["channel"], call.params["user"], call.params["thread_ts"]) == ("CGENERAL", "U1", "3.0")
    assert call.params["text"] == "Only technicians can claim tickets."
    assert result.message_id is None
    assert not fake.calls_to("chat.postMessage")


async def test_dm_to_a_user_opens_the_conversation_once(adapter, fake):
    to = ConversationRef(platform="slack", chat_id="U1", is_direct=True)
    first = await adapter.send(to, SURVEY_CARD)
    await adapter.send(to, PLAIN_TEXT)
    assert [c.params["users"] for c in fake.calls_to("conversations.open")] == ["U1"]
    assert {c.params["channel"] for c in fake.calls_to("chat.postMessage")} == {"D1"}
    assert first.message_id.startswith("D1:")


async def test_core_dm_convention_opens_the_conversation(adapter, fake):
    # core writes to a person first as chat_id "@<user_id>" (tickets.dm_to)
    to = ConversationRef(platform="slack", chat_id="@U2", is_direct=True)
    first = await adapter.send(to, PLAIN_TEXT)
    again = await adapter.send(to, TICKET_CARD)
    await adapter.send(to, SURVEY_CARD, update_message_id=again.message_id)
    assert [c.params["users"] for c in fake.calls_to("conversations.open")] == ["U2"]
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == ["D2", "D2"]
    assert first.message_id.startswith("D2:")
    assert fake.calls_to("chat.update")[0].params["channel"] == "D2"


async def test_dm_that_cannot_be_opened_is_permanent(adapter, fake):
    fake.fail("conversations.open", error="user_not_found")
    with pytest.raises(DeliveryError) as err:
        await adapter.send(ConversationRef(platform="slack", chat_id="@UGONE", is_direct=True), PLAIN_TEXT)
    assert not err.value.retryable and "user_not_found" in err.value.reason
    assert not fake.calls_to("chat.postMessage")


async def test_dm_channel_is_used_as_is(adapter, fake):
    await adapter.send(ConversationRef(platform="slack", chat_id="D0U1", is_direct=True), PLAIN_TEXT)
    assert not fake.calls_to("conversations.open")
    assert fake.calls_to("chat.postMessage")[0].params["channel"] == "D0U1"


async def test_mention_is_rendered(adapter, fake):
    await adapter.send(GENERAL, Reply(fallback_text="your ticket IT-3 is open",
                                      mention=UserRef(platform="slack", user_id="U1")))
    assert fake.calls_to("chat.postMessage")[0].params["text"] == "<@U1> your ticket IT-3 is open"


async def test_429_carries_retry_after(adapter, fake):
    fake.fail("chat.postMessage", error="ratelimited", status=429, headers={"Retry-After": "7"})
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GENERAL, TICKET_CARD)
    assert err.value.retryable and err.value.retry_after == 7.0
    # the next attempt goes through
    assert (await adapter.send(GENERAL, TICKET_CARD)).message_id


@pytest.mark.parametrize(("status", "error", "retryable"), [
    (200, "ratelimited", True),
    (503, "service_unavailable", True),
    (500, "internal_error", True),
    (200, "channel_not_found", False),
    (200, "not_in_channel", False),
    (200, "is_archived", False),
    (200, "invalid_auth", False),
])
async def test_error_classification(adapter, fake, status, error, retryable):
    fake.fail("chat.postMessage", error=error, status=status)
    with pytest.raises(DeliveryError) as err:
        await adapter.send(GENERAL, PLAIN_TEXT)
    assert err.value.retryable is retryable
    assert error in err.value.reason


async def test_cant_update_posts_the_new_version(adapter, fake):
    first = await adapter.send(GENERAL, TICKET_CARD)
    fake.fail("chat.update", error="cant_update_message")
    again = await adapter.send(GENERAL, TICKET_CARD, update_message_id=first.message_id)
    assert not again.updated_in_place and again.message_id != first.message_id
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_unreachable_api_is_retryable(fake):
    from adapters.slack.transport import SlackAdapter

    port = fake.port
    fake.stop()
    a = SlackAdapter(mode="http", bot_token="x", signing_secret="s", api_base_url=f"http://127.0.0.1:{port}/api/",
                     api_timeout=2)
    with pytest.raises(DeliveryError) as err:
        await a.send(GENERAL, PLAIN_TEXT)
    assert err.value.retryable


async def test_ephemeral_falls_back_to_the_commands_response_url(http, adapter, sink, fake):
    # The bot is not in #random: a refusal for /ticket typed there goes through the command's response_url.
    body = command_form("claim IT-12", user="U1", channel="CRANDOM", response_url=fake.response_url("cmd1"))
    resp = await http.post("/slack/events", content=body,
                           headers=signed_headers(body, content_type="application/x-www-form-urlencoded"))
    assert resp.status_code == 200
    fake.fail("chat.postEphemeral", error="channel_not_found")
    await adapter.send(ConversationRef(platform="slack", chat_id="CRANDOM"), EPHEMERAL)
    [answer] = fake.calls_to("response_url")
    assert answer.path == "/response/cmd1"
    assert answer.params["response_type"] == "ephemeral"
    assert answer.params["text"] == "Only technicians can claim tickets."
