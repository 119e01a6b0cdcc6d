"""Slack end to end: signed requests and Socket Mode envelopes through the real core, against the fake Web API."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from adapters.slack.parse import decode_button_value
from core.db.models import IntakeEvent
from core.settings import Desk, Roles
from tests.adapters.slack.helpers import (
    SECRET,
    block_actions,
    command_form,
    event_body,
    interactive_form,
    message_event,
    signed_headers,
)
from tests.desk_runtime import RunningDesk, desk_config, running_desk

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
GENERAL, TEAM = "CGENERAL", "CTEAM"
REQUESTER, TECH, LEAD, TECH2 = "U1", "UTECH", "ULEAD", "UTECH2"
# Thread roots far below the ts values the fake gives the bot's own posts (1700000000+n).
ROOT = "1690000001.000100"

_triggers = itertools.count(1)


def slack_config(db_url: str, fake: Any, **slack: Any) -> Any:
    desk = Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="off", team_chat=f"slack:{TEAM}",
                roles=Roles(technicians=[f"slack:{TECH}", f"slack:{TECH2}"], leads=[f"slack:{LEAD}"]))
    section = {"enabled": True, "mode": "http", "bot_token": "xoxb-test", "signing_secret": SECRET,
               "api_base_url": fake.url, **slack}
    return desk_config(db_url, desk=desk, slack=section, delivery={"base_backoff_seconds": 0.05})


@pytest.fixture
def people(fake):
    fake.add_user(TECH, "Tom Tech")
    fake.add_user(LEAD, "Lena Lead")
    fake.add_user(TECH2, "Bob Tech")
    return fake


@pytest.fixture
async def desk(db_url, people):
    async with running_desk(slack_config(db_url, people)) as running:
        # Per-channel pacing (1 message/s) has its own test below; here it would only make each test slow.
        running.container.adapters["slack"].send_rate = (50, 1.0)  # type: ignore[misc]
        yield running


@pytest.fixture
async def client(desk):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://deskbot") as c:
        yield c


# ---------------------------------------------------------------- requests Slack would send


async def post(client: httpx.AsyncClient, body: str, content_type: str, **kw: Any) -> httpx.Response:
    kw.setdefault("secret", SECRET)
    return await client.post("/slack/events", content=body.encode(),
                             headers=signed_headers(body, content_type=content_type, **kw))


async def send_event(client: httpx.AsyncClient, event: dict[str, Any], event_id: str, **kw: Any) -> httpx.Response:
    return await post(client, json.dumps(event_body(event, event_id)), JSON, **kw)


async def slash(client: httpx.AsyncClient, text: str, *, user: str, channel: str = TEAM) -> httpx.Response:
    return await post(client, command_form(text, user=user, channel=channel, trigger=f"4242.{next(_triggers)}.t"),
                      FORM)


async def click(client: httpx.AsyncClient, message: dict[str, Any], action_id: str, *, user: str, channel: str,
                **value: str) -> httpx.Response:
    payload = block_actions(button(message, action_id, **value), user=user, channel=channel, card_ts=message["ts"],
                            thread_ts=message.get("thread_ts"), trigger=f"4242.{next(_triggers)}.c")
    return await post(client, interactive_form(payload), FORM)


async def open_ticket(desk: RunningDesk, client: httpx.AsyncClient, text: str = "my VPN drops every ten minutes",
                      *, ts: str = ROOT, event_id: str = "EvOPEN") -> None:
    resp = await send_event(client, message_event(f"<@UBOT> {text}", ts=ts, kind="app_mention"), event_id)
    assert resp.status_code == 200
    await desk.idle()


# ---------------------------------------------------------------- what the fake Slack holds


def card(fake: Any, channel: str, title_prefix: str) -> dict[str, Any]:
    """The bot's message in `channel` whose header starts with `title_prefix`, as it looks now."""
    found = [m for m in fake.messages.get(channel, [])
             if m.get("blocks") and m["blocks"][0].get("type") == "header"
             and m["blocks"][0]["text"]["text"].startswith(title_prefix)]
    assert len(found) == 1, f"expected one {title_prefix!r} card in {channel}, found {len(found)}"
    return found[0]


