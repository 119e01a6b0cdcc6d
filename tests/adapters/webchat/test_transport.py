"""The web chat over its websocket (Starlette TestClient): intake into the sink, fan-out to open pages,
cards updated in place, refusals with a reason, and nothing stored for bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.webchat.transport import WebChatAdapter
from core.events import (
    ActionClicked,
    CommandInvoked,
    ConversationRef,
    MessageReceived,
    ReactionAdded,
    UserRef,
)
from core.replies import DeliveryError, Reply
from tests.adapters.webchat.conftest import chat_app
from tests.fakes.sink import RecordingSink
from tests.sample_replies import SURVEY_CARD, TICKET_CARD

HELP = ConversationRef(platform="webchat", chat_id="it-help")


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def client(adapter: WebChatAdapter, sink: RecordingSink) -> Iterator[TestClient]:
    with TestClient(chat_app(adapter, sink)) as c:
        yield c


class Tab:
    """One open chat page, speaking the same frames as chat.js."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.refs = 0

    def send(self, **frame: Any) -> str:
        self.refs += 1
        ref = f"r{self.refs}"
        self.ws.send_text(json.dumps({"ref": ref, "lang": "en", **frame}))
        return ref

    def next(self) -> dict[str, Any]:
        return json.loads(self.ws.receive_text())

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            frame = self.next()
            if frame["type"] == kind:
                return frame

    def say(self, room: str, text: str, thread_id: str | None = None) -> dict[str, Any]:
        """Send a message; return the pushed message (or the error), after the ack."""
        ref = self.send(type="message", room=room, text=text, thread_id=thread_id)
        first = self.next()
        if first["type"] == "error":
            assert first["ref"] == ref
            return first
        assert first["type"] == "message"
        ack = self.next()
        assert ack == {"type": "ack", "ref": ref, "message_id": first["message"]["id"], "cut": ack["cut"]}
        return first["message"]

    def quiet(self) -> None:
        """Assert nothing is queued for this page: a ping's ack must be the very next frame."""
        ref = self.send(type="ping")
        assert self.next() == {"type": "ack", "ref": ref}


@contextmanager
def tab(client: TestClient, name: str, role: str = "employee", **kw: Any) -> Iterator[Tab]:
    with client.websocket_connect("/chat/ws", **kw) as ws:
        ws.send_text(json.dumps({"type": "hello", "name": name, "role": role, "lang": "en"}))
        t = Tab(ws)
        t.welcome = t.next()
        assert t.welcome["type"] == "welcome", t.welcome
        yield t


def send(client: TestClient, adapter: WebChatAdapter, to: ConversationRef, reply: Reply, **kw: Any):
    return client.portal.call(lambda: adapter.send(to, reply, **kw))


def test_message_reaches_sink_and_every_page_in_the_room(client, adapter, sink) -> None:
    with tab(client, "Li Lei") as li, tab(client, "Wang Fang", "technician") as wang:
        assert [r["id"] for r in li.welcome["rooms"]] == ["it-help", "dm:li-lei"]
        assert [r["id"] for r in wang.welcome["rooms"]] == ["it-help", "dm:wang-fang", "it-team"]
        pushed = li.say("it-help", "@deskbot VPN 连不上了")
        assert wang.until("message")["message"] == pushed
        [event] = sink.events
        assert isinstance(event, MessageReceived)
        assert (event.text, event.mentions_bot, event.in_intake_chat) == ("VPN 连不上了", True, True)
        assert event.user == UserRef(platform="webchat", user_id="li-lei")
        assert event.message_id == pushed["id"] and event.conversation.chat_id == "it-help"
        assert pushed["text"] == "@deskbot VPN 连不上了"  # people see what was typed


def test_employee_cannot_post_in_the_team_room(client, sink) -> None:
    with tab(client, "Li Lei") as li:
        assert li.say("it-team", "hello team")["code"] == "unknown_room"
    assert sink.events == []


def test_role_not_allowed_for_name_is_refused(client, sink) -> None:
    with client.websocket_connect("/chat/ws") as ws:
        ws.send_text(json.dumps({"type": "hello", "name": "Li Lei", "role": "technician"}))
        assert json.loads(ws.receive_text()) == {"type": "refused", "code": "role_not_allowed"}
        assert ws.receive()["type"] == "websocket.close"


def test_empty_message_is_refused_and_nothing_is_kept(client, adapter, sink) -> None:
    with tab(client, "Li Lei") as li, tab(client, "Wang Fang") as wang:
        error = li.say("it-help", "   \n ")
        assert error["code"] == "empty_message"
        wang.quiet()
    assert sink.events == [] and adapter.history.room("it-help", viewer="li-lei") == []


