"""DingTalk end to end through the real core: fake gateway frames in, fake Open API calls recorded out."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from core.settings import Desk, Roles
from tests.desk_runtime import RunningDesk, desk_config, running_desk
from tests.fakes.dingtalk import CLIENT_ID, CLIENT_SECRET, FakeDingTalk

GROUP = "cidGroupA=="
TEAM = "cidTeamRoom=="
REQUESTER = "u-lilei"
TECH = "u-wangfang"
TEMPLATE = "tpl-ticket.schema"
CARD_SEND = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE = "/v1.0/card/instances"
GROUP_SEND = "/v1.0/robot/groupMessages/send"
DIRECT_SEND = "/v1.0/robot/oToMessages/batchSend"
WEBHOOK = "/robot/sendBySession"


@dataclass
class DingTalkDesk:
    """The running desk (adapter built by bot/container.py from `[dingtalk]`) and the fake DingTalk."""

    desk: RunningDesk
    fake: FakeDingTalk

    async def say(self, text: str, *, user: str = REQUESTER, group: bool = True, message_id: str | None = None,
                  conversation_id: str = GROUP, **kw: Any) -> dict[str, Any]:
        """Someone @mentions the robot in a group (or writes to it 1:1); wait until the desk is idle."""
        data = self.fake.robot_message(text=f" {text}", staff_id=user, nick=user, group=group,
                                       conversation_id=conversation_id, **kw)
        mid = self.fake.push_robot_message(data, message_id=message_id)
        assert (await self.fake.wait_ack(mid))["code"] == 200
        await self.desk.idle()
        return data

    async def click(self, out_track_id: str, action_id: str, value: dict[str, str], *, user: str,
                    space_id: str = GROUP) -> dict[str, Any]:
        """A card button click; returns what the callback was answered with (the ack's response)."""
        mid = self.fake.push_card_callback(self.fake.card_callback(
            out_track_id=out_track_id, action_id=action_id, value=value, user_id=user, space_id=space_id))
        ack = await self.fake.wait_ack(mid)
        assert ack["code"] == 200
        await self.desk.idle()
        return json.loads(ack["data"])["response"]

    def cards_in(self, space: str) -> list[str]:
        """outTrackIds of the cards created in a space, oldest first."""
        return [c["json"]["outTrackId"] for c in self.fake.calls_to(CARD_SEND)
                if c["json"]["openSpaceId"] == space]

    def card(self, out_track_id: str) -> dict[str, str]:
        """The card's data as DingTalk shows it now (after any PUT)."""
        return self.fake.cards[out_track_id]["params"]

    def direct_texts(self, user: str) -> list[str]:
        return [json.loads(c["json"]["msgParam"]).get("content") or json.loads(c["json"]["msgParam"])["text"]
                for c in self.fake.calls_to(DIRECT_SEND) if c["json"]["userIds"] == [user]]

    def group_markdown(self, sessions: dict[str, str], chat: str) -> list[str]:
        """Markdown/text robot messages that reached a group: through its session webhook or the Open API."""
        out: list[str] = []
        for call in self.fake.calls:
            if call["path"] == WEBHOOK and sessions.get(call["query"]["session"]) == chat:
                body = call["json"]
                out.append(body["markdown"]["text"] if body["msgtype"] == "markdown" else body["text"]["content"])
            elif call["path"] == GROUP_SEND and call["json"]["openConversationId"] == chat:
                param = json.loads(call["json"]["msgParam"])
                out.append(param.get("text") or param.get("content"))
        return out


def dingtalk_section(fake: FakeDingTalk, template: str | None) -> dict[str, Any]:
    return dict(enabled=True, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, robot_code=CLIENT_ID,
                api_base_url=fake.url, card_template_id=template)


def it_desk() -> Desk:
    return Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off", team_chat=f"dingtalk:{TEAM}",
                roles=Roles(technicians=[f"dingtalk:{TECH}"]))