def buttons(message: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for block in message["blocks"]:
        if block["type"] == "actions":
            for element in block["elements"]:
                decoded = decode_button_value(element["value"])
                assert decoded is not None
                out.append(decoded)
    return out


def button(message: dict[str, Any], action_id: str, **value: str) -> dict[str, Any]:
    for block in message["blocks"]:
        if block["type"] != "actions":
            continue
        for element in block["elements"]:
            decoded = decode_button_value(element["value"])
            if decoded and decoded[0] == action_id and value.items() <= decoded[1].items():
                return element
    raise AssertionError(f"no {action_id} {value} button on the card")


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def ephemerals(fake: Any, user: str) -> list[str]:
    return [c.params["text"] for c in fake.calls_to("chat.postEphemeral") if c.params["user"] == user]


def intake_rows(desk: RunningDesk) -> int:
    with desk.container.uow.begin() as s:
        return int(s.execute(select(func.count()).select_from(IntakeEvent)).scalar() or 0)


# ---------------------------------------------------------------- intake


async def test_mention_opens_a_ticket_with_a_threaded_card_and_a_team_card(desk, client, fake):
    await open_ticket(desk, client)

    [ticket] = desk.tickets()
    assert (ticket.key, ticket.status, ticket.requester, ticket.requester_name) == (
        "IT-1", "new", f"slack:{REQUESTER}", "Li Lei")
    assert ticket.subject == "my VPN drops every ten minutes"
    [in_thread] = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == GENERAL]
    assert in_thread.params["thread_ts"] == ROOT and in_thread.token == "xoxb-test"
    thread_card = card(fake, GENERAL, "IT-1 · ")
    assert [a for a, _ in buttons(thread_card)] == ["ticket.claim", "ticket.resolve"]
    assert "Li Lei" in card_text(thread_card)
    team_card = card(fake, TEAM, "IT-1 · ")
    assert "thread_ts" not in team_card  # top level in the technicians' channel
    assert buttons(team_card) == buttons(thread_card)
    assert desk.timeline("IT-1") == ["opened"]


async def test_url_verification_through_the_desk(desk, client):
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    resp = await post(client, body, JSON)
    assert resp.status_code == 200 and resp.json() == {"challenge": "c-123"}
    assert intake_rows(desk) == 0


async def test_ticket_reaction_turns_the_message_into_a_ticket(desk, client, fake):
    fake.add_message(GENERAL, "1690000002.000200", "the 3F printer eats every page", user="U2")
    reaction = {"type": "reaction_added", "user": REQUESTER, "reaction": "ticket", "item_user": "U2",
                "item": {"type": "message", "channel": GENERAL, "ts": "1690000002.000200"},
                "event_ts": "1690000003.000100"}
    assert (await send_event(client, reaction, "EvREACT")).status_code == 200
    # someone else adds the same emoji: still one ticket
    again = {**reaction, "user": TECH, "event_ts": "1690000003.000200"}
    assert (await send_event(client, again, "EvREACT2")).status_code == 200
    await desk.idle()

    [ticket] = desk.tickets()
    assert ticket.requester == "slack:U2" and ticket.requester_name == "Wang Fang"
    assert ticket.subject == "the 3F printer eats every page"
    thread_card = card(fake, GENERAL, "IT-1 · ")
    assert thread_card["thread_ts"] == "1690000002.000200"
    card(fake, TEAM, "IT-1 · ")

    # :ticket: on the bot's own card is not a ticket about the bot
    on_card = {**reaction, "item_user": "UBOT", "item": {"type": "message", "channel": GENERAL,
                                                          "ts": thread_card["ts"]}}
    assert (await send_event(client, on_card, "EvREACT3")).status_code == 200
    await desk.idle()
    assert len(desk.tickets()) == 1


async def test_ticket_reaction_on_a_thread_reply_keeps_the_ticket_in_that_thread(desk, client, fake):
    root, reply_ts = "1690000030.000100", "1690000030.000200"
    fake.add_message(GENERAL, root, "anyone else seeing this?", user="U2")
    fake.add_message(GENERAL, reply_ts, "my monitor goes black every hour", user="U2", thread_ts=root)
    reaction = {"type": "reaction_added", "user": TECH, "reaction": "ticket", "item_user": "U2",
                "item": {"type": "message", "channel": GENERAL, "ts": reply_ts}, "event_ts": "1690000031.000100"}
    assert (await send_event(client, reaction, "EvREACTREPLY")).status_code == 200
    await desk.idle()
    [ticket] = desk.tickets()
    assert ticket.subject == "my monitor goes black every hour"
    # https://api.slack.com/methods/chat.postMessage#arg_thread_ts: "avoid using a reply's ts value"
    assert card(fake, GENERAL, "IT-1 · ")["thread_ts"] == root
    more = message_event("it flickers first, then goes black", ts="1690000032.000100", user="U2", thread_ts=root)
    assert (await send_event(client, more, "EvREACTREPLY2")).status_code == 200
    await desk.idle()
    assert desk.timeline("IT-1")[-1] == "relay"


