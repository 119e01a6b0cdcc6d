"""WeCom end to end through the real core: encrypted app callbacks and robot frames in, the fakes record what went out."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.db.models import IntakeEvent
from core.events import ConversationRef
from core.replies import DeliveryError, Reply
from core.settings import Desk, Roles
from tests.adapters.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, TOKEN, Signer, click_xml, text_xml
from tests.desk_runtime import RunningDesk, desk_config, running_desk
from tests.fakes.wecom import FakeQyapi, FakeRobotGateway

REQUESTER = "lilei"
TECH = "wangfang"
LEAD = "zhaolei"
MEMBERS = {REQUESTER, TECH, LEAD}  # the app's visible range (可见范围)
GROUP = "wrGROUP1"
TEAM_GROUP = "wrTEAM"
SEND = "/cgi-bin/message/send"
UPDATE = "/cgi-bin/message/update_template_card"
GETTOKEN = "/cgi-bin/gettoken"


def selector_xml(task_id: str, option_id: str, response_code: str, user: str) -> str:
    """A click on the overflow selector's Confirm button (cards with more than 6 buttons)."""
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[~more]]></EventKey>"
            f"<TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode><SelectedItems><SelectedItem>"
            "<QuestionKey><![CDATA[more]]></QuestionKey>"
            f"<OptionIds><OptionId><![CDATA[{option_id}]]></OptionId></OptionIds>"
            f"</SelectedItem></SelectedItems><AgentID>{AGENT_ID}</AgentID></xml>")


def enter_agent_xml(user: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey>"
            f"<AgentID>{AGENT_ID}</AgentID></xml>")


def keys(card: dict[str, Any]) -> list[str]:
    return [b["key"] for b in card["button_list"]]


def fields(card: dict[str, Any]) -> dict[str, str]:
    return {row["keyname"]: row["value"] for row in card.get("horizontal_content_list", ())}


def wecom_section(api_url: str, *, app: bool = True, robot_url: str | None = None) -> dict[str, Any]:
    section: dict[str, Any] = dict(enabled=app, corp_id=CORP_ID, agent_id=AGENT_ID, secret="SECRET", token=TOKEN,
                                   encoding_aes_key=AES_KEY, api_base_url=api_url)
    if robot_url:
        section["robot"] = dict(enabled=True, bot_id="BOT-1", secret="ROBOT-SECRET", ws_url=robot_url,
                                name="IT助手", heartbeat_seconds=30)
    return section


@dataclass
class WeComDesk:
    """The running desk, an ASGI client for its routes, and the fake qyapi it talks to."""

    desk: RunningDesk
    http: httpx.AsyncClient
    api: FakeQyapi
    signer: Signer

    async def post(self, xml: str, **kw: Any) -> httpx.Response:
        url, body = self.signer.post(xml, **kw)
        return await self.http.post(url, content=body)

    async def say(self, msg_id: str, text: str, *, user: str = REQUESTER) -> None:
        resp = await self.post(text_xml(msg_id, text, user=user))
        assert resp.status_code == 200, resp.text
        await self.desk.idle()

    async def click(self, task_id: str, key: str, *, user: str) -> None:
        code = self.api.click(task_id)
        resp = await self.post(click_xml(task_id, key, code, user=user))
        assert resp.status_code == 200, resp.text
        await self.desk.idle()

    def intake_rows(self) -> int:
        with self.desk.container.uow.begin() as s:
            return int(s.execute(select(func.count()).select_from(IntakeEvent)).scalar() or 0)

    def card_of(self, user: str, title_prefix: str) -> tuple[str, dict[str, Any]]:
        """The newest card `user` received whose title starts with `title_prefix`."""
        found = [(t, c) for t, c in self.api.cards_for(user) if c["main_title"]["title"].startswith(title_prefix)]
        assert found, f"{user} received no card {title_prefix!r}"
        return found[-1]


def it_desk(team_chat: str) -> Desk:
    return Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off", team_chat=team_chat,
                roles=Roles(technicians=[f"wecom:{TECH}", f"wecom:{LEAD}"], leads=[f"wecom:{TECH}"]))


