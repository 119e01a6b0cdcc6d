"""Feishu end to end through the real core: signed, encrypted webhooks in; the fake Open API records sends."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.db.models import IntakeEvent
from core.settings import Desk, Roles
from tests.adapters.feishu.helpers import (
    APP_ID,
    APP_SECRET,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    card_event,
    header,
    message_event,
    reaction_event,
    signed,
)
from tests.desk_runtime import RunningDesk, desk_config, running_desk
from tests.fakes.feishu import Call, FakeFeishu

REQUESTER = "ou_lilei"
TECH = "ou_wangfang"
LEAD = "ou_zhaolei"
GROUP = "oc_general"
TEAM = "oc_team"
MESSAGES = "/open-apis/im/v1/messages"


@dataclass
class FeishuDesk:
    """The running desk, an ASGI client for its routes and the fake Feishu it talks to."""

    desk: RunningDesk
    http: httpx.AsyncClient
    fake: FakeFeishu

    async def post(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        """Deliver one event as Feishu does: encrypted body, X-Lark-* signature, a fresh nonce."""
        body, headers = signed(payload, timestamp=kw.pop("timestamp", str(int(time.time()))),
                               nonce=kw.pop("nonce", uuid.uuid4().hex), **kw)
        return await self.http.post("/feishu/events", content=body, headers=headers)

    async def say(self, event_id: str, text: str, *, message_id: str, chat_id: str = GROUP,
                  sender: str = REQUESTER, **kw: Any) -> httpx.Response:
        """A person writes in a chat: the message exists on Feishu, then its event is delivered."""
        self.fake.add_message(message_id, chat_id=chat_id, text=text, sender_open_id=sender,
                              root_id=kw.get("root_id"))
        resp = await self.post(message_event(event_id, text, chat_id=chat_id, message_id=message_id,
                                             sender=sender, **kw))
        assert resp.status_code == 200, resp.text
        await self.desk.idle()
        return resp

    async def click(self, event_id: str, value: dict[str, str], *, chat_id: str, card_message_id: str,
                    operator: str) -> httpx.Response:
        resp = await self.post(card_event(event_id, value, chat_id=chat_id, card_message_id=card_message_id,
                                          operator=operator))
        assert resp.status_code == 200, resp.text
        return resp

    def intake_rows(self) -> int:
        with self.desk.container.uow.begin() as s:
            return int(s.execute(select(func.count()).select_from(IntakeEvent)).scalar() or 0)

    def sent_messages(self) -> list[Call]:
        """Every message create / reply call (not patches, not ephemeral cards)."""
        return [c for c in self.fake.calls if c.method == "POST" and c.path.startswith(MESSAGES)]

    def card_in(self, chat_id: str, *, root_id: str = "") -> str:
        """The message id of the (only) bot card posted in that chat / thread."""
        [mid] = [m for m, item in self.fake.messages.items() if item["chat_id"] == chat_id
                 and item["msg_type"] == "interactive" and item.get("root_id", "") == root_id
                 and item["sender"]["sender_type"] == "app" and _title(item).startswith("IT-")]
        return mid

    def card(self, message_id: str) -> dict[str, Any]:
        """The card as Feishu shows it now (after any PATCH)."""
        return json.loads(self.fake.messages[message_id]["body"]["content"])


def _title(item: dict[str, Any]) -> str:
    content = json.loads(item["body"]["content"])
    return content.get("header", {}).get("title", {}).get("content", "")


def actions(card: dict[str, Any]) -> list[dict[str, str]]:
    return [b["value"] for el in card["elements"] if el["tag"] == "action" for b in el["actions"]]


def feishu_section(fake: FakeFeishu) -> dict[str, Any]:
    return dict(enabled=True, mode="webhook", app_id=APP_ID, app_secret=APP_SECRET, encrypt_key=ENCRYPT_KEY,
                verification_token=VERIFICATION_TOKEN, domain=fake.url, intake_chats=["oc_intake"],
                ticket_emoji="Get")


@pytest.fixture
def fake() -> AsyncIterator[FakeFeishu]:
    feishu = FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET).start()
    yield feishu
    feishu.stop()


@pytest.fixture
async def fs(db_url: str, fake: FakeFeishu) -> AsyncIterator[FeishuDesk]:
    it = Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off", team_chat=f"feishu:{TEAM}",
              roles=Roles(technicians=[f"feishu:{TECH}"], leads=[f"feishu:{LEAD}"]))
    config = desk_config(db_url, desk=it, feishu=feishu_section(fake))
    async with running_desk(config) as desk:
        transport = httpx.ASGITransport(app=desk.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://deskbot") as http:
            yield FeishuDesk(desk=desk, http=http, fake=fake)
            await desk.idle()


async def open_vpn_ticket(fs: FeishuDesk) -> int:
    await fs.say("ev-open", "VPN is down since this morning", message_id="om_100")
    [ticket] = fs.desk.tickets()
    return ticket.id


# ---------------------------------------------------------------- intake


async def test_mention_in_a_group_opens_a_ticket_with_a_threaded_card_and_a_team_card(fs):
    ticket_id = await open_vpn_ticket(fs)
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.requester, ticket.status, ticket.subject) == (f"feishu:{REQUESTER}", "new",
                                                                "VPN is down since this morning")
    # the Open API was called with a tenant token the adapter fetched itself
    assert fs.fake.calls_to("POST", "tenant_access_token")
    assert all(c.token in fs.fake.issued_tokens for c in fs.sent_messages())

    [reply] = fs.fake.calls_to("POST", f"{MESSAGES}/om_100/reply")
    assert reply.body["reply_in_thread"] is True and reply.body["msg_type"] == "interactive"
    assert reply.content["header"]["title"]["content"] == "IT-1 · VPN is down since this morning"
    assert reply.content["config"]["update_multi"] is True
    assert {"action_id": "ticket.claim", "ticket": str(ticket_id)} in actions(reply.content)
    assert reply.body["uuid"].startswith("deskbot-outbox-")

    [team] = [c for c in fs.fake.calls_to("POST", MESSAGES) if c.path == MESSAGES]
    assert team.params == {"receive_id_type": "chat_id"} and team.body["receive_id"] == TEAM
    assert team.content["header"]["title"]["content"] == "IT-1 · VPN is down since this morning"
    assert len(fs.sent_messages()) == 2
    assert all(row.status == "sent" and row.message_id for row in fs.desk.outbox())


async def test_the_same_event_delivered_three_times_opens_one_ticket(fs):
    payload = message_event("ev-dup", "printer on floor 3 is jammed", message_id="om_200")
    fs.fake.add_message("om_200", chat_id=GROUP, text="printer on floor 3 is jammed",
                        sender_open_id=REQUESTER)
    for _ in range(3):  # Feishu retries with a new nonce and timestamp
        assert (await fs.post(payload)).status_code == 200
    # the same message under another event id is the same message (deduplicated by message id)
    again = message_event("ev-dup-2", "printer on floor 3 is jammed", message_id="om_200")
    assert (await fs.post(again)).status_code == 200
    await fs.desk.idle()
    assert [t.key for t in fs.desk.tickets()] == ["IT-1"]
    assert fs.intake_rows() == 1
    assert len(fs.fake.calls_to("POST", f"{MESSAGES}/om_200/reply")) == 1


async def test_a_direct_message_opens_a_ticket_answered_in_that_chat(fs):
    await fs.say("ev-dm", "my laptop will not boot", message_id="om_dm1", chat_id="oc_p2p_lilei",
                 chat_type="p2p", mention_bot=False)
    ticket = fs.desk.ticket("IT-1")
    assert ticket.subject == "my laptop will not boot" and ticket.requester == f"feishu:{REQUESTER}"
    created = {c.body["receive_id"]: c for c in fs.fake.calls_to("POST", MESSAGES) if c.path == MESSAGES}
    assert set(created) == {"oc_p2p_lilei", TEAM}
    assert created["oc_p2p_lilei"].content["header"]["title"]["content"] == "IT-1 · my laptop will not boot"
    assert not fs.fake.calls_to("POST", "/reply")  # a direct chat has no thread to answer in


async def test_a_top_level_message_in_an_intake_chat_opens_a_ticket_without_a_mention(fs):
    await fs.say("ev-intake", "need access to the finance share", message_id="om_700", chat_id="oc_intake",
                 mention_bot=False)
    assert fs.desk.ticket("IT-1").subject == "need access to the finance share"
    [reply] = fs.fake.calls_to("POST", f"{MESSAGES}/om_700/reply")
    assert reply.body["reply_in_thread"] is True
    # elsewhere, a message without a mention is not for the desk
    await fs.say("ev-chat", "lunch at noon?", message_id="om_701", mention_bot=False)
    assert len(fs.desk.tickets()) == 1 and fs.intake_rows() == 1


async def test_a_reaction_with_the_ticket_emoji_opens_a_ticket_for_the_author(fs):
    fs.fake.add_message("om_300", chat_id=GROUP, text="the projector in room 5 is dead",
                        sender_open_id=REQUESTER)
    thumbs_up = reaction_event("ev-thumb", "om_300", emoji="THUMBSUP", user=TECH)
    assert (await fs.post(thumbs_up)).status_code == 200
    await fs.desk.idle()
    assert fs.desk.tickets() == [] and fs.intake_rows() == 0

    assert (await fs.post(reaction_event("ev-get", "om_300", emoji="Get", user=TECH))).status_code == 200
    await fs.desk.idle()
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.subject, ticket.requester) == ("the projector in room 5 is dead", f"feishu:{REQUESTER}")
    [reply] = fs.fake.calls_to("POST", f"{MESSAGES}/om_300/reply")
    assert reply.body["reply_in_thread"] is True
    assert reply.content["header"]["title"]["content"].startswith("IT-1 · the projector")


@pytest.mark.parametrize(("chat_name", "expected"), [("IT 支持群", "服务台"), ("Design team", "service desk")])
async def test_bot_added_to_a_chat_says_welcome_in_the_chat_language(fs, chat_name, expected):
    payload = {"schema": "2.0", "header": header("ev-added", "im.chat.member.bot.added_v1"), "event": {
        "chat_id": "oc_new", "operator_id": {"open_id": REQUESTER}, "name": chat_name, "external": False}}
    assert (await fs.post(payload)).status_code == 200
    await fs.desk.idle()
    [welcome] = fs.sent_messages()
    assert welcome.params == {"receive_id_type": "chat_id"} and welcome.body["receive_id"] == "oc_new"
    assert welcome.body["msg_type"] == "text" and expected in welcome.content["text"]
    assert fs.desk.tickets() == []


# ---------------------------------------------------------------- verification


@pytest.mark.parametrize("case", ["bad_signature", "wrong_token", "stale_timestamp", "replayed_nonce"])
async def test_forged_stale_or_replayed_requests_are_rejected_and_nothing_is_stored(fs, case):
    payload = message_event("ev-forged", "reset my password", message_id="om_400")
    now = str(int(time.time()))
    if case == "replayed_nonce":
        body, headers = signed(payload, timestamp=now, nonce="n-once")
        assert (await fs.http.post("/feishu/events", content=body, headers=headers)).status_code == 200
        await fs.desk.idle()
        before = (fs.intake_rows(), len(fs.desk.tickets()), len(fs.desk.outbox()))
        resp = await fs.http.post("/feishu/events", content=body, headers=headers)
        await fs.desk.idle()
        assert resp.status_code == 401
        assert (fs.intake_rows(), len(fs.desk.tickets()), len(fs.desk.outbox())) == before == (1, 1, 2)
        return
    if case == "bad_signature":
        resp = await fs.post(payload, sign_key="not-the-encrypt-key")
    elif case == "wrong_token":
        forged = message_event("ev-forged", "reset my password", message_id="om_400", token="forged")
        resp = await fs.post(forged)
    else:
        resp = await fs.post(payload, timestamp=str(int(time.time()) - 3600))
    await fs.desk.idle()
    assert resp.status_code == 401
    assert fs.intake_rows() == 0 and fs.desk.tickets() == [] and fs.desk.outbox() == []
    assert fs.sent_messages() == []


# ---------------------------------------------------------------- working the ticket


async def test_claim_from_the_team_chat_updates_the_group_card_in_place(fs):
    ticket_id = await open_vpn_ticket(fs)
    group_card, team_card = fs.card_in(GROUP, root_id="om_100"), fs.card_in(TEAM)
    value = {"action_id": "ticket.claim", "ticket": str(ticket_id)}

    started = time.monotonic()
    resp = await fs.click("ev-claim", value, chat_id=TEAM, card_message_id=team_card, operator=TECH)
    assert time.monotonic() - started < 3.0  # Feishu's deadline for a card callback
    answer = resp.json()
    # answered with the team card as core redrew it: claimed, so "Ask requester" / "Resolve" now
    assert [v["action_id"] for v in actions(answer["card"]["data"])] == ["ticket.waiting", "ticket.resolve"]
    assert answer["card"]["data"]["header"]["title"]["content"] == "IT-1 · VPN is down since this morning"

    await fs.desk.idle()
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("in_progress", f"feishu:{TECH}")
    assert fs.desk.timeline("IT-1") == ["opened", "claimed"]
    # the card in the requester's group thread was edited, not posted again
    patched = fs.fake.calls_to("PATCH", f"{MESSAGES}/{group_card}")
    assert patched and set(patched[-1].body) == {"content"}
    assert [v["action_id"] for v in actions(fs.card(group_card))] == ["ticket.waiting", "ticket.resolve"]
    assert fs.fake.calls_to("PATCH", f"{MESSAGES}/{team_card}")
    assert len(fs.sent_messages()) == 2  # still only the two cards from intake


async def test_a_requester_clicking_claim_is_refused_and_nothing_changes(fs):
    ticket_id = await open_vpn_ticket(fs)
    group_card = fs.card_in(GROUP, root_id="om_100")
    resp = await fs.click("ev-sneaky", {"action_id": "ticket.claim", "ticket": str(ticket_id)}, chat_id=GROUP,
                          card_message_id=group_card, operator=REQUESTER)
    answer = resp.json()
    assert answer["toast"]["content"] == "Sorry, only technicians can claim."
    # the clicked card is redrawn from the database: unchanged, Claim still offered
    assert [v["action_id"] for v in actions(answer["card"]["data"])] == ["ticket.claim", "ticket.resolve"]

    await fs.desk.idle()
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("new", None)
    assert fs.desk.timeline("IT-1") == ["opened"]
    [private] = fs.fake.calls_to("POST", "/open-apis/ephemeral/v1/send")
    assert private.body["open_id"] == REQUESTER and private.body["chat_id"] == GROUP
    assert [v["action_id"] for v in actions(fs.card(group_card))] == ["ticket.claim", "ticket.resolve"]


@pytest.mark.parametrize(("command", "resolution"), [
    ("/ticket resolve IT-1 reinstalled the VPN profile", "reinstalled the VPN profile"),
    ("解决 IT-1 已修复", "已修复"),
])
async def test_resolve_sends_a_survey_and_the_rating_closes_the_ticket(fs, command, resolution):
    ticket_id = await open_vpn_ticket(fs)
    await fs.say("ev-resolve", command, message_id="om_500", chat_id=TEAM, sender=TECH)
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.status, ticket.resolution) == ("resolved", resolution)

    # the survey goes into the requester's thread, @mentioning them, with 1..5 rating buttons
    survey_call = next(c for c in fs.fake.calls_to("POST", f"{MESSAGES}/om_100/reply")
                       if c.content.get("header", {}).get("title", {}).get("content")
                       == "Is it fixed? · IT-1")
    assert survey_call.body["reply_in_thread"] is True
    assert f"<at id={REQUESTER}></at>" in survey_call.content["elements"][0]["content"]
    rates = [v for v in actions(survey_call.content) if v["action_id"] == "survey.rate"]
    assert [v["rating"] for v in rates] == ["1", "2", "3", "4", "5"]
    survey_id = next(m for m, item in fs.fake.messages.items()
                     if item["body"]["content"] == survey_call.body["content"])

    resp = await fs.click("ev-rate", {"action_id": "survey.rate", "ticket": str(ticket_id), "rating": "5"},
                          chat_id=GROUP, card_message_id=survey_id, operator=REQUESTER)
    answer = resp.json()
    # the survey card itself is redrawn (not the ticket card that shares the chat), with the thanks
    assert answer["card"]["data"]["header"]["title"]["content"] == "Is it fixed? · IT-1"
    assert actions(answer["card"]["data"]) == []
    assert answer["toast"]["content"] == "Thanks for rating IT-1 5/5."

    await fs.desk.idle()
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.status, ticket.rating) == ("closed", 5)
    assert fs.desk.timeline("IT-1")[-2:] == ["rated", "closed"]
    assert fs.fake.calls_to("PATCH", f"{MESSAGES}/{survey_id}")
    assert "5/5" in json.dumps(fs.card(survey_id), ensure_ascii=False)


async def test_a_reply_in_the_ticket_thread_reaches_the_team_thread(fs):
    await open_vpn_ticket(fs)
    team_card = fs.card_in(TEAM)
    await fs.say("ev-more", "it still fails with error 809", message_id="om_101", root_id="om_100",
                 mention_bot=False)
    assert fs.desk.timeline("IT-1") == ["opened", "relay"]
    [relay] = fs.fake.calls_to("POST", f"{MESSAGES}/{team_card}/reply")
    assert relay.body["reply_in_thread"] is True and "error 809" in relay.content["text"]


async def test_an_assignment_reaches_the_technician_as_a_direct_message(fs):
    await open_vpn_ticket(fs)
    await fs.say("ev-assign", f"/ticket assign IT-1 feishu:{TECH}", message_id="om_600", chat_id=TEAM,
                 sender=LEAD)
    assert fs.desk.ticket("IT-1").assignee == f"feishu:{TECH}"
    [dm] = [c for c in fs.fake.calls_to("POST", MESSAGES) if c.params.get("receive_id_type") == "open_id"]
    assert dm.body["receive_id"] == TECH and "IT-1" in dm.content["text"]
    assert [r.status for r in fs.desk.outbox()] == ["sent"] * len(fs.desk.outbox())


# ---------------------------------------------------------------- shutdown and people


async def test_a_send_in_flight_at_shutdown_is_finished_by_the_drain(db_url, fake):
    fake.slow_down("/reply", 0.5)
    it = Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off")
    async with running_desk(desk_config(db_url, desk=it, feishu=feishu_section(fake))) as desk:
        transport = httpx.ASGITransport(app=desk.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://deskbot") as http:
            fs = FeishuDesk(desk=desk, http=http, fake=fake)
            fake.add_message("om_100", chat_id=GROUP, text="VPN is down", sender_open_id=REQUESTER)
            resp = await fs.post(message_event("ev-open", "VPN is down", message_id="om_100"))
            assert resp.status_code == 200
            # leave while the card is on its way to Feishu
            await asyncio.to_thread(fake.wait_for_calls, "POST", "/om_100/reply")
    [row] = desk.outbox()
    assert (row.status, row.last_error) == ("sent", None)


@pytest.mark.parametrize(("text", "name"), [
    ("/ticket assign IT-1 @_user_2", "Wang Fang"),  # a name with a space survives the argument split
    ("指派 IT-1 @_user_2", "王芳"),
])
async def test_assigning_with_an_at_mention_assigns_that_person(fs, text, name):
    await open_vpn_ticket(fs)
    payload = message_event("ev-assign", text, chat_id=TEAM, message_id="om_800", sender=LEAD)
    payload["event"]["message"]["mentions"].append(
        {"key": "@_user_2", "id": {"open_id": TECH, "union_id": "on_wangfang", "user_id": ""},
         "name": name, "tenant_key": "tenant1"})
    assert (await fs.post(payload)).status_code == 200
    await fs.desk.idle()
    ticket = fs.desk.ticket("IT-1")
    assert (ticket.assignee, ticket.assignee_name) == (f"feishu:{TECH}", name)
    [dm] = [c for c in fs.fake.calls_to("POST", MESSAGES) if c.params.get("receive_id_type") == "open_id"]
    assert dm.body["receive_id"] == TECH


async def test_assigning_to_a_name_nobody_was_mentioned_by_changes_nothing(fs):
    await open_vpn_ticket(fs)
    await fs.say("ev-assign", "/ticket assign IT-1 @nobody", message_id="om_801", chat_id=TEAM, sender=LEAD)
    assert fs.desk.ticket("IT-1").assignee is None
    [private] = fs.fake.calls_to("POST", "/open-apis/ephemeral/v1/send")
    assert private.body["open_id"] == LEAD
