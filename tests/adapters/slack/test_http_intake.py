"""Signed HTTP requests through the real bolt app: events, commands, clicks and the modal."""

from __future__ import annotations

import json
import time

import pytest

from adapters.slack.render import render
from core.events import ActionClicked, BotAdded, CommandInvoked, FormSubmitted, MessageReceived, ReactionAdded
from tests.adapters.slack.helpers import (
    block_actions,
    command_form,
    event_body,
    interactive_form,
    message_event,
    signed_headers,
)
from tests.sample_replies import TICKET_CARD

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


async def post(http, body: str, content_type: str, **kw):
    return await http.post("/slack/events", content=body.encode(),
                           headers=signed_headers(body, content_type=content_type, **kw))


async def post_event(http, event: dict, event_id: str, **kw):
    return await post(http, json.dumps(event_body(event, event_id)), JSON, **kw)


async def test_url_verification(http, sink):
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    resp = await post(http, body, JSON)
    assert resp.status_code == 200
    assert resp.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert sink.events == []


async def test_mention_is_stored_with_names(http, sink, fake):
    resp = await post_event(http, message_event("<@UBOT> VPN down, cc <@U2>", ts="1.000100", kind="app_mention"),
                            "EvMENTION")
    assert resp.status_code == 200
    [event] = sink.events
    assert isinstance(event, MessageReceived)
    assert event.mentions_bot and event.text == "VPN down, cc @Wang Fang"
    assert event.user.display_name == "Li Lei"
    assert event.message_key == "CGENERAL:1.000100"
    assert fake.calls_to("auth.test"), "bolt learns the bot user id from auth.test"


async def test_names_are_cached(http, sink, fake):
    for n in range(3):
        await post_event(http, message_event(f"<@UBOT> issue {n}", ts=f"1.00010{n}", kind="app_mention"), f"Ev{n}")
    assert len(sink.events) == 3
    assert len([c for c in fake.calls_to("users.info") if c.params["user"] == "U1"]) == 1


@pytest.mark.parametrize("secret", ["wrong-secret"])
async def test_bad_signature_is_rejected_and_nothing_stored(http, sink, secret):
    resp = await post_event(http, message_event("<@UBOT> hi", ts="1.1", kind="app_mention"), "EvBAD", secret=secret)
    assert resp.status_code == 401
    assert sink.events == []


async def test_stale_timestamp_is_rejected_and_nothing_stored(http, sink):
    old = int(time.time()) - 6 * 60
    resp = await post_event(http, message_event("<@UBOT> hi", ts="1.1", kind="app_mention"), "EvOLD", timestamp=old)
    assert resp.status_code == 401
    assert sink.events == []


async def test_missing_signature_headers_are_rejected(http, sink):
    body = json.dumps(event_body(message_event("<@UBOT> hi", ts="1.1", kind="app_mention"), "EvNOSIG"))
    resp = await http.post("/slack/events", content=body, headers={"Content-Type": JSON})
    assert resp.status_code == 401
    assert sink.events == []


async def test_same_message_three_ways_is_stored_once(http, sink):
    mention = message_event("<@UBOT> printer jammed", ts="2.000200", kind="app_mention")
    message = message_event("<@UBOT> printer jammed", ts="2.000200")
    assert (await post_event(http, mention, "EvA")).status_code == 200
    # Slack's retries carry the same event id and X-Slack-Retry-Num
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await post_event(http, mention, "EvA", extra=retry)).status_code == 200
    # the same message also arrives as a `message` event under another event id
    assert (await post_event(http, message, "EvB")).status_code == 200
    assert len(sink.events) == 1


async def test_store_failure_answers_500_so_slack_retries(http, sink):
    sink.fail = True
    resp = await post_event(http, message_event("<@UBOT> hi", ts="3.1", kind="app_mention"), "EvFAIL")
    assert resp.status_code == 500
    sink.fail = False
    resp = await post_event(http, message_event("<@UBOT> hi", ts="3.1", kind="app_mention"), "EvFAIL",
                            extra={"X-Slack-Retry-Num": "1"})
    assert resp.status_code == 200
    assert len(sink.events) == 1