@pytest.fixture
async def api() -> AsyncIterator[FakeQyapi]:
    fake = await FakeQyapi(corp_id=CORP_ID, secret="SECRET", members=MEMBERS).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def gateway() -> AsyncIterator[FakeRobotGateway]:
    fake = await FakeRobotGateway(bot_id="BOT-1", secret="ROBOT-SECRET").start()
    yield fake
    await fake.stop()


@pytest.fixture
async def wc(db_url: str, api: FakeQyapi) -> AsyncIterator[WeComDesk]:
    """The app alone: the technicians' "team chat" is the technician's own chat with the app."""
    config = desk_config(db_url, desk=it_desk(f"wecom:@{TECH}"), wecom=wecom_section(api.url))
    async with running_desk(config) as desk:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://deskbot") as http:
            yield WeComDesk(desk=desk, http=http, api=api, signer=Signer())
            await desk.idle()


async def open_vpn_ticket(wc: WeComDesk) -> int:
    await wc.say("7301000000000000001", "VPN is down since this morning")
    [ticket] = wc.desk.tickets()
    return ticket.id or 0


# ---------------------------------------------------------------- intake


async def test_a_direct_message_opens_a_ticket_with_a_card_for_the_requester_and_the_team(wc):
    ticket_id = await open_vpn_ticket(wc)
    ticket = wc.desk.ticket("IT-1")
    assert (ticket.requester, ticket.status, ticket.subject) == (f"wecom:{REQUESTER}", "new",
                                                                "VPN is down since this morning")
    # the access token was fetched with the corp id and app secret, once, and used for every send
    [token_call] = wc.api.calls_to(GETTOKEN)
    assert token_call["query"] == {"corpid": CORP_ID, "corpsecret": "SECRET"}
    assert {c["query"]["access_token"] for c in wc.api.calls_to(SEND)} == {"TOKEN-1"}

    task_id, card = wc.card_of(REQUESTER, "IT-1")
    assert card["card_type"] == "button_interaction" and card["task_id"] == task_id
    assert card["main_title"]["title"] == "IT-1 · VPN is down since this morning"
    # only the requester sees this card: it offers what they may do (withdraw the request)
    assert keys(card) == [f"ticket.cancel?ticket={ticket_id}"]
    # the team chat "wecom:@wangfang" is core's direct-message address: it reaches that person by userid
    team_task, team_card = wc.card_of(TECH, "IT-1")
    assert team_task != task_id
    assert keys(team_card) == [f"ticket.claim?ticket={ticket_id}", f"ticket.resolve?ticket={ticket_id}"]
    assert {c["json"]["touser"] for c in wc.api.calls_to(SEND)} == {REQUESTER, TECH}
    assert all(c["json"]["agentid"] == AGENT_ID for c in wc.api.calls_to(SEND))
    assert all(row.status == "sent" and row.message_id for row in wc.desk.outbox())


async def test_the_same_msgid_delivered_twice_opens_one_ticket(wc):
    for _ in range(2):  # WeCom's retry: same MsgId, new timestamp and nonce
        resp = await wc.post(text_xml("7301000000000000002", "printer on floor 3 is jammed"))
        assert resp.status_code == 200
    await wc.desk.idle()
    assert [t.key for t in wc.desk.tickets()] == ["IT-1"]
    assert wc.intake_rows() == 1
    assert len(wc.api.cards_for(REQUESTER)) == 1


@pytest.mark.parametrize("case", ["bad_signature", "wrong_corp_id", "stale_timestamp", "replayed_nonce"])
async def test_forged_stale_or_replayed_callbacks_are_rejected_and_nothing_is_stored(wc, case):
    xml = text_xml("7301000000000000003", "reset my password")
    if case == "replayed_nonce":
        url, body = wc.signer.post(xml, nonce="nonce-once")
        assert (await wc.http.post(url, content=body)).status_code == 200
        await wc.desk.idle()
        before = (wc.intake_rows(), len(wc.desk.tickets()), len(wc.api.calls_to(SEND)))
        # the captured request replayed: same timestamp, nonce, signature and body
        resp = await wc.http.post(url, content=body)
        await wc.desk.idle()
        assert resp.status_code == 401
        assert (wc.intake_rows(), len(wc.desk.tickets()), len(wc.api.calls_to(SEND))) == before == (1, 1, 2)
        return
    if case == "bad_signature":
        resp = await wc.post(xml, tamper=True)
    elif case == "wrong_corp_id":
        # encrypted and signed correctly, but for another corp's receive id
        url, body = Signer(receive_id="wwOTHERCORP").post(xml)
        resp = await wc.http.post(url, content=body)
    else:
        resp = await wc.post(xml, timestamp=int(time.time()) - 3600)
    await wc.desk.idle()
    assert resp.status_code == 401
    assert wc.intake_rows() == 0 and wc.desk.tickets() == [] and wc.desk.outbox() == []
    assert wc.api.calls == []


