"""Conversations: intake rules, two-way relay, thanks, status questions, stale buttons, odd messages, language."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from core.events import ReactionAdded
from tests.harness import DeskHarness, find_button, texts
from tests.integration.helpers import (
    card_message_id,
    count,
    db_state,
    deliver_all,
    private_texts,
)


def test_intake_rules(h: DeskHarness, engine: Engine) -> None:
    alice = h.user("alice")
    # a top-level message in the intake chat opens a ticket even without a mention
    h.say(alice, "Projector in room 5 is dead", mention=False)
    # a DM to the bot
    h.say(alice, "Need a new mouse", direct=True)
    # an @mention in any group
    h.say(alice, "Badge reader at the door is broken", chat="random", mention=True)
    # chatter in another group, and a thread reply that is not a ticket's, are ignored
    assert h.say(alice, "lunch anyone?", chat="random", mention=False) == []
    assert h.say(alice, "me too", chat="random", thread="x1", mention=False) == []
    assert count(engine, "tickets") == 3
    assert [h.ticket(f"IT-{n}").subject for n in (1, 2, 3)] == [
        "Projector in room 5 is dead", "Need a new mouse", "Badge reader at the door is broken"]


def test_a_reaction_turns_the_message_into_a_ticket_once(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")

    def react(event_id: str) -> None:
        h.submit(ReactionAdded(platform="webchat", event_id=event_id, received_at=h.clock.now(), user=wang,
                               conversation=h.conv("random"), emoji="🎫", target_message_id="orig1",
                               target_text="The coffee machine network port is dead", target_user=alice))

    react("r1")
    react("r2")  # another reaction on the same message: still one ticket
    assert count(engine, "tickets") == 1
    ticket = h.ticket("IT-1")
    assert ticket.requester == "webchat:alice" and ticket.subject == "The coffee machine network port is dead"
    assert ticket.source_message_id == "orig1"


def test_greetings_and_thanks_do_not_open_tickets(h: DeskHarness, engine: Engine) -> None:
    alice = h.user("alice")
    assert texts(h.say(alice, "hi")) == ["Hi Alice! Tell me what's wrong and I'll open a ticket, or write "
                                          "`/ticket help`."]
    assert texts(h.say(alice, "thanks!")) == ["You're welcome!"]
    assert texts(h.say(alice, "你好", direct=True))[0].startswith("你好 Alice！")
    assert count(engine, "tickets") == 0


def test_technician_comment_reaches_the_requester(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    out = h.command(wang, "comment IT-1 Please try the other VPN profile")
    relayed = [o for o in out if o.to.chat_id == "it-help" and not o.reply.card_key]
    assert len(relayed) == 1
    assert relayed[0].to.thread_id == "m1" and relayed[0].reply.mention == alice
    assert relayed[0].reply.as_text() == "Wang on IT-1: Please try the other VPN profile"
    assert h.timeline("IT-1")[-1] == "comment"


def test_technician_reply_in_the_team_thread_reaches_the_requester(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    deliver_all(h)
    team_card = card_message_id(h, f"ticket:{h.ticket('IT-1').id}", h.conv("it-team"))
    assert team_card is not None
    out = h.say(wang, "Please restart your laptop", chat="it-team", thread=team_card, mention=False)
    assert [o.reply.as_text() for o in out if o.to.chat_id == "it-help" and not o.reply.card_key] == [
        "Wang on IT-1: Please restart your laptop"]
    assert h.timeline("IT-1")[-1] == "comment"


def test_requester_thread_reply_reaches_the_team_and_becomes_a_comment(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    deliver_all(h)
    team_card = card_message_id(h, f"ticket:{h.ticket('IT-1').id}", h.conv("it-team"))
    out = h.say(alice, "It says error 809", thread="m1", mention=False)
    to_team = [o for o in out if o.to.chat_id == "it-team" and not o.reply.card_key]
    assert len(to_team) == 1 and to_team[0].to.thread_id == team_card
    assert to_team[0].reply.as_text() == "Alice replied on IT-1: It says error 809"
    assert h.timeline("IT-1")[-1] == "relay"


def test_requester_dm_answer_while_waiting_becomes_a_comment(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "Need access to the finance share", direct=True)
    h.command(wang, "claim IT-1")
    out = h.command(wang, "status IT-1 waiting which folder?")
    assert any(o.to.is_direct and "which folder?" in o.reply.as_text() for o in out)
    out = h.say(alice, "The Q4 folder", direct=True)
    assert h.ticket("IT-1").status == "in_progress"
    assert "Comment added to IT-1." in texts(out)
    assert h.timeline("IT-1")[-1] == "relay"


@pytest.mark.parametrize("thanks", ["ok thanks", "谢谢", "Thank you!"])
def test_thanks_in_the_thread_of_a_resolved_ticket_closes_it(h: DeskHarness, thanks: str) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 reset the profile")
    h.say(alice, thanks, thread="m1", mention=False)
    assert h.ticket("IT-1").status == "closed"
    assert h.timeline("IT-1")[-1] == "closed"


def test_a_new_problem_in_the_thread_of_a_resolved_ticket_does_not_close_it(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 reset the profile")
    out = h.say(alice, "it dropped again just now", thread="m1", mention=False)
    assert h.ticket("IT-1").status == "resolved"
    assert any("press Reopen" in t for t in texts(out))


def test_thanks_in_a_dm_closes_the_latest_resolved_ticket(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "Need a new mouse", direct=True)
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 left one on your desk")
    h.say(alice, "thank you", direct=True)
    assert h.ticket("IT-1").status == "closed"


def test_status_questions_are_answered(h: DeskHarness, engine: Engine) -> None:
    alice = h.user("alice")
    out = h.say(alice, "我的工单进度？", direct=True)
    assert texts(out) == ["你目前没有未关闭的工单。"]
    h.say(alice, "VPN is down")
    out = h.say(alice, "status of IT-1?")
    assert len(out) == 1 and out[0].reply.title == "IT-1 · VPN is down" and out[0].reply.card_key is None
    out = h.say(alice, "我的工单进度？")
    assert out[0].reply.title == "IT-1 · VPN is down"
    h.say(alice, "Printer is jammed")
    out = h.say(alice, "any update on my tickets?")
    assert out[0].reply.title == "Your open tickets" and "IT-1" in out[0].reply.as_text() \
        and "IT-2" in out[0].reply.as_text()
    assert count(engine, "tickets") == 2


def test_status_of_someone_elses_ticket_is_refused(h: DeskHarness, engine: Engine) -> None:
    h.say(h.user("alice"), "VPN is down")
    before = db_state(engine)
    out = h.say(h.user("bob"), "status of IT-1?")
    assert db_state(engine) == before
    assert private_texts(out) == ["Sorry, IT-1 isn't your ticket."]


def test_stale_claim_button_refreshes_the_card_and_changes_nothing(h: DeskHarness, engine: Engine) -> None:
    out = h.say(h.user("alice"), "VPN is down")
    claim = find_button(out, "ticket.claim")
    h.command(h.user("wang"), "claim IT-1")
    before = db_state(engine)
    out = h.click(h.user("lead"), claim)
    assert db_state(engine) == before
    assert "That button is out of date; here is the current state of IT-1. Now: In progress, assignee Wang." \
        in private_texts(out)
    cards = [o for o in out if o.reply.card_key == f"ticket:{h.ticket('IT-1').id}"]
    assert cards and all(o.reply.status == "in_progress" for o in cards)
    assert {b.action_id for b in cards[0].reply.buttons} == {"ticket.waiting", "ticket.resolve"}


def test_stale_survey_button_after_close(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    out = h.command(wang, "resolve IT-1 reset")
    fixed = find_button(out, "survey.fixed")
    h.command(wang, "close IT-1")
    before = db_state(engine)
    out = h.click(alice, fixed, chat="it-help")
    assert db_state(engine) == before
    assert any("out of date" in t for t in private_texts(out))


def test_unknown_button_changes_nothing(h: DeskHarness, engine: Engine) -> None:
    from core.replies import Button

    h.say(h.user("alice"), "VPN is down")
    before = db_state(engine)
    for button in (Button(label="x", action_id="ticket.explode", value={"ticket": "1"}),
                   Button(label="x", action_id="ticket.claim", value={"ticket": "999"}),
                   Button(label="x", action_id="ticket.claim", value={"ticket": "abc"})):
        out = h.click(h.user("wang"), button)
        assert private_texts(out) == ["That button is no longer supported."]
    assert db_state(engine) == before


@pytest.mark.parametrize("line", ["/ticket", "/ticket frobnicate IT-1", "/ticket claim", "/ticket help claim"])
def test_unknown_or_malformed_commands_get_help(h: DeskHarness, engine: Engine, line: str) -> None:
    before = db_state(engine)
    out = h.say(h.user("wang"), line, chat="it-team")
    assert db_state(engine) == before
    answer = private_texts(out)
    assert len(answer) == 1
    if "claim" in line:
        assert answer[0] == "Usage: /ticket claim IT-12 — take a ticket (technicians)"
    else:
        assert answer[0].startswith("Commands:") and "/ticket resolve IT-12" in answer[0]


def test_empty_message_gets_an_answer_and_no_ticket(h: DeskHarness, engine: Engine) -> None:
    for text in ("", "   ", "\n\t"):
        out = h.say(h.user("alice"), text)
        assert texts(out) == ["Your message was empty. Tell me what's wrong, or write `/ticket help`."]
    assert count(engine, "tickets") == 0


def test_a_100kb_message_is_truncated_with_a_note(h: DeskHarness, engine: Engine) -> None:
    text = "My disk is full. " + "log line overflow " * 6000
    assert len(text) > 100_000
    out = h.say(h.user("alice"), text)
    ticket = h.ticket("IT-1")
    assert len(ticket.description) == h.services.settings.max_message_chars
    assert "(message shortened to 4000 characters)" in texts(out)
    assert ticket.subject == "My disk is full. log line overflow log line overflow log line overflow log line o"[:80]


def test_secrets_never_reach_the_database(h: DeskHarness, engine: Engine) -> None:
    from sqlalchemy import text

    h.say(h.user("alice"), "Cannot log in, my password is Hunter2024! please help")
    with engine.connect() as conn:
        for table in ("tickets", "timeline", "intake_events", "outbox"):
            dump = repr(conn.execute(text(f"SELECT * FROM {table}")).all())
            assert "Hunter2024" not in dump, table


def test_answers_follow_the_writers_language(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    out = h.say(alice, "电脑无法开机")  # the desk's default is English
    ticket = h.ticket("IT-1")
    assert ticket.lang == "zh-CN"
    mine = [o for o in out if o.to.chat_id == "it-help"]
    team = [o for o in out if o.to.chat_id == "it-team"]
    assert mine[0].reply.lang == "zh-CN" and "状态: 新建" in mine[0].reply.as_text()
    assert team[0].reply.lang == "en" and "Status: New" in team[0].reply.as_text()
    h.command(wang, "claim IT-1")
    out = h.command(wang, "comment IT-1 请重启一下")
    relayed = [o for o in out if o.to.chat_id == "it-help" and not o.reply.card_key]
    assert relayed[0].reply.lang == "zh-CN" and relayed[0].reply.as_text() == "Wang 回复了 IT-1：请重启一下"
    assert texts(h.say(alice, "help"))[0].startswith("Commands:")
    assert texts(h.say(alice, "帮助"))[0].startswith("可用命令：")


def test_command_answers_follow_the_writers_language(h: DeskHarness) -> None:
    h.say(h.user("alice"), "Printer is jammed")
    out = h.say(h.user("wang"), "认领 IT-1", chat="it-team")
    assert private_texts(out) == ["Wang 认领了 IT-1。"]


def test_chinese_desk_answers_in_chinese_by_default(engine: Engine) -> None:
    from tests.harness import default_settings

    h = DeskHarness(engine, default_settings(default_lang="zh-CN"))
    out = h.say(h.user("alice"), "👍")
    assert texts(out) == ["不客气！"]
    out = h.say(h.user("alice"), "VPN down")
    assert h.ticket("IT-1").lang == "en"


def test_chinese_commands_without_a_slash_never_open_tickets(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN 连不上了", direct=True)
    h.command(wang, "claim IT-1")
    h.command(wang, "status IT-1 waiting 请发一下截图")
    listed = private_texts(h.say(wang, "列表 等待", direct=True))
    assert len(listed) == 1 and "IT-1" in listed[0]
    usage = private_texts(h.say(wang, "认领", direct=True))
    assert len(usage) == 1 and "认领 IT-12" in usage[0]
    explained = private_texts(h.say(alice, "帮助 重开", direct=True))
    assert len(explained) == 1 and "重开 IT-12" in explained[0]
    mine = private_texts(h.say(alice, "我的工单？", direct=True))
    assert len(mine) == 1 and "IT-1" in mine[0]
    assert count(engine, "tickets") == 1


def test_a_status_change_is_confirmed_in_the_writers_language(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "VPN is down")
    h.command(wang, "claim IT-1")
    confirmed = private_texts(h.command(wang, "状态 IT-1 等待"))
    assert confirmed and "等待" in confirmed[-1] and "Waiting" not in confirmed[-1]


def _buttons(out: list, chat: str) -> list[str]:
    """The buttons of the (first) ticket card sent to `chat`."""
    card = next(o.reply for o in out if o.reply.title and o.reply.title.startswith("IT-") and o.to.chat_id == chat)
    return [b.action_id for b in card.buttons]


def test_a_requesters_direct_chat_card_offers_their_actions(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    out = h.say(alice, "VPN is down", direct=True)
    assert _buttons(out, "dm:alice") == ["ticket.cancel"]  # only alice sees this card
    assert _buttons(out, "it-team") == ["ticket.claim", "ticket.resolve"]
    # a technician cannot withdraw someone's request with that button (and nothing changes)
    before = db_state(engine)
    cancel = find_button(out, "ticket.cancel")
    refused = h.click(wang, cancel)
    assert db_state(engine) == before
    assert private_texts(refused) == [
        "Only the person who reported IT-1 can withdraw it; technicians use /ticket cancel."]
    # alice can: the ticket closes and her card now offers to reopen it
    out = h.click(alice, cancel, chat="dm:alice")
    assert h.ticket("IT-1").status == "closed" and "IT-1 is cancelled." in private_texts(out)
    assert _buttons(out, "dm:alice") == ["ticket.reopen"]
    # the same answer to a status question in her chat
    assert _buttons(h.say(alice, "status of IT-1?", direct=True), "dm:alice") == ["ticket.reopen"]


def test_group_cards_and_a_technicians_own_ticket_keep_the_staff_buttons(h: DeskHarness) -> None:
    out = h.say(h.user("alice"), "printer jammed")  # the intake group: technicians work from this card too
    assert _buttons(out, "it-help") == ["ticket.claim", "ticket.resolve"]
    out = h.say(h.user("wang"), "my monitor flickers", direct=True)
    assert _buttons(out, "dm:wang") == ["ticket.claim", "ticket.resolve"]