async def test_thread_replies_become_comments_relayed_both_ways(desk, client, fake):
    await open_ticket(desk, client)
    team_card = card(fake, TEAM, "IT-1 · ")

    reply = message_event("it also happens on the office wifi", ts="1690000004.000100", thread_ts=ROOT)
    assert (await send_event(client, reply, "EvREPLY")).status_code == 200
    await desk.idle()
    assert desk.timeline("IT-1")[-1] == "relay"
    [relayed] = [c for c in fake.calls_to("chat.postMessage")
                 if c.params["channel"] == TEAM and c.params.get("thread_ts") == team_card["ts"]]
    assert "it also happens on the office wifi" in relayed.params["text"]
    # both cards show the comment in their timeline, edited in place
    assert "office wifi" in card_text(card(fake, GENERAL, "IT-1 · "))
    assert "office wifi" in card_text(card(fake, TEAM, "IT-1 · "))

    answer = message_event("please try the new VPN profile", ts="1690000005.000100", channel=TEAM, user=TECH,
                           thread_ts=team_card["ts"])
    assert (await send_event(client, answer, "EvANSWER")).status_code == 200
    await desk.idle()
    assert desk.timeline("IT-1")[-1] == "comment"
    [to_requester] = [c for c in fake.calls_to("chat.postMessage")
                      if c.params["channel"] == GENERAL and "new VPN profile" in c.params["text"]]
    assert to_requester.params["thread_ts"] == ROOT
    assert to_requester.params["text"].startswith(f"<@{REQUESTER}>")
    assert len(desk.tickets()) == 1


async def test_chatter_in_an_unrelated_thread_is_not_a_ticket(desk, client, fake):
    chatter = message_event("lunch at noon?", ts="1690000006.000200", thread_ts="1690000006.000100")
    assert (await send_event(client, chatter, "EvCHAT")).status_code == 200
    await desk.idle()
    assert desk.tickets() == []
    assert not fake.calls_to("chat.postMessage")


# ---------------------------------------------------------------- working the ticket