async def test_entering_the_app_chat_is_answered_with_a_welcome(wc):
    assert (await wc.post(enter_agent_xml(REQUESTER))).status_code == 200
    await wc.desk.idle()
    [welcome] = wc.api.texts_for(REQUESTER)
    assert welcome.startswith("Hi! I'm the IT service desk bot.")
    assert wc.desk.tickets() == []


# ---------------------------------------------------------------- working the ticket


async def test_a_technician_claims_from_the_card_and_both_cards_update_in_place(wc):
    ticket_id = await open_vpn_ticket(wc)
    team_task, _ = wc.card_of(TECH, "IT-1")
    requester_task, _ = wc.card_of(REQUESTER, "IT-1")
    sends_before = len(wc.api.calls_to(SEND))

    code = wc.api.click(team_task)
    resp = await wc.post(click_xml(team_task, f"ticket.claim?ticket={ticket_id}", code, user=TECH))
    assert resp.status_code == 200 and resp.text == ""
    await wc.desk.idle()

    ticket = wc.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("in_progress", f"wecom:{TECH}")
    assert wc.desk.timeline("IT-1") == ["opened", "claimed"]
    updates = {u["json"]["userids"][0]: u["json"] for u in wc.api.calls_to(UPDATE)}
    # the clicked card is updated with the click's own ResponseCode ...
    assert updates[TECH]["response_code"] == code and updates[TECH]["agentid"] == AGENT_ID
    assert updates[TECH]["template_card"]["task_id"] == team_task
    # ... and the requester's card with the code message/send returned for it
    assert updates[REQUESTER]["response_code"].startswith("RC-SEND-")
    for user, task in ((TECH, team_task), (REQUESTER, requester_task)):
        assert fields(wc.api.cards[task]["card"])["Assignee"] == TECH, user
    assert keys(wc.api.cards[team_task]["card"]) == [f"ticket.waiting?ticket={ticket_id}",
                                                    f"ticket.resolve?ticket={ticket_id}"]
    assert keys(wc.api.cards[requester_task]["card"]) == [f"ticket.cancel?ticket={ticket_id}"]
    # the updated cards are the whole answer: nothing was posted anew
    assert len(wc.api.calls_to(SEND)) == sends_before
    assert all(row.status in ("sent", "superseded") for row in wc.desk.outbox())


async def test_a_requester_clicking_claim_is_refused_and_nothing_changes(wc):
    ticket_id = await open_vpn_ticket(wc)
    task, _ = wc.card_of(REQUESTER, "IT-1")
    # their card has no Claim button; a click that says otherwise (an old card, a forged one) is refused
    await wc.click(task, f"ticket.claim?ticket={ticket_id}", user=REQUESTER)

    ticket = wc.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("new", None)
    assert wc.desk.timeline("IT-1") == ["opened"]
    [refusal] = wc.api.texts_for(REQUESTER)
    assert refusal.startswith("Sorry, only") and "claim" in refusal
    # core redraws the cards from the database; they show what they showed, so WeCom is not called
    # (and the cards keep their single-use update codes for the next real change)
    assert keys(wc.api.cards[task]["card"]) == [f"ticket.cancel?ticket={ticket_id}"]
    assert wc.api.calls_to(UPDATE) == [] and len(wc.api.cards_for(REQUESTER)) == 1


async def test_the_requester_withdraws_the_request_from_their_card(wc):
    ticket_id = await open_vpn_ticket(wc)
    task, _ = wc.card_of(REQUESTER, "IT-1")
    team_task, _ = wc.card_of(TECH, "IT-1")
    await wc.click(task, f"ticket.cancel?ticket={ticket_id}", user=REQUESTER)
    assert wc.desk.ticket("IT-1").status == "closed"
    assert wc.desk.timeline("IT-1") == ["opened", "cancelled"]
    assert wc.api.texts_for(REQUESTER) == ["IT-1 is cancelled."]
    # both cards follow in place: the requester may still reopen it, the team sees it closed
    assert keys(wc.api.cards[task]["card"]) == [f"ticket.reopen?ticket={ticket_id}"]
    assert fields(wc.api.cards[team_task]["card"])["Status"] == "Closed"
    assert len(wc.api.cards_for(REQUESTER)) == 1