async def test_thread_reply_is_passed_as_comment(http, sink):
    reply = message_event("tried again, still failing", ts="5.000500", thread_ts="4.000400", user="U1")
    assert (await post_event(http, reply, "EvREPLY")).status_code == 200
    [event] = sink.events
    assert event.is_thread_reply and event.conversation.thread_id == "CGENERAL:4.000400"


async def test_dm_and_intake_channel(http, sink):
    await post_event(http, message_event("my mouse is dead", ts="6.1", channel="D0U1"), "EvDM")
    await post_event(http, message_event("wifi in room 3 is down", ts="6.2", channel="CINTAKE"), "EvINTAKE")
    await post_event(http, message_event("anyone for lunch?", ts="6.3", channel="CGENERAL"), "EvCHAT")
    dm, intake = sink.events
    assert dm.conversation.is_direct and not dm.mentions_bot
    assert intake.in_intake_chat and intake.conversation.chat_id == "CINTAKE"


async def test_own_messages_edits_and_joins_are_ignored(http, sink, fake):
    own = message_event("IT-12 opened", ts="7.1", channel="CINTAKE", user="UBOT", bot_id="BBOT")
    edit = {"type": "message", "subtype": "message_changed", "channel": "CINTAKE", "hidden": True,
            "message": {"type": "message", "user": "U1", "text": "edited", "ts": "6.2"}, "ts": "7.2",
            "event_ts": "7.2", "channel_type": "channel"}
    join = message_event("<@U3> has joined the channel", ts="7.3", channel="CINTAKE", user="U3",
                         subtype="channel_join")
    for n, event in enumerate((own, edit, join)):
        assert (await post_event(http, event, f"EvNOISE{n}")).status_code == 200
    other = {"type": "channel_rename", "channel": {"id": "C1", "name": "it", "created": 1}}
    assert (await post_event(http, other, "EvOTHER")).status_code == 200
    assert sink.events == []


async def test_bot_added_to_channel(http, sink):
    event = {"type": "member_joined_channel", "user": "UBOT", "channel": "CNEW", "channel_type": "C",
             "team": "T1", "inviter": "U2"}
    await post_event(http, event, "EvJOIN")
    [added] = sink.events
    assert isinstance(added, BotAdded) and added.user.display_name == "Wang Fang"


async def test_reaction_fetches_the_message_text(http, sink, fake):
    fake.add_message("CGENERAL", "8.000100", "Outlook keeps asking for my password, <@U2> saw it too", user="U1")
    event = {"type": "reaction_added", "user": "U2", "reaction": "ticket", "item_user": "U1",
             "item": {"type": "message", "channel": "CGENERAL", "ts": "8.000100"}, "event_ts": "9.1"}
    assert (await post_event(http, event, "EvREACT")).status_code == 200
    [reaction] = sink.events
    assert isinstance(reaction, ReactionAdded)
    assert reaction.target_text == "Outlook keeps asking for my password, @Wang Fang saw it too"
    assert reaction.target_message_id == "CGENERAL:8.000100"
    assert reaction.target_user.display_name == "Li Lei"
    assert fake.calls_to("conversations.history")[0].params["channel"] == "CGENERAL"


async def test_reaction_on_a_thread_reply_uses_conversations_replies(http, sink, fake):
    fake.add_message("CGENERAL", "8.000100", "root", user="U1")
    fake.add_message("CGENERAL", "8.000200", "the scanner is offline", user="U1", thread_ts="8.000100")
    event = {"type": "reaction_added", "user": "U2", "reaction": "ticket", "item_user": "U1",
             "item": {"type": "message", "channel": "CGENERAL", "ts": "8.000200"}, "event_ts": "9.2"}
    await post_event(http, event, "EvREACT2")
    [reaction] = sink.events
    assert reaction.target_text == "the scanner is offline"
    assert reaction.conversation.thread_id == "CGENERAL:8.000100"
    assert fake.calls_to("conversations.replies")


async def test_other_reactions_are_ignored(http, sink, fake):
    event = {"type": "reaction_added", "user": "U2", "reaction": "eyes", "item_user": "U1",
             "item": {"type": "message", "channel": "CGENERAL", "ts": "8.1"}, "event_ts": "9.3"}
    assert (await post_event(http, event, "EvEYES")).status_code == 200
    assert sink.events == []
    assert not fake.calls_to("conversations.history")