@pytest.fixture
def fake() -> AsyncIterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()


async def _running(db_url: str, fake: FakeDingTalk, template: str | None) -> AsyncIterator[DingTalkDesk]:
    config = desk_config(db_url, desk=it_desk(), dingtalk=dingtalk_section(fake, template))
    async with running_desk(config) as desk:
        await fake.wait_connections(1)
        yield DingTalkDesk(desk=desk, fake=fake)
        await desk.idle()


@pytest.fixture
async def carded(db_url: str, fake: FakeDingTalk) -> AsyncIterator[DingTalkDesk]:
    """The desk with an interactive card template configured."""
    async for dt in _running(db_url, fake, TEMPLATE):
        yield dt


@pytest.fixture
async def markdown(db_url: str, fake: FakeDingTalk) -> AsyncIterator[DingTalkDesk]:
    """The desk without a card template: cards go out as Markdown with numbered choices."""
    async for dt in _running(db_url, fake, None):
        yield dt


async def open_ticket(dt: DingTalkDesk) -> tuple[int, str, str]:
    """Li Lei reports a problem in the group: the ticket, its group card and its team card."""
    await dt.say("VPN 连不上了，错误 809")
    [ticket] = dt.desk.tickets()
    [group_card] = dt.cards_in(f"dtv1.card//IM_GROUP.{GROUP}")
    [team_card] = dt.cards_in(f"dtv1.card//IM_GROUP.{TEAM}")
    return ticket.id, group_card, team_card


# ---------------------------------------------------------------- cards (template configured)


async def test_mention_in_a_group_opens_a_ticket_with_a_card_in_the_group_and_the_team_room(carded):
    ticket_id, group_card, team_card = await open_ticket(carded)
    ticket = carded.desk.ticket("IT-1")
    assert (ticket.requester, ticket.status, ticket.subject) == (f"dingtalk:{REQUESTER}", "new",
                                                                "VPN 连不上了，错误 809")
    sent = {c["json"]["outTrackId"]: c["json"] for c in carded.fake.calls_to(CARD_SEND)}
    assert sent[group_card]["cardTemplateId"] == TEMPLATE and sent[group_card]["callbackType"] == "STREAM"
    for card in (group_card, team_card):
        params = carded.card(card)
        assert params["title"].startswith("IT-1") and params["status"] == "new"
        assert [b["action_id"] for b in json.loads(params["buttons"])] == ["ticket.claim", "ticket.resolve"]
        assert json.loads(json.loads(params["buttons"])[0]["value"]) == {"ticket": str(ticket_id)}
    # nothing went out as a plain robot message: cards only
    assert carded.fake.calls_to(GROUP_SEND) == [] and carded.fake.calls_to(WEBHOOK) == []


async def test_direct_message_opens_a_ticket_answered_in_the_direct_chat(carded):
    await carded.say("打印机卡纸了", group=False)
    [ticket] = carded.desk.tickets()
    assert ticket.requester == f"dingtalk:{REQUESTER}"
    [card] = carded.cards_in(f"dtv1.card//IM_ROBOT.{REQUESTER}")
    assert carded.card(card)["title"].startswith("IT-1")
    assert len(carded.cards_in(f"dtv1.card//IM_GROUP.{TEAM}")) == 1


async def test_technician_claims_on_the_card_and_it_updates_in_place(carded):
    ticket_id, group_card, team_card = await open_ticket(carded)
    response = await carded.click(group_card, "ticket.claim", {"ticket": str(ticket_id)}, user=TECH)
    ticket = carded.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("in_progress", f"dingtalk:{TECH}")
    # the callback was answered with the claimed card ...
    answered = response["cardData"]["cardParamMap"]
    assert answered["status"] == "in_progress" and answered["title"].startswith("IT-1")
    assert [b["action_id"] for b in json.loads(answered["buttons"])] == ["ticket.waiting", "ticket.resolve"]
    # ... and both cards were redrawn in place through the card instance API, none posted anew
    updated = {c["json"]["outTrackId"] for c in carded.fake.calls_to(CARD_UPDATE) if c["method"] == "PUT"}
    assert updated == {group_card, team_card}
    assert len(carded.fake.calls_to(CARD_SEND)) == 2
    assert carded.card(group_card)["status"] == carded.card(team_card)["status"] == "in_progress"
    assert TECH in carded.card(group_card)["markdown"]