async def test_a_refusal_to_a_chinese_requester_click_is_in_chinese(wc):
    await wc.say("7301000000000000020", "电脑蓝屏了，开不了机")
    ticket = wc.desk.ticket("IT-1")
    assert ticket.lang.startswith("zh")
    task, card = wc.card_of(REQUESTER, "IT-1")
    assert card["button_list"][0]["text"] == "撤销工单"  # the requester's card is in Chinese
    await wc.click(task, f"ticket.claim?ticket={ticket.id}", user=REQUESTER)
    [refusal] = wc.api.texts_for(REQUESTER)
    assert refusal.startswith("抱歉")


async def test_resolve_sends_a_survey_and_the_rating_closes_the_ticket(wc):
    ticket_id = await open_vpn_ticket(wc)
    team_task, _ = wc.card_of(TECH, "IT-1")
    await wc.click(team_task, f"ticket.claim?ticket={ticket_id}", user=TECH)
    await wc.click(team_task, f"ticket.resolve?ticket={ticket_id}", user=TECH)
    assert wc.desk.ticket("IT-1").status == "resolved"
    # the technician's card followed every step in place (a fresh ResponseCode came with each click)
    assert wc.api.cards_for(TECH) == [(team_task, wc.api.cards[team_task]["card"])]
    assert keys(wc.api.cards[team_task]["card"]) == [f"ticket.reopen?ticket={ticket_id}",
                                                    f"kb.capture?ticket={ticket_id}"]

    survey_task, survey = wc.card_of(REQUESTER, "Is it fixed?")
    assert survey["main_title"]["title"] == "Is it fixed? · IT-1"
    # seven choices: five buttons, the other ratings in a selector submitted with Confirm
    assert keys(survey) == [f"survey.fixed?ticket={ticket_id}", f"survey.reopen?ticket={ticket_id}",
                            f"survey.rate?rating=1&ticket={ticket_id}", f"survey.rate?rating=2&ticket={ticket_id}",
                            f"survey.rate?rating=3&ticket={ticket_id}", "~more"]
    five = f"survey.rate?rating=5&ticket={ticket_id}"
    assert five in [o["id"] for o in survey["button_selection"]["option_list"]]

    code = wc.api.click(survey_task)
    assert (await wc.post(selector_xml(survey_task, five, code, REQUESTER))).status_code == 200
    await wc.desk.idle()
    ticket = wc.desk.ticket("IT-1")
    assert (ticket.status, ticket.rating) == ("closed", 5)
    assert wc.desk.timeline("IT-1")[-2:] == ["rated", "closed"]
    assert "Thanks for rating IT-1 5/5." in wc.api.texts_for(REQUESTER)
    # the answered survey keeps its text and its buttons are greyed out with the click's code
    [lock] = [u["json"] for u in wc.api.calls_to(UPDATE) if u["json"]["response_code"] == code]
    assert lock["button"] == {"replace_name": "Done"} and "template_card" not in lock
    assert wc.api.cards[survey_task]["locked"] == "Done"
    assert [row.status for row in wc.desk.outbox() if row.status not in ("sent", "superseded")] == []


async def test_a_requester_message_naming_the_open_ticket_is_added_to_it(wc):
    ticket_id = await open_vpn_ticket(wc)
    team_task, _ = wc.card_of(TECH, "IT-1")
    await wc.click(team_task, f"ticket.claim?ticket={ticket_id}", user=TECH)
    await wc.say("7301000000000000021", "IT-1 还是不行，重启也没用")
    assert [t.key for t in wc.desk.tickets()] == ["IT-1"]
    assert wc.desk.timeline("IT-1")[-1] == "relay"