async def test_slash_command(http, sink):
    resp = await post(http, command_form("claim IT-12", user="U2"), FORM)
    assert resp.status_code == 200
    [command] = sink.events
    assert isinstance(command, CommandInvoked)
    assert (command.name, command.args) == ("ticket", ("claim", "IT-12"))
    assert command.user.display_name == "Wang Fang"
    assert command.conversation.chat_id == "CITTEAM"


async def test_block_action_round_trips_the_rendered_button(http, sink):
    claim = render(TICKET_CARD)["blocks"][-1]["elements"][0]
    resp = await post(http, interactive_form(block_actions(claim)), FORM)
    assert resp.status_code == 200
    [click] = sink.events
    assert isinstance(click, ActionClicked)
    assert click.action_id == "ticket.claim" and dict(click.value) == {"ticket": "12"}
    assert click.card_message_id == "CGENERAL:1763803800.001200"
    assert click.conversation.thread_id == "CGENERAL:1763802840.000100"


async def test_ticket_new_opens_the_modal_and_its_submission_is_stored(http, sink, fake):
    resp = await post(http, command_form("new", user="U1", channel="CGENERAL", trigger="1337.9.z"), FORM)
    assert resp.status_code == 200
    assert sink.events == []
    [opened] = fake.calls_to("views.open")
    assert opened.params["trigger_id"] == "1337.9.z"
    view = opened.params["view"]
    assert view["callback_id"] == "ticket.new"
    assert [b["block_id"] for b in view["blocks"]] == ["subject", "description", "category", "priority"]

    submission = {
        "type": "view_submission", "team": {"id": "T1"}, "user": {"id": "U1", "name": "li.lei"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "1337.10.y",
        "view": {**view, "id": "V0001", "hash": "h1", "state": {"values": {
            "subject": {"value": {"type": "plain_text_input", "value": "Monitor flickers"}},
            "description": {"value": {"type": "plain_text_input", "value": "Since this morning"}},
            "category": {"value": {"type": "static_select", "selected_option": {"value": "hardware"}}},
            "priority": {"value": {"type": "static_select", "selected_option": {"value": "P1"}}},
        }}},
    }
    resp = await post(http, interactive_form(submission), FORM)
    assert resp.status_code == 200
    assert resp.content in (b"", b"null")  # empty ack: the modal closes
    [form] = sink.events
    assert isinstance(form, FormSubmitted) and form.form_id == "ticket.new"
    assert dict(form.values) == {"subject": "Monitor flickers", "description": "Since this morning",
                                 "category": "hardware", "priority": "P1"}
    assert form.conversation.chat_id == "CGENERAL"


async def test_ticket_new_falls_back_to_the_command_when_the_modal_fails(http, sink, fake):
    fake.fail("views.open", error="expired_trigger_id")
    await post(http, command_form("new", trigger="1337.11.x"), FORM)
    [command] = sink.events
    assert command.args == ("new",)


async def test_not_started_answers_503(adapter, fake):
    import httpx
    from starlette.applications import Starlette

    app = Starlette(routes=adapter.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as client:
        body = json.dumps(event_body(message_event("<@UBOT> hi", ts="1.1", kind="app_mention"), "Ev"))
        resp = await client.post("/slack/events", content=body, headers=signed_headers(body, content_type=JSON))
    assert resp.status_code == 503


async def test_slow_lookups_do_not_hold_the_ack(fake, sink):
    """users.info stalls: the event is stored without the name, well inside Slack's 3 s."""
    import httpx
    from starlette.applications import Starlette

    from adapters.slack.transport import SlackAdapter
    from tests.adapters.slack.helpers import SECRET

    fake.latency["users.info"] = 1.0
    adapter = SlackAdapter(mode="http", bot_token="xoxb-test", signing_secret=SECRET, api_base_url=fake.url,
                           lookup_timeout=0.1)
    await adapter.start(sink)
    app = Starlette(routes=adapter.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as client:
        started = time.monotonic()
        resp = await post_event(client, message_event("<@UBOT> hi", ts="20.1", kind="app_mention"), "EvSLOW")
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed < 0.9
    [event] = [e for e in sink.events if e.event_id == "EvSLOW"]
    assert event.user.display_name is None