async def test_requester_clicking_claim_is_refused_and_nothing_changes(carded):
    ticket_id, group_card, _ = await open_ticket(carded)
    before = dict(carded.card(group_card))
    timeline = carded.desk.timeline("IT-1")
    response = await carded.click(group_card, "ticket.claim", {"ticket": str(ticket_id)}, user=REQUESTER)
    ticket = carded.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("new", None)
    assert carded.desk.timeline("IT-1") == timeline
    assert response["cardData"]["cardParamMap"]["status"] == "new"
    assert carded.card(group_card) == before
    assert len(carded.fake.calls_to(CARD_SEND)) == 2
    [refusal] = carded.direct_texts(REQUESTER)
    assert "技术人员" in refusal  # answered in the language of the requester's ticket


async def test_resolve_sends_a_survey_and_the_rating_closes_the_ticket(carded):
    ticket_id, group_card, team_card = await open_ticket(carded)
    ids = {"ticket": str(ticket_id)}
    await carded.click(team_card, "ticket.claim", ids, user=TECH, space_id=TEAM)
    await carded.click(team_card, "ticket.resolve", ids, user=TECH, space_id=TEAM)
    assert carded.desk.ticket("IT-1").status == "resolved"
    # the survey card goes to the requester's group, @mentioning them
    [_, survey] = carded.cards_in(f"dtv1.card//IM_GROUP.{GROUP}")
    sent = next(c["json"] for c in carded.fake.calls_to(CARD_SEND) if c["json"]["outTrackId"] == survey)
    assert sent["imGroupOpenDeliverModel"]["atUserIds"] == {REQUESTER: REQUESTER}
    rate = next(b for b in json.loads(carded.card(survey)["buttons"]) if json.loads(b["value"]).get("rating") == "4")
    response = await carded.click(survey, rate["action_id"], json.loads(rate["value"]), user=REQUESTER)
    ticket = carded.desk.ticket("IT-1")
    assert (ticket.status, ticket.rating) == ("closed", 4)
    assert carded.desk.timeline("IT-1")[-2:] == ["rated", "closed"]
    # the survey callback is answered with the survey (no buttons left), not with the ticket card
    answered = response["cardData"]["cardParamMap"]
    assert answered["title"] == carded.card(survey)["title"] and json.loads(answered["buttons"]) == []
    assert carded.card(group_card)["status"] == "closed"


async def test_the_same_message_delivered_twice_makes_one_ticket(carded):
    data = carded.fake.robot_message(text=" 邮箱登不上")
    first = carded.fake.push_robot_message(data, message_id="stream-1")
    assert (await carded.fake.wait_ack(first))["code"] == 200
    carded.fake.push_robot_message(data, message_id="stream-1")  # the gateway redelivers the frame
    carded.fake.push_robot_message(data, message_id="stream-2")  # the same msgId under a new delivery id
    assert (await carded.fake.wait_ack("stream-1", count=2))["code"] == 200
    assert (await carded.fake.wait_ack("stream-2"))["code"] == 200
    await carded.desk.idle()
    assert [t.key for t in carded.desk.tickets()] == ["IT-1"]
    assert len(carded.fake.calls_to(CARD_SEND)) == 2