async def test_core_direct_messages_to_a_person_reach_that_userid(wc):
    await open_vpn_ticket(wc)
    # a lead assigns by @name: core writes to the assignee as chat_id "@zhaolei"
    await wc.say("7301000000000000009", "/ticket assign IT-1 @zhaolei", user=TECH)
    assert wc.desk.ticket("IT-1").assignee == f"wecom:{LEAD}"
    [note] = wc.api.texts_for(LEAD)
    assert "IT-1" in note
    assert not [c for c in wc.api.calls_to(SEND) if str(c["json"]["touser"]).startswith("@")]
    assert [row.status for row in wc.desk.outbox() if row.status == "parked"] == []


# ---------------------------------------------------------------- the smart robot


def group_mention(msgid: str, text: str, *, user: str = REQUESTER, chat: str = GROUP) -> dict[str, Any]:
    return {"msgid": msgid, "aibotid": "BOT-1", "chatid": chat, "chattype": "group", "from": {"userid": user},
            "msgtype": "text", "text": {"content": text}}


def robot_click(task_id: str, key: str, *, user: str, chat: str) -> dict[str, Any]:
    return {"msgid": f"EVT-{secrets.token_hex(4)}", "create_time": int(time.time()), "aibotid": "BOT-1",
            "chatid": chat, "chattype": "group", "from": {"userid": user}, "msgtype": "event",
            "event": {"eventtype": "template_card_event", "template_card_event": {
                "card_type": "button_interaction", "event_key": key, "task_id": task_id}}}


@dataclass
class RobotDesk:
    """A desk with both the app (direct chats) and the smart robot (groups), and both fakes."""

    desk: RunningDesk
    api: FakeQyapi
    gateway: FakeRobotGateway

    async def push(self, cmd: str, body: dict[str, Any]) -> str:
        req_id = await self.gateway.push(cmd, body)
        await self.gateway.wait_for(lambda: self.stored(body["msgid"]))
        await self.desk.idle()
        return req_id

    def stored(self, msgid: str) -> bool:
        with self.desk.container.uow.begin() as s:
            return bool(s.execute(select(func.count()).select_from(IntakeEvent)
                                  .where(IntakeEvent.event_id == f"aibot:{msgid}")).scalar())

    def frames(self, cmd: str) -> list[dict[str, Any]]:
        return [f for f in self.gateway.frames if f.get("cmd") == cmd]


async def robot_ready(desk: RunningDesk, gateway: FakeRobotGateway) -> None:
    await gateway.wait_for(lambda: gateway.subscriptions >= 1)
    robot = desk.container.adapters["wecom"].robot  # type: ignore[attr-defined]
    await robot.ready.wait()


@pytest.fixture
async def wr(db_url: str, api: FakeQyapi, gateway: FakeRobotGateway) -> AsyncIterator[RobotDesk]:
    config = desk_config(db_url, desk=it_desk(f"wecom:{TEAM_GROUP}"),
                         wecom=wecom_section(api.url, robot_url=gateway.url))
    async with running_desk(config) as desk:
        await robot_ready(desk, gateway)
        yield RobotDesk(desk=desk, api=api, gateway=gateway)
        await desk.idle()


async def test_a_group_mention_opens_a_ticket_answered_with_a_card_through_the_robot(wr):
    req_id = await wr.push("aibot_msg_callback", group_mention("MSG-G1", "@IT助手 打印机卡纸了"))
    ticket = wr.desk.ticket("IT-1")
    assert (ticket.requester, ticket.subject, ticket.status) == (f"wecom:{REQUESTER}", "打印机卡纸了", "new")

    # the card answers the @mention itself: a reply frame on the callback's req_id
    [answer] = wr.frames("aibot_respond_msg")
    assert answer["headers"]["req_id"] == req_id
    assert answer["body"]["msgtype"] == "template_card"
    card = answer["body"]["template_card"]
    assert card["main_title"]["title"] == "IT-1 · 打印机卡纸了"
    assert keys(card) == [f"ticket.claim?ticket={ticket.id}", f"ticket.resolve?ticket={ticket.id}"]
    # the team's group gets its card as a proactive robot message; the app sends nothing to groups
    [team] = wr.frames("aibot_send_msg")
    assert team["body"]["chatid"] == TEAM_GROUP and team["body"]["msgtype"] == "template_card"
    assert wr.api.calls_to(SEND) == []
    assert all(row.status == "sent" for row in wr.desk.outbox())