def test_ten_thousand_characters_are_accepted_and_cut_with_a_note(client, sink) -> None:
    with tab(client, "Li Lei") as li:
        ref = li.send(type="message", room="it-help", text="日志" * 5000)
        pushed = li.next()["message"]
        assert li.next() == {"type": "ack", "ref": ref, "message_id": pushed["id"], "cut": True}
    assert len(pushed["text"]) == 4000 and pushed["note"] == {"code": "message_cut", "limit": 4000}
    assert sink.events[0].text == "日志" * 2000


def test_card_is_pushed_to_every_page_and_updated_in_place(client, adapter) -> None:
    with tab(client, "Li Lei") as li, tab(client, "Wang Fang", "technician") as wang, \
            tab(client, "Wang Fang", "technician") as wang_second_tab:
        posted = send(client, adapter, HELP, TICKET_CARD)
        assert not posted.updated_in_place
        for page in (li, wang, wang_second_tab):
            frame = page.next()
            assert frame["type"] == "message" and frame["message"]["id"] == posted.message_id
            assert frame["message"]["card"]["title"] == TICKET_CARD.title
        result = send(client, adapter, HELP, SURVEY_CARD, update_message_id=posted.message_id)
        assert (result.message_id, result.updated_in_place) == (posted.message_id, True)
        for page in (li, wang, wang_second_tab):
            frame = page.next()
            assert frame["type"] == "update" and frame["message"]["id"] == posted.message_id
            assert frame["message"]["card"]["title"] == SURVEY_CARD.title and frame["message"]["updated"]
        # a page opened later sees the card as it is now
        with tab(client, "Han Mei") as late:
            [card] = late.welcome["history"]["it-help"]
            assert card["card"]["title"] == SURVEY_CARD.title


def test_update_of_a_forgotten_card_posts_a_new_one(client, adapter) -> None:
    with tab(client, "Li Lei") as li:
        result = send(client, adapter, HELP, TICKET_CARD, update_message_id="b-forgotten")
        assert not result.updated_in_place and result.message_id != "b-forgotten"
        assert li.next()["message"]["id"] == result.message_id


def test_send_to_unknown_room_is_a_permanent_error(client, adapter) -> None:
    with pytest.raises(DeliveryError) as exc:
        send(client, adapter, ConversationRef(platform="webchat", chat_id="nowhere"), TICKET_CARD)
    assert not exc.value.retryable


def test_send_from_another_event_loop_is_handed_to_the_pages_loop(client, adapter) -> None:
    with tab(client, "Li Lei") as li:
        # the delivery worker may run on its own loop; this test thread has none running
        posted = asyncio.run(adapter.send(HELP, TICKET_CARD))
        assert li.next()["message"]["id"] == posted.message_id


def test_direct_messages_and_private_replies_reach_only_their_person(client, adapter) -> None:
    with tab(client, "Li Lei") as li, tab(client, "Wang Fang", "technician") as wang:
        dm = ConversationRef(platform="webchat", chat_id="dm:li-lei", is_direct=True)
        send(client, adapter, dm, Reply(fallback_text="Your ticket IT-12 is open."))
        frame = li.next()
        assert frame["message"]["room"] == "dm:li-lei" and frame["message"]["card"]["kind"] == "text"
        private = Reply(fallback_text="Only technicians can claim tickets.",
                        only_visible_to=UserRef(platform="webchat", user_id="li-lei"))
        send(client, adapter, HELP, private)
        assert li.next()["message"]["visible_to"] == "li-lei"
        wang.quiet()
        with tab(client, "Wang Fang", "technician") as wang_again:
            assert wang_again.welcome["history"]["it-help"] == []


def test_thread_replies_and_bot_answers_join_the_root_thread(client, adapter, sink) -> None:
    with tab(client, "Li Lei") as li:
        root = li.say("it-help", "printer on floor 3 is jammed")
        reply = li.say("it-help", "still jammed", thread_id=root["id"])
        deeper = li.say("it-help", "now it prints", thread_id=reply["id"])
        assert reply["thread_id"] == deeper["thread_id"] == root["id"]
        answer = send(client, adapter, HELP.in_thread(root["id"]), TICKET_CARD)
        assert li.next()["message"]["thread_id"] == root["id"]
        quoted = send(client, adapter, HELP, TICKET_CARD, reply_to_message_id=deeper["id"])
        assert li.next()["message"]["thread_id"] == root["id"]
        assert answer.message_id != quoted.message_id
        gone = li.say("it-help", "hello?", thread_id="m-never-was")
        assert gone["code"] == "message_gone"
    first, second, third = sink.events
    assert (first.is_thread_reply, second.is_thread_reply, third.is_thread_reply) == (False, True, True)
    assert second.conversation.thread_id == third.conversation.thread_id == root["id"]
    assert not second.in_intake_chat