async def test_gateway_drop_reconnects_and_a_later_message_becomes_a_ticket(carded):
    await carded.say("第一个问题")
    carded.fake.drop()
    await carded.fake.wait_connections(2)
    await carded.say("断线之后的问题")
    assert [t.subject for t in carded.desk.tickets()] == ["第一个问题", "断线之后的问题"]
    assert len(carded.fake.calls_to("/v1.0/gateway/connections/open")) == 2


async def test_quote_reply_to_the_reporting_message_is_a_comment(carded):
    data = await carded.say("VPN 连不上了")
    quoted = {"isReplyMsg": True, "repliedMsg": {"msgType": "text", "msgId": data["msgId"],
                                                  "content": {"text": "VPN 连不上了"}}}
    await carded.say("还是不行", extra={"text": {"content": " 还是不行", **quoted}})
    assert [t.key for t in carded.desk.tickets()] == ["IT-1"]
    assert carded.desk.timeline("IT-1")[-1] == "relay"
    assert carded.desk.timeline("IT-1")[-1] == "relay"


async def test_quote_reply_to_the_ticket_card_is_a_comment(carded):
    await carded.say("VPN 连不上了")
    quoted = {"isReplyMsg": True, "repliedMsg": {"msgType": "interactiveCard", "msgId": "msgBotCard1==",
                                                  "content": {"text": "IT-1 · VPN 连不上了"}}}
    await carded.say("还是不行", extra={"text": {"content": " 还是不行", **quoted}})
    assert [t.key for t in carded.desk.tickets()] == ["IT-1"]
    assert carded.desk.timeline("IT-1")[-1] == "relay"


async def test_runtime_stop_returns_promptly_and_closes_the_gateway(db_url, fake):
    config = desk_config(db_url, desk=it_desk(), dingtalk=dingtalk_section(fake, TEMPLATE))
    async with running_desk(config) as desk:
        await fake.wait_connections(1)
        dt = DingTalkDesk(desk=desk, fake=fake)
        await dt.say("VPN 连不上了")
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    await fake.wait_for(lambda: fake.disconnects == 1, what="gateway websocket closed")
    assert desk.tickets()[0].key == "IT-1"


# ---------------------------------------------------------------- Markdown fallback (no template)


async def test_markdown_card_and_numbered_answers_run_a_ticket_to_closed(markdown):
    sessions: dict[str, str] = {}

    async def say(text: str, user: str) -> None:
        data = await markdown.say(text, user=user)
        sessions[data["sessionWebhook"].rpartition("session=")[2]] = GROUP

    await say("VPN is down since this morning", REQUESTER)
    assert markdown.fake.calls_to(CARD_SEND) == []
    [card] = markdown.group_markdown(sessions, GROUP)
    assert card.startswith("#### IT-1") and "- [1] Claim\n- [2] Resolve" in card
    # the requester answers "1" (Claim): refused, nothing changes
    await say("1", REQUESTER)
    assert markdown.desk.ticket("IT-1").status == "new"
    assert len(markdown.desk.tickets()) == 1  # the number was not taken as a new problem
    assert any("technician" in text.lower() for text in markdown.direct_texts(REQUESTER))
    # the technician answers "1": claimed, the card is posted again with the new state
    await say("1", TECH)
    ticket = markdown.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("in_progress", f"dingtalk:{TECH}")
    latest = markdown.group_markdown(sessions, GROUP)[-1]
    assert latest.startswith("#### IT-1") and "- [1] Ask requester\n- [2] Resolve" in latest
    await say("2", TECH)  # Resolve
    assert markdown.desk.ticket("IT-1").status == "resolved"
    survey = markdown.group_markdown(sessions, GROUP)[-1]
    assert "- [1] [2] [3] [4] [5]" in survey and survey.rstrip().endswith(f"@{REQUESTER}")
    await say("5", REQUESTER)  # five stars
    ticket = markdown.desk.ticket("IT-1")
    assert (ticket.status, ticket.rating) == ("closed", 5)
    assert len(markdown.desk.tickets()) == 1