async def test_technician_claims_by_slash_command_and_both_cards_update_in_place(desk, client, fake):
    await open_ticket(desk, client)
    posted_before = len(fake.calls_to("chat.postMessage"))

    resp = await slash(client, "claim IT-1", user=TECH)
    assert resp.status_code == 200
    await desk.idle()

    ticket = desk.ticket("IT-1")
    assert (ticket.status, ticket.assignee, ticket.assignee_name) == ("in_progress", f"slack:{TECH}", "Tom Tech")
    updated = {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.update")}
    thread_card, team_card = card(fake, GENERAL, "IT-1 · "), card(fake, TEAM, "IT-1 · ")
    assert updated == {(GENERAL, thread_card["ts"]), (TEAM, team_card["ts"])}
    assert len(fake.calls_to("chat.postMessage")) == posted_before  # no second card anywhere
    for message in (thread_card, team_card):
        assert "Tom Tech" in card_text(message)
        assert [a for a, _ in buttons(message)] == ["ticket.waiting", "ticket.resolve"]
    assert ephemerals(fake, TECH) == ["Tom Tech claimed IT-1."]
    assert desk.timeline("IT-1") == ["opened", "claimed"]


async def test_requester_trying_to_claim_gets_a_polite_private_no(desk, client, fake):
    await open_ticket(desk, client)
    before = desk.ticket("IT-1")

    assert (await slash(client, "claim IT-1", user=REQUESTER, channel=GENERAL)).status_code == 200
    await desk.idle()
    [refusal] = ephemerals(fake, REQUESTER)
    assert refusal.startswith("Sorry, only") and "claim" in refusal
    assert not fake.calls_to("chat.update")

    # the Claim button on the card: the same refusal, and the card is only refreshed
    thread_card = card(fake, GENERAL, "IT-1 · ")
    assert (await click(client, thread_card, "ticket.claim", user=REQUESTER, channel=GENERAL)).status_code == 200
    await desk.idle()
    assert len(ephemerals(fake, REQUESTER)) == 2

    after = desk.ticket("IT-1")
    assert (after.status, after.assignee, after.version) == (before.status, None, before.version)
    assert desk.timeline("IT-1") == ["opened"]
    assert [a for a, _ in buttons(card(fake, GENERAL, "IT-1 · "))] == ["ticket.claim", "ticket.resolve"]


async def test_claim_button_updates_the_card_in_place(desk, client, fake):
    await open_ticket(desk, client)
    team_card = copy.deepcopy(card(fake, TEAM, "IT-1 · "))  # the card as the second technician still sees it

    resp = await click(client, team_card, "ticket.claim", user=TECH, channel=TEAM)
    assert resp.status_code == 200 and resp.content in (b"", b"null")  # the card changes by chat.update
    await desk.idle()

    assert desk.ticket("IT-1").assignee == f"slack:{TECH}"
    assert (TEAM, team_card["ts"]) in {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.update")}
    assert [a for a, _ in buttons(card(fake, TEAM, "IT-1 · "))] == ["ticket.waiting", "ticket.resolve"]

    # a second technician clicks the same (now outdated) button: nothing changes hands
    assert (await click(client, team_card, "ticket.claim", user=TECH2, channel=TEAM)).status_code == 200
    await desk.idle()
    assert desk.ticket("IT-1").assignee == f"slack:{TECH}"
    assert ephemerals(fake, TECH2)


async def test_resolve_sends_the_survey_and_a_rating_closes_the_ticket(desk, client, fake):
    await open_ticket(desk, client)
    await click(client, card(fake, TEAM, "IT-1 · "), "ticket.claim", user=TECH, channel=TEAM)
    await desk.idle()

    assert (await slash(client, "resolve IT-1 replaced the VPN profile", user=TECH)).status_code == 200
    await desk.idle()
    ticket = desk.ticket("IT-1")
    assert ticket.status == "resolved" and ticket.resolution == "replaced the VPN profile"
    survey = card(fake, GENERAL, "Is it fixed? · IT-1")
    assert survey["thread_ts"] == ROOT
    assert f"<@{REQUESTER}>" in card_text(survey)  # the requester is mentioned
    assert [a for a, _ in buttons(survey)] == ["survey.fixed", "survey.reopen", *["survey.rate"] * 5]

    # only the requester rates
    assert (await click(client, survey, "survey.rate", user=TECH, channel=GENERAL, rating="1")).status_code == 200
    await desk.idle()
    assert desk.ticket("IT-1").rating is None

    assert (await click(client, survey, "survey.rate", user=REQUESTER, channel=GENERAL, rating="5")).status_code == 200
    await desk.idle()
    ticket = desk.ticket("IT-1")
    assert (ticket.status, ticket.rating) == ("closed", 5)
    assert desk.timeline("IT-1")[-2:] == ["rated", "closed"]
    assert any("5/5" in text for text in ephemerals(fake, REQUESTER))
    # the survey card itself is edited: no buttons left to press
    survey_now = card(fake, GENERAL, "Is it fixed? · IT-1")
    assert (GENERAL, survey["ts"]) in {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.update")}
    assert buttons(survey_now) == []
    assert "★★★★★" in card_text(card(fake, TEAM, "IT-1 · "))


async def test_lead_assigns_and_the_assignee_hears_by_direct_message(desk, client, fake):
    """Core writes to a person it has no conversation with as chat_id "@<user_id>": conversations.open."""
    await open_ticket(desk, client)
    assert (await slash(client, f"assign IT-1 <@{TECH2}|bob>", user=LEAD)).status_code == 200
    await desk.idle()

    assert desk.ticket("IT-1").assignee == f"slack:{TECH2}"
    assert [c.params["users"] for c in fake.calls_to("conversations.open")] == [TECH2]
    dm_channel = "D" + TECH2[1:]
    [dm] = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == dm_channel]
    assert "IT-1" in dm.params["text"]
    assert [o.status for o in desk.outbox() if o.conversation_key.startswith("slack||@")] == ["sent"]


async def test_lead_assigns_in_a_message_by_mentioning_the_technician(desk, client, fake):
    await open_ticket(desk, client)
    command = message_event(f"<@UBOT> assign IT-1 <@{TECH2}>", ts="1690000050.000100", channel=TEAM, user=LEAD,
                            kind="app_mention")
    assert (await send_event(client, command, "EvASSIGNMSG")).status_code == 200
    await desk.idle()
    assert desk.ticket("IT-1").assignee == f"slack:{TECH2}"


async def test_new_without_text_opens_the_modal_and_its_submission_opens_a_ticket(desk, client, fake):
    resp = await slash(client, "new", user=REQUESTER, channel=GENERAL)
    assert resp.status_code == 200
    [opened] = fake.calls_to("views.open")
    view = opened.params["view"]
    category = next(b for b in view["blocks"] if b["block_id"] == "category")
    # the desk's own categories, handed over by the composition root
    assert [o["value"] for o in category["element"]["options"]] == desk.container.config.desks[0].categories
    assert intake_rows(desk) == 0  # opening the form is not an event for core

    submission = {
        "type": "view_submission", "team": {"id": "T1"}, "user": {"id": REQUESTER, "name": "li.lei"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "4242.900.v",
        "view": {**view, "id": "V0900", "hash": "h900", "state": {"values": {
            "subject": {"value": {"type": "plain_text_input", "value": "Laptop battery is swollen"}},
            "description": {"value": {"type": "plain_text_input", "value": "The touchpad is lifting"}},
            "category": {"value": {"type": "static_select", "selected_option": {"value": "hardware"}}},
            "priority": {"value": {"type": "static_select", "selected_option": {"value": "P1"}}},
        }}},
    }
    resp = await post(client, interactive_form(submission), FORM)
    assert resp.status_code == 200 and resp.content in (b"", b"null")  # empty ack closes the modal
    await desk.idle()

    [ticket] = desk.tickets()
    assert (ticket.subject, ticket.category, ticket.priority, ticket.requester) == (
        "Laptop battery is swollen", "hardware", "P1", f"slack:{REQUESTER}")
    assert ticket.description == "The touchpad is lifting"
    assert "Laptop battery is swollen" in card_text(card(fake, GENERAL, "IT-1 · "))
    card(fake, TEAM, "IT-1 · ")


# ---------------------------------------------------------------- delivery guarantees


async def test_one_message_delivered_three_times_makes_one_ticket(desk, client, fake):
    mention = message_event("<@UBOT> badge reader at door 2 is dead", ts=ROOT, kind="app_mention")
    as_message = message_event("<@UBOT> badge reader at door 2 is dead", ts=ROOT)
    assert (await send_event(client, mention, "EvDUP1")).status_code == 200
    for n in (1, 2):  # Slack's retries: same event id, X-Slack-Retry-Num
        retry = {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
        assert (await send_event(client, mention, "EvDUP1", extra=retry)).status_code == 200
    # the same message also arrives as a `message` event under its own event id
    assert (await send_event(client, as_message, "EvDUP2")).status_code == 200
    await desk.idle()

    assert [t.key for t in desk.tickets()] == ["IT-1"]
    assert intake_rows(desk) == 1
    assert len([c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == GENERAL]) == 1


@pytest.mark.parametrize("forgery", [{"secret": "not-the-signing-secret"},
                                     {"timestamp": int(time.time()) - 6 * 60}], ids=["bad-signature", "stale"])
async def test_unverified_requests_are_refused_and_nothing_is_stored(desk, client, fake, forgery):
    mention = message_event("<@UBOT> please reset my password", ts=ROOT, kind="app_mention")
    resp = await post(client, json.dumps(event_body(mention, "EvFORGED")), JSON, **forgery)
    assert resp.status_code == 401
    command = command_form("new printer on 2F", user=REQUESTER, channel=GENERAL, trigger="4242.666.f")
    assert (await post(client, command, FORM, **forgery)).status_code == 401
    await desk.idle()
    assert intake_rows(desk) == 0
    assert desk.tickets() == [] and desk.outbox() == []
    assert not fake.calls_to("chat.postMessage")


async def test_rate_limited_send_is_retried_after_retry_after(desk, client, fake):
    fake.fail("chat.postMessage", error="ratelimited", status=429, headers={"Retry-After": "1"})
    await open_ticket(desk, client)

    calls = fake.calls_to("chat.postMessage")
    refused = calls[0]  # the first post is answered 429; the other card goes out meanwhile
    [again] = [c for c in calls[1:] if c.params == refused.params]
    assert again.at - refused.at >= 1.0
    assert len(calls) == 3
    assert {o.status for o in desk.outbox()} == {"sent"}
    card(fake, GENERAL, "IT-1 · ")


async def test_cards_leave_at_most_one_per_second_per_channel(db_url, people):
    async with running_desk(slack_config(db_url, people)) as running, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.app), base_url="http://deskbot") as client:
        # two tickets at once: two cards queue for #general (different threads) and two for the team channel
        for n, text in enumerate(("the projector in room 4 is blank", "the phone at desk 9 has no tone")):
            event = message_event(f"<@UBOT> {text}", ts=f"169000001{n}.000100", kind="app_mention")
            assert (await send_event(client, event, f"EvPACE{n}")).status_code == 200
        await running.idle()
    for channel in (GENERAL, TEAM):
        first, second = [c for c in people.calls_to("chat.postMessage") if c.params["channel"] == channel]
        assert second.at - first.at >= 0.9


# ---------------------------------------------------------------- Socket Mode


async def test_socket_mode_event_is_acked_and_opens_a_ticket(db_url, people):
    config = slack_config(db_url, people, mode="socket", app_token="xapp-test", signing_secret=None)
    async with running_desk(config) as running:
        assert running.container.adapters["slack"].routes() == []
        await asyncio.to_thread(people.wait_connected)
        event = message_event("<@UBOT> the wiki returns 502", ts=ROOT, kind="app_mention")
        envelope = {"envelope_id": "env-e2e-1", "type": "events_api", "accepts_response_payload": False,
                    "retry_attempt": 0, "retry_reason": "", "payload": event_body(event, "EvSOCK1")}
        people.send_envelope(envelope)
        assert await asyncio.to_thread(people.wait_ack, "env-e2e-1") == {"envelope_id": "env-e2e-1"}
        # Slack redelivers an envelope it thinks was lost: a new envelope id, the same event
        people.send_envelope({**envelope, "envelope_id": "env-e2e-2", "retry_attempt": 1, "retry_reason": "timeout"})
        await asyncio.to_thread(people.wait_ack, "env-e2e-2")
        await running.idle()

        [ticket] = running.tickets()
        assert ticket.key == "IT-1" and ticket.subject == "the wiki returns 502"
        assert card(people, GENERAL, "IT-1 · ")["thread_ts"] == ROOT
        card(people, TEAM, "IT-1 · ")
        assert [c.token for c in people.calls_to("apps.connections.open")] == ["xapp-test"]


def stored_payloads(desk: RunningDesk) -> list[str]:
    with desk.container.uow.begin() as s:
        return list(s.execute(select(IntakeEvent.payload)).scalars())


def new_ticket_submission(view: dict[str, Any], *, user: str, subject: str, description: str) -> dict[str, Any]:
    return {
        "type": "view_submission", "team": {"id": "T1"}, "user": {"id": user, "name": "someone"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": f"4242.{next(_triggers)}.v",
        "view": {**view, "id": f"V{next(_triggers):04d}", "hash": "h1", "state": {"values": {
            "subject": {"value": {"type": "plain_text_input", "value": subject}},
            "description": {"value": {"type": "plain_text_input", "value": description}},
        }}},
    }


async def test_password_typed_in_chat_is_masked_before_it_is_stored(desk, client, fake):
    await open_ticket(desk, client, "cannot log in, my password is Hunter2secret")
    assert "Hunter2secret" not in desk.ticket("IT-1").description
    assert not any("Hunter2secret" in p for p in stored_payloads(desk))
    assert not any("Hunter2secret" in c.params.get("text", "") + json.dumps(c.params.get("blocks", []))
                   for c in fake.calls_to("chat.postMessage"))


async def test_password_typed_in_the_modal_is_masked_before_it_is_stored(desk, client, fake):
    await slash(client, "new", user=REQUESTER, channel=GENERAL)
    view = fake.calls_to("views.open")[0].params["view"]
    submission = new_ticket_submission(view, user=REQUESTER, subject="VPN login fails",
                                       description="my password is Hunter2secret and it is refused")
    assert (await post(client, interactive_form(submission), FORM)).status_code == 200
    await desk.idle()
    assert "Hunter2secret" not in desk.ticket("IT-1").description
    assert not any("Hunter2secret" in p for p in stored_payloads(desk))  # not even in the stored event
