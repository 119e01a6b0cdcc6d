"""Markdown cards (no card template): a reply of just a number is taken as a click on that choice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.dingtalk import render
from adapters.dingtalk.parse import TOPIC_ROBOT_MESSAGE, choice_number, clicked_choice, parse
from adapters.dingtalk.transport import CHOICES_TTL
from core.events import ActionClicked, ConversationRef, MessageReceived, UserRef
from core.replies import Reply
from tests import sample_replies
from tests.adapters.dingtalk.conftest import make_adapter
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.sink import RecordingSink

GROUP = ConversationRef(platform="dingtalk", tenant="ding-corp", chat_id="cidGroupA==")
LILEI_DM = ConversationRef(platform="dingtalk", chat_id="@u-lilei", is_direct=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def markdown(fake: FakeDingTalk):
    """A connected adapter without a card template, with a settable clock."""
    clock = Clock()
    adapter = make_adapter(fake, card_template_id=None, now=clock)
    sink = RecordingSink()
    await adapter.start(sink)
    await fake.wait_connections(1)
    yield adapter, sink, clock
    await adapter.stop()


async def _say(fake: FakeDingTalk, text: str, **kw) -> tuple[str, str]:
    data = fake.robot_message(text=text, **kw)
    mid = fake.push_robot_message(data)
    assert (await fake.wait_ack(mid))["code"] == 200
    return mid, data["msgId"]


@pytest.mark.parametrize(("text", "number"), [("1", "1"), (" 2 ", "2"), ("[3]", "3"), ("［４］", "4"),
                                              ("5.", "5"), ("07", "7"), ("1 2", None), ("IT-1", None),
                                              ("123", None), ("", None)])
def test_choice_number(text: str, number: str | None) -> None:
    assert choice_number(text) == number


async def test_number_answers_the_last_card_in_the_group(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, _ = markdown
    sent = await adapter.send(GROUP, sample_replies.TICKET_CARD)
    mid, msg_id = await _say(fake, " 1", staff_id="u-wangfang", nick="Wang Fang")
    (event,) = sink.events
    assert isinstance(event, ActionClicked)
    assert (event.action_id, dict(event.value)) == ("ticket.claim", {"ticket": "12"})
    assert event.card_message_id == sent.message_id
    assert (event.event_id, event.message_key) == (mid, msg_id)  # redelivery still dedups
    assert event.user.user_id == "u-wangfang" and event.conversation.chat_id == "cidGroupA=="


async def test_rating_number_in_a_direct_chat(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, _ = markdown
    await adapter.send(LILEI_DM, sample_replies.SURVEY_CARD)
    await _say(fake, "5", group=False, staff_id="u-lilei")
    await _say(fake, "6", group=False, staff_id="u-lilei")
    rate, fixed = sink.events
    assert (rate.action_id, dict(rate.value)) == ("survey.rate", {"ticket": "12", "rating": "5"})
    assert (fixed.action_id, dict(fixed.value)) == ("survey.fixed", {"ticket": "12"})
    assert rate.conversation.chat_id == "@u-lilei" and rate.conversation.is_direct


async def test_numbers_stay_messages_where_they_answer_nothing(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, _ = markdown
    await _say(fake, "1")  # no card yet
    await adapter.send(GROUP, sample_replies.TICKET_CARD)
    await _say(fake, "3")  # not a choice of that card
    await _say(fake, "1", conversation_id="cidOtherGroup==")  # another group
    await adapter.send(LILEI_DM, sample_replies.SURVEY_CARD)
    await _say(fake, "2", group=True)  # the survey went to the DM, the group still has the ticket card
    assert [type(e).__name__ for e in sink.events] == ["MessageReceived", "MessageReceived", "MessageReceived",
                                                      "ActionClicked"]
    assert sink.events[3].action_id == "ticket.resolve"


async def test_a_newer_card_replaces_the_choices_and_text_does_not(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, _ = markdown
    await adapter.send(GROUP, sample_replies.TICKET_CARD)
    await adapter.send(GROUP, Reply(fallback_text="IT-12 was claimed by Wang Fang."))
    await _say(fake, "1")
    await adapter.send(GROUP, replace(sample_replies.TICKET_CARD, status="resolved", buttons=()))
    await _say(fake, "1")
    first, second = sink.events
    assert isinstance(first, ActionClicked) and isinstance(second, MessageReceived)


async def test_choices_expire(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, clock = markdown
    await adapter.send(GROUP, sample_replies.TICKET_CARD)
    clock.now += CHOICES_TTL + 1
    await _say(fake, "1")
    assert isinstance(sink.events[0], MessageReceived) and sink.events[0].text == "1"


async def test_ephemeral_card_choices_belong_to_the_private_chat(fake: FakeDingTalk, markdown) -> None:
    adapter, sink, _ = markdown
    lilei = replace(sample_replies.TICKET_CARD, only_visible_to=UserRef(platform="dingtalk", user_id="u-lilei"))
    await adapter.send(GROUP, lilei)
    await _say(fake, "1", group=True)
    await _say(fake, "1", group=False, staff_id="u-lilei")
    group_answer, direct_answer = sink.events
    assert isinstance(group_answer, MessageReceived) and isinstance(direct_answer, ActionClicked)


def test_every_numbered_choice_maps_back_to_its_button() -> None:
    """Contract for the Markdown form: render -> the number a person types -> the same action and value."""
    for reply in sample_replies.ALL.values():
        numbered = render.choices(reply)
        by_number = dict(numbered)
        assert len(by_number) == len(reply.buttons)
        text = render.markdown_text(reply)
        for token, button in numbered:
            assert f"[{token}]" in text
            typed = parse({"headers": {"topic": TOPIC_ROBOT_MESSAGE, "messageId": "m1"},
                           "data": FakeDingTalk().robot_message(text=f" {token}")})
            assert isinstance(typed, MessageReceived)
            clicked = clicked_choice(typed, by_number[choice_number(typed.text)], card_message_id="pqk-1")
            assert (clicked.action_id, dict(clicked.value)) == (button.action_id, dict(button.value))
