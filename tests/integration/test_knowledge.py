"""Knowledge through the port: suggest first, count deflections, open a ticket with the suggestions noted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine

from core.context import Context
from core.deflection import deflection_count
from core.ports import Suggestion
from tests.harness import DeskHarness, default_settings, find_button, texts
from tests.integration.helpers import FakeKnowledge, count, db_state, private_texts

ARTICLES = [Suggestion(article_id="kb-vpn-reset", title="Reset your VPN profile", score=0.9, summary="Delete it"),
            Suggestion(article_id="kb-vpn-809", title="VPN error 809", score=0.7)]


def harness(engine: Engine, mode: str = "suggest_first") -> tuple[DeskHarness, FakeKnowledge]:
    knowledge = FakeKnowledge(ARTICLES)
    return DeskHarness(engine, default_settings(knowledge_mode=mode), knowledge=knowledge), knowledge


def deflected(h: DeskHarness) -> int:
    with h.uow.begin() as session:
        return deflection_count(Context(session=session, services=h.services, now=h.clock.now()))


def test_solved_by_an_article_counts_a_deflection_and_opens_no_ticket(engine: Engine) -> None:
    h, knowledge = harness(engine)
    alice = h.user("alice")
    out = h.say(alice, "My VPN says error 809")
    assert knowledge.asked == ["My VPN says error 809"]
    assert count(engine, "tickets") == 0
    offer = out[0].reply
    assert offer.title == "These articles may help" and "Reset your VPN profile" in offer.body_md
    assert out[0].to.thread_id == "m1"
    out = h.click(alice, find_button(out, "kb.solved"), chat="it-help")
    assert count(engine, "tickets") == 0
    assert deflected(h) == 1
    assert texts(out) == ["These articles may help\nGreat, glad that helped! No ticket needed."]
    assert count(engine, "article_feedback", "kind = 'helpful'") == 2


def test_still_need_help_opens_a_ticket_with_the_suggestions_noted(engine: Engine) -> None:
    h, _ = harness(engine)
    alice = h.user("alice")
    out = h.say(alice, "VPN will not connect")
    need_help = find_button(out, "kb.need_help")
    out = h.click(alice, need_help, chat="it-help")
    ticket = h.ticket("IT-1")
    assert ticket.subject == "VPN will not connect" and ticket.requester == "webchat:alice"
    assert [s["id"] for s in json.loads(ticket.suggestions or "[]")] == ["kb-vpn-reset", "kb-vpn-809"]
    assert "suggested" in h.timeline("IT-1")
    assert deflected(h) == 0
    assert any("Ticket IT-1 is open" in t for t in texts(out))
    # the team's card shows what was already suggested
    team = [o for o in out if o.to.chat_id == "it-team" and o.reply.card_key]
    assert any(f.label == "Suggested articles" for f in team[0].reply.fields)
    # a second click does nothing more
    before = db_state(engine)
    out = h.click(alice, need_help, chat="it-help")
    assert db_state(engine) == before and private_texts(out) == ["That question was already answered."]


def test_only_the_asker_decides(engine: Engine) -> None:
    h, _ = harness(engine)
    out = h.say(h.user("alice"), "VPN will not connect")
    before = db_state(engine)
    out = h.click(h.user("bob"), find_button(out, "kb.solved"), chat="it-help")
    assert db_state(engine) == before and len(private_texts(out)) == 1


def test_no_suggestion_opens_a_ticket_at_once(engine: Engine) -> None:
    h, _ = harness(engine)
    h.say(h.user("alice"), "Printer is jammed")
    assert count(engine, "tickets") == 1 and count(engine, "deflections") == 0


def test_open_and_suggest_opens_the_ticket_and_shows_articles(engine: Engine) -> None:
    h, _ = harness(engine, "open_and_suggest")
    out = h.say(h.user("alice"), "VPN will not connect")
    assert count(engine, "tickets") == 1
    assert any(t.startswith("These articles may help\n• Reset your VPN profile") for t in texts(out))
    assert count(engine, "article_feedback", "kind = 'shown'") == 2


@pytest.mark.parametrize("mode", ["off"])
def test_knowledge_off_never_asks(engine: Engine, mode: str) -> None:
    h, knowledge = harness(engine, mode)
    h.say(h.user("alice"), "VPN will not connect")
    assert knowledge.asked == [] and count(engine, "tickets") == 1


def test_an_answer_in_words_under_the_suggestions_opens_the_ticket(engine: Engine) -> None:
    h, _ = harness(engine)
    alice, bob = h.user("alice"), h.user("bob")
    h.say(alice, "VPN will not connect")
    # someone else chatting under the card decides nothing
    assert h.say(bob, "same here?", thread="m1", mention=False) == []
    out = h.say(alice, "试过了还是不行，报错 809", thread="m1", mention=False)
    ticket = h.ticket("IT-1")
    assert ticket.subject == "VPN will not connect"
    assert ticket.description == "VPN will not connect\n\n试过了还是不行，报错 809"
    assert any("IT-1" in t for t in texts(out))
    assert count(engine, "deflections", "status = 'escalated' AND ticket_id = :id", id=ticket.id) == 1
    assert count(engine, "article_feedback", "kind = 'not_helpful'") == 2


def test_thanks_under_the_suggestions_counts_as_solved(engine: Engine) -> None:
    h, _ = harness(engine)
    alice = h.user("alice")
    h.say(alice, "VPN will not connect")
    out = h.say(alice, "thanks, that fixed it", thread="m1", mention=False)
    assert texts(out) == ["These articles may help\nGreat, glad that helped! No ticket needed."]
    assert count(engine, "tickets") == 0 and deflected(h) == 1


def test_in_a_direct_chat_only_a_clear_answer_decides_the_suggestions(engine: Engine) -> None:
    h, _ = harness(engine)
    alice = h.user("alice")
    h.say(alice, "VPN will not connect", direct=True)
    h.say(alice, "my monitor flickers too", direct=True)  # a new question, not an answer
    assert count(engine, "tickets") == 1 and count(engine, "deflections", "status = 'pending'") == 1
    h.say(alice, "没用", direct=True)
    assert count(engine, "tickets") == 2
    assert h.ticket("IT-2").description == "VPN will not connect\n\n没用"
    # a day later the old question is no longer waiting for an answer
    h.say(alice, "VPN is down again", direct=True)
    h.clock.advance(hours=25)
    h.say(alice, "still not working", direct=True)  # a report of its own, not an answer to that question
    assert count(engine, "deflections", "status = 'pending'") == 1
    assert h.ticket("IT-3").description == "still not working"
