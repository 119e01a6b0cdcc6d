"""POST /feishu/events: encrypted, signed events and card callbacks; forged, stale and replayed ones rejected."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest
from starlette.applications import Starlette

from adapters.base import IntakeResult
from core.events import ActionClicked, BotAdded, ConversationRef, MessageReceived, ReactionAdded, UserRef
from core.replies import Outgoing, Reply
from tests.adapters.feishu.conftest import NOW
from tests.adapters.feishu.helpers import (
    card_event,
    config,
    encrypt,
    header,
    message_event,
    reaction_event,
    signed,
)
from tests.fakes.sink import RecordingSink
from tests.sample_replies import EPHEMERAL, SURVEY_CARD, TICKET_CARD

TS = str(int(NOW))


async def post(http: httpx.AsyncClient, payload: dict, *, nonce: str = "n-1", timestamp: str = TS, **kw):
    body, headers = signed(payload, timestamp=timestamp, nonce=nonce, **kw)
    return await http.post("/feishu/events", content=body, headers=headers)


async def test_url_verification_answers_the_challenge(http, sink):
    challenge = {"challenge": "ajls384kdjx98XX", "token": "vtoken", "type": "url_verification"}
    body = json.dumps({"encrypt": encrypt(json.dumps(challenge).encode())})
    resp = await http.post("/feishu/events", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    assert resp.json() == {"challenge": "ajls384kdjx98XX"}
    assert sink.events == []


async def test_url_verification_with_wrong_token_is_refused(http):
    challenge = {"challenge": "c", "token": "not-it", "type": "url_verification"}
    body = json.dumps({"encrypt": encrypt(json.dumps(challenge).encode())})
    resp = await http.post("/feishu/events", content=body)
    assert resp.status_code == 401


async def test_mention_is_stored_with_the_bot_mention_removed(http, sink, fake):
    resp = await post(http, message_event("ev1", "VPN 连不上了"))
    assert resp.status_code == 200
    [event] = sink.events
    assert isinstance(event, MessageReceived)
    assert event.mentions_bot and event.text == "VPN 连不上了"
    assert event.event_id == "ev1" and event.message_key == "om_100"
    assert event.conversation == ConversationRef(platform="feishu", tenant="tenant1", chat_id="oc_general")
    # the bot's open_id came from the Open API, with a token fetched over HTTP
    assert fake.calls_to("GET", "/open-apis/bot/v3/info")
    assert fake.calls_to("POST", "/auth/v3/tenant_access_token/internal")


async def test_lower_case_header_names_are_accepted(http, sink):
    body, headers = signed(message_event("ev1", "help"), timestamp=TS)
    resp = await http.post("/feishu/events", content=body, headers={k.lower(): v for k, v in headers.items()})
    assert resp.status_code == 200 and len(sink.events) == 1


async def test_plaintext_body_with_a_valid_signature_is_accepted(http, sink):
    resp = await post(http, message_event("ev1", "help"), encrypted=False)
    assert resp.status_code == 200 and len(sink.events) == 1


@pytest.mark.parametrize("case", ["bad_signature", "wrong_token", "stale", "future", "unsigned", "wrong_key"])
async def test_forged_or_stale_requests_are_rejected_and_nothing_stored(http, sink, case):
    payload = message_event("ev1", "help")
    if case == "bad_signature":
        resp = await post(http, payload, sign_key="someone-else")
    elif case == "wrong_token":
        resp = await post(http, message_event("ev1", "help", token="forged"))
    elif case == "stale":
        resp = await post(http, payload, timestamp=str(int(NOW) - 301))
    elif case == "future":
        resp = await post(http, payload, timestamp=str(int(NOW) + 301))
    elif case == "wrong_key":
        # signed correctly with the right key, but encrypted with another: undecryptable
        body, headers = signed(payload, timestamp=TS, key="other-key", sign_key="test-encrypt-key")
        resp = await http.post("/feishu/events", content=body, headers=headers)
    else:
        body, _ = signed(payload, timestamp=TS)
        resp = await http.post("/feishu/events", content=body)
    assert resp.status_code == (400 if case == "wrong_key" else 401)
    assert sink.events == []


async def test_malformed_bodies_are_400(http, sink):
    for raw in (b"not json", b"[1, 2]", json.dumps({"encrypt": "!!!"}).encode()):
        body, headers = signed({}, timestamp=TS)
        headers["X-Lark-Signature"] = hashlib.sha256(
            (TS + "n-1" + "test-encrypt-key").encode() + raw).hexdigest()
        resp = await http.post("/feishu/events", content=raw, headers=headers)
        assert resp.status_code == 400, raw
    assert sink.events == []


async def test_replayed_nonce_is_rejected(http, sink):
    payload = message_event("ev1", "help")
    body, headers = signed(payload, timestamp=TS, nonce="once")
    first = await http.post("/feishu/events", content=body, headers=headers)
    again = await http.post("/feishu/events", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 401)
    assert len(sink.events) == 1


async def test_same_event_id_three_times_is_stored_once(http, sink):
    for n in range(3):
        resp = await post(http, message_event("ev-dup", "printer jammed"), nonce=f"n{n}")
        assert resp.status_code == 200
    assert [e.event_id for e in sink.events] == ["ev-dup"]


async def test_store_failure_answers_500_and_the_platform_retry_gets_through(http, sink):
    sink.fail = True
    body, headers = signed(message_event("ev1", "help"), timestamp=TS, nonce="retry-me")
    assert (await http.post("/feishu/events", content=body, headers=headers)).status_code == 500
    sink.fail = False
    # the nonce of a failed delivery was released: the same request is not taken for a replay
    assert (await http.post("/feishu/events", content=body, headers=headers)).status_code == 200
    assert len(sink.events) == 1


async def test_card_click_becomes_action_clicked_and_answers_a_toast(http, sink):
    resp = await post(http, card_event("ev-card", {"action_id": "ticket.claim", "ticket": "12"}))
    assert resp.status_code == 200
    assert resp.json()["toast"]["i18n"]["zh_cn"] == "已收到"
    [event] = sink.events
    assert isinstance(event, ActionClicked)
    assert (event.action_id, dict(event.value), event.card_message_id) == ("ticket.claim", {"ticket": "12"}, "om_card1")
    assert event.user.user_id == "ou_wangfang" and event.conversation.chat_id == "oc_team"


class CardSink(RecordingSink):
    """Answers a click like the real intake would after core ran: with the updated card."""

    def __init__(self, outputs) -> None:
        super().__init__()
        self.outputs = outputs
        self.waits: list[float] = []

    async def submit(self, event, *, wait: float = 0.0) -> IntakeResult:
        self.waits.append(wait)
        res = await super().submit(event, wait=wait)
        return IntakeResult(stored=res.stored, duplicate=res.duplicate, outputs=self.outputs)


async def _app_with(adapter, sink):
    await adapter.start(sink)
    app = Starlette(routes=adapter.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deskbot")


async def test_card_click_is_answered_with_the_updated_card(fake):
    from adapters.feishu import create_adapter

    team = ConversationRef(platform="feishu", chat_id="oc_team")
    elsewhere = ConversationRef(platform="feishu", chat_id="oc_general")
    sink = CardSink([Outgoing(to=elsewhere, reply=TICKET_CARD), Outgoing(to=team, reply=TICKET_CARD)])
    adapter = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    try:
        async with await _app_with(adapter, sink) as http:
            resp = await post(http, card_event("ev-card", {"action_id": "ticket.claim", "ticket": "12"}))
    finally:
        await adapter.stop()
    assert resp.status_code == 200
    card = resp.json()["card"]
    assert card["type"] == "raw"
    assert card["data"]["header"]["title"]["content"] == "IT-12 · VPN 连不上了"
    assert card["data"]["config"]["update_multi"] is True
    assert sink.waits == [2.0]


async def test_card_click_refused_gets_the_reply_as_toast(fake):
    from adapters.feishu import create_adapter

    team = ConversationRef(platform="feishu", chat_id="oc_team")
    sink = CardSink([Outgoing(to=team, reply=EPHEMERAL)])
    adapter = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    try:
        async with await _app_with(adapter, sink) as http:
            resp = await post(http, card_event("ev-card", {"action_id": "ticket.claim", "ticket": "12"}))
    finally:
        await adapter.stop()
    # EPHEMERAL is addressed to a Slack user, so it is not the clicker's: generic toast
    assert resp.json()["toast"]["content"] == "Received"


async def test_card_click_gets_the_card_of_the_clicked_family_and_the_clickers_answer(fake):
    """A rating redraws the survey and the ticket card in the same chat: only the survey may
    replace the clicked survey message; the thanks meant for the clicker comes as a toast."""
    from adapters.feishu import create_adapter

    group = ConversationRef(platform="feishu", chat_id="oc_general")
    clicker = UserRef(platform="feishu", user_id="ou_lilei")
    thanks = Reply(fallback_text="Thanks for rating IT-12 5/5.", only_visible_to=clicker)
    someone_else = UserRef(platform="feishu", user_id="ou_x")
    for_someone_else = Reply(fallback_text="not yours", only_visible_to=someone_else)
    sink = CardSink([Outgoing(to=group.in_thread("om_1"), reply=TICKET_CARD),
                     Outgoing(to=group, reply=for_someone_else), Outgoing(to=group, reply=SURVEY_CARD),
                     Outgoing(to=group, reply=thanks)])
    adapter = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    try:
        async with await _app_with(adapter, sink) as http:
            rate = card_event("ev-r", {"action_id": "survey.rate", "ticket": "12", "rating": "5"},
                              chat_id="oc_general", operator="ou_lilei")
            answer = (await post(http, rate)).json()
            capture = card_event("ev-k", {"action_id": "kb.capture", "ticket": "12"}, chat_id="oc_general",
                                 operator="ou_lilei")
            no_card = (await post(http, capture, nonce="n-2")).json()
    finally:
        await adapter.stop()
    assert answer["card"]["data"]["header"]["title"]["content"] == SURVEY_CARD.title
    assert answer["toast"]["content"] == "Thanks for rating IT-12 5/5."
    # no "kb:" card among the outputs: a toast only, the outbox updates the cards
    assert "card" not in no_card and no_card["toast"]["content"] == "Thanks for rating IT-12 5/5."


async def test_reaction_with_ticket_emoji_fetches_the_message(http, sink, fake):
    fake.add_message("om_300", chat_id="oc_general", text="the projector in room 5 is dead",
                     sender_open_id="ou_lilei")
    resp = await post(http, reaction_event("ev-r", "om_300"))
    assert resp.status_code == 200
    [event] = sink.events
    assert isinstance(event, ReactionAdded)
    assert event.target_text == "the projector in room 5 is dead"
    assert event.conversation.chat_id == "oc_general"
    assert event.target_user.user_id == "ou_lilei" and event.user.user_id == "ou_wangfang"


async def test_other_emoji_is_acked_without_fetching_or_storing(http, sink, fake):
    resp = await post(http, reaction_event("ev-r", "om_300", emoji="THUMBSUP"))
    assert resp.status_code == 200
    assert sink.events == [] and not fake.calls_to("GET", "/im/v1/messages/om_300")


async def test_reaction_message_fetch_failure_defers_the_event(http, sink, fake):
    fake.add_message("om_300", chat_id="oc_general", text="x", sender_open_id="ou_lilei")
    fake.fail_next("/im/v1/messages/om_300", status=500, code=1, msg="internal")
    assert (await post(http, reaction_event("ev-r", "om_300"), nonce="a")).status_code == 503
    assert sink.events == []
    assert (await post(http, reaction_event("ev-r", "om_300"), nonce="b")).status_code == 200
    assert len(sink.events) == 1


async def test_bot_added_is_stored(http, sink):
    payload = {"schema": "2.0", "header": header("ev-b", "im.chat.member.bot.added_v1"), "event": {
        "chat_id": "oc_new", "operator_id": {"open_id": "ou_lilei"}, "name": "IT 支持群"}}
    assert (await post(http, payload)).status_code == 200
    [event] = sink.events
    assert isinstance(event, BotAdded) and event.lang_hint == "zh-CN"


async def test_group_mention_waits_for_the_bot_identity(fake):
    from adapters.feishu import create_adapter

    fake.fail_next("/bot/v3/info", status=500, code=1, times=2)
    adapter = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    sink = RecordingSink()
    try:
        async with await _app_with(adapter, sink) as http:
            # both the start-up lookup and the on-demand retry fail: defer with 503, store nothing
            await asyncio.to_thread(fake.wait_for_calls, "GET", "/bot/v3/info", 1)
            resp = await post(http, message_event("ev1", "help"), nonce="a")
            assert resp.status_code == 503 and sink.events == []
            assert len(fake.calls_to("GET", "/bot/v3/info")) == 2
            resp = await post(http, message_event("ev1", "help"), nonce="b")
            assert resp.status_code == 200 and sink.events[0].mentions_bot
    finally:
        await adapter.stop()


async def test_unknown_event_types_are_acked_and_ignored(http, sink):
    payload = {"schema": "2.0", "header": header("ev-x", "im.message.message_read_v1"), "event": {}}
    assert (await post(http, payload)).status_code == 200
    assert sink.events == []


async def test_events_before_start_are_deferred(fake):
    from adapters.feishu import create_adapter

    adapter = create_adapter(config(domain=fake.url), wall_clock=lambda: NOW)
    app = Starlette(routes=adapter.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        assert (await post(http, message_event("ev1", "help"))).status_code == 503
    await adapter.stop()


def test_webhook_mode_requires_the_encrypt_key():
    from adapters.feishu import create_adapter

    with pytest.raises(ValueError, match="encrypt_key"):
        create_adapter(config(encrypt_key=None))
    assert create_adapter(config(mode="long_connection", encrypt_key=None)).routes() == []