def test_ticket_emoji_reaction_becomes_an_event_other_emojis_only_show(client, sink) -> None:
    with tab(client, "Li Lei") as li, tab(client, "Wang Fang", "technician") as wang:
        said = li.say("it-help", "Outlook keeps asking for my password")
        wang.until("message")
        def react(emoji: str) -> list[dict[str, Any]]:
            ref = wang.send(type="reaction", room="it-help", message_id=said["id"], emoji=emoji)
            pushed = wang.next()
            assert wang.next() == {"type": "ack", "ref": ref}
            return pushed["reactions"]

        assert react("👍") == [{"emoji": "👍", "people": ["Wang Fang"], "slugs": ["wang-fang"]}]
        assert li.until("reaction")["message_id"] == said["id"]
        assert [r["emoji"] for r in react("🎫")] == ["👍", "🎫"]
        # taking the 🎫 back is not a second request
        assert [r["emoji"] for r in react("🎫")] == ["👍"]
    reactions = [e for e in sink.events if isinstance(e, ReactionAdded)]
    assert len(reactions) == 1
    [event] = reactions
    assert (event.emoji, event.target_message_id, event.target_text) == ("🎫", said["id"], said["text"])
    assert event.target_user.user_id == "li-lei" and event.user.user_id == "wang-fang"


def test_slash_command_is_a_command_seen_only_by_its_sender(client, sink) -> None:
    with tab(client, "Wang Fang", "technician") as wang, tab(client, "Zhao Min", "lead") as zhao:
        echoed = wang.say("it-team", "/ticket claim IT-1")
        assert echoed["visible_to"] == "wang-fang"
        zhao.quiet()
    [event] = sink.events
    assert isinstance(event, CommandInvoked)
    assert (event.name, event.args, event.conversation.chat_id) == ("ticket", ("claim", "IT-1"), "it-team")


def test_click_reaches_core_even_on_a_stale_card(client, adapter, sink) -> None:
    with tab(client, "Wang Fang", "technician") as wang:
        posted = send(client, adapter, HELP, TICKET_CARD)
        button = wang.next()["message"]["card"]["buttons"][0]
        ref = wang.send(type="action", room="it-help", card_message_id=posted.message_id,
                        action_id=button["action_id"], value=button["value"])
        assert wang.next() == {"type": "ack", "ref": ref}
        ref = wang.send(type="action", room="it-help", card_message_id="b-from-before-restart",
                        action_id="ticket.claim", value={"ticket": "12"})
        assert wang.next() == {"type": "ack", "ref": ref}
    fresh, stale = sink.events
    assert isinstance(fresh, ActionClicked) and fresh.card_message_id == posted.message_id
    assert isinstance(stale, ActionClicked) and stale.card_message_id == "b-from-before-restart"
    assert fresh.event_id != stale.event_id


def test_store_failure_tells_the_page_and_keeps_nothing(client, adapter, sink) -> None:
    sink.fail = True
    with tab(client, "Li Lei") as li, tab(client, "Han Mei") as han:
        assert li.say("it-help", "is the wifi down?")["code"] == "not_stored"
        han.quiet()
    assert adapter.history.room("it-help", viewer="li-lei") == []


@pytest.mark.parametrize(("raw", "code"), [
    ("not json", "bad_frame"),
    ("[1, 2]", "bad_frame"),
    (json.dumps({"type": "message", "room": "it-help", "text": 5}), "bad_frame"),
    (json.dumps({"type": "fly"}), "bad_frame"),
    ("x" * 300_000, "too_large"),
])
def test_garbage_frames_get_an_error(client, sink, raw: str, code: str) -> None:
    with tab(client, "Li Lei") as li:
        li.ws.send_text(raw)
        assert li.next()["code"] == code
    assert sink.events == []


def test_language_choice_travels_as_lang_hint(client, sink) -> None:
    with tab(client, "Li Lei") as li:
        li.ws.send_text(json.dumps({"type": "lang", "lang": "zh-CN"}))
        li.next()
        li.ws.send_text(json.dumps({"type": "message", "room": "it-help", "text": "打印机坏了"}))
        li.until("ack")
    assert sink.events[0].lang_hint == "zh-CN"


def test_stop_closes_open_pages(client, adapter) -> None:
    with tab(client, "Li Lei") as li:
        client.portal.call(adapter.stop)
        assert li.ws.receive()["type"] == "websocket.close"