async def test_a_claim_clicked_in_the_team_group_updates_that_card_from_the_click(wr):
    await wr.push("aibot_msg_callback", group_mention("MSG-G2", "@IT助手 VPN is down"))
    ticket_id = wr.desk.ticket("IT-1").id
    [team] = wr.frames("aibot_send_msg")
    task_id = team["body"]["template_card"]["task_id"]

    click_req = await wr.push("aibot_event_callback", robot_click(task_id, f"ticket.claim?ticket={ticket_id}",
                                                                   user=TECH, chat=TEAM_GROUP))
    ticket = wr.desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee) == ("in_progress", f"wecom:{TECH}")
    [update] = wr.frames("aibot_respond_update_msg")
    assert update["headers"]["req_id"] == click_req
    assert update["body"]["response_type"] == "update_template_card"
    assert update["body"]["template_card"]["task_id"] == task_id
    assert keys(update["body"]["template_card"]) == [f"ticket.waiting?ticket={ticket_id}",
                                                     f"ticket.resolve?ticket={ticket_id}"]
    # the team card is not posted a second time by the outbox
    assert [f["body"]["chatid"] for f in wr.frames("aibot_send_msg")].count(TEAM_GROUP) == 1


async def test_a_requester_opening_the_robot_chat_is_welcomed_within_the_callback(wr):
    body = {"msgid": "EVT-W1", "create_time": int(time.time()), "aibotid": "BOT-1", "chattype": "single",
            "from": {"userid": REQUESTER}, "msgtype": "event", "event": {"eventtype": "enter_chat"}}
    req_id = await wr.push("aibot_event_callback", body)
    [welcome] = wr.frames("aibot_respond_welcome_msg")
    assert welcome["headers"]["req_id"] == req_id
    assert welcome["body"]["msgtype"] == "text"
    assert welcome["body"]["text"]["content"].startswith("Hi! I'm the IT service desk bot.")
    assert wr.frames("aibot_send_msg") == [] and wr.desk.tickets() == []


# ---------------------------------------------------------------- built by the container, stopped by the runtime


async def test_the_runtime_stop_closes_the_robot_link_and_the_app_client(db_url, api, gateway):
    config = desk_config(db_url, desk=it_desk(f"wecom:{TEAM_GROUP}"),
                         wecom=wecom_section(api.url, robot_url=gateway.url))
    async with running_desk(config) as desk:
        await robot_ready(desk, gateway)
        adapter = desk.container.adapters["wecom"]
        await adapter.send(ConversationRef(platform="wecom", chat_id=f"@{REQUESTER}", is_direct=True),
                           Reply(fallback_text="hello"))
        assert gateway.connections == 1
    await gateway.wait_for(lambda: gateway.connections == 0)
    assert adapter.robot is None  # type: ignore[attr-defined]
    calls = len(api.calls)
    with pytest.raises(DeliveryError) as info:  # a stopped adapter sends nothing and opens nothing
        await adapter.send(ConversationRef(platform="wecom", chat_id=f"@{REQUESTER}", is_direct=True),
                           Reply(fallback_text="too late"))
    assert info.value.retryable and len(api.calls) == calls


async def test_a_robot_only_desk_has_no_callback_route_and_answers_groups(db_url, api, gateway):
    config = desk_config(db_url, desk=it_desk(f"wecom:{TEAM_GROUP}"),
                         wecom=wecom_section(api.url, app=False, robot_url=gateway.url))
    async with running_desk(config) as desk:
        await robot_ready(desk, gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://deskbot") as http:
            url, body = Signer().post(text_xml("7301000000000000010", "hi"))
            assert (await http.post(url, content=body)).status_code == 404
        wr = RobotDesk(desk=desk, api=api, gateway=gateway)
        await wr.push("aibot_msg_callback", group_mention("MSG-R1", "@IT助手 monitor flickers"))
        assert wr.desk.ticket("IT-1").subject == "monitor flickers"
        assert len(wr.frames("aibot_respond_msg")) == 1
        # without the app, core's direct message to a person goes through the robot's chat with them
        await desk.container.adapters["wecom"].send(
            ConversationRef(platform="wecom", chat_id=f"@{TECH}", is_direct=True), Reply(fallback_text="hi"))
        assert wr.frames("aibot_send_msg")[-1]["body"]["chatid"] == TECH
    assert api.calls == []
