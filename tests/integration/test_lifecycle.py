"""The ticket lifecycle through chat: open, claim, wait, reply, resolve, survey, rate, close, reopen."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.context import Context
from core.db.models import AuditRecord
from core.tickets import auto_close_sweep
from tests.harness import DeskHarness, find_button, texts
from tests.integration.helpers import count, db_state, private_texts


def audit_actions(engine: Engine, key: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT action FROM audit_log WHERE entity_id = :k ORDER BY id"),
                                 {"k": key}).scalars())


def open_ticket(h: DeskHarness, who: str = "alice", problem: str = "My laptop screen is flickering") -> str:
    out = h.say(h.user(who), problem)
    keys = {o.reply.title.split(" · ")[0] for o in out if o.reply.card_key and o.reply.title}
    assert len(keys) == 1, texts(out)
    return keys.pop()


def test_full_lifecycle(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    out = h.say(alice, "My laptop screen is flickering")
    ticket = h.ticket("IT-1")
    assert (ticket.status, ticket.subject, ticket.requester, ticket.priority) == (
        "new", "My laptop screen is flickering", "webchat:alice", "P2")
    # the card goes to the requester's thread and to the team chat, with a Claim button
    where = {o.to.chat_id for o in out if o.reply.card_key == f"ticket:{ticket.id}"}
    assert where == {"it-help", "it-team"}
    claim = find_button(out, "ticket.claim", ticket=str(ticket.id))

    out = h.click(wang, claim)
    assert h.ticket("IT-1").status == "in_progress" and h.ticket("IT-1").assignee == "webchat:wang"

    out = h.command(wang, "status IT-1 waiting which model is it?")
    assert h.ticket("IT-1").status == "waiting"
    asked = [o for o in out if o.to.chat_id == "it-help" and "which model" in o.reply.as_text()]
    assert asked and asked[0].reply.mention == alice

    h.say(alice, "It is a ThinkPad X1", thread="m1")
    assert h.ticket("IT-1").status == "in_progress"

    out = h.command(wang, "resolve IT-1 replaced the display cable")
    resolved = h.ticket("IT-1")
    assert resolved.status == "resolved" and resolved.resolution == "replaced the display cable"
    survey = [o for o in out if o.reply.card_key == f"survey:{resolved.id}:0"]
    assert len(survey) == 1 and survey[0].to.chat_id == "it-help" and survey[0].to.thread_id == "m1"
    assert {b.action_id for b in survey[0].reply.buttons} == {"survey.fixed", "survey.reopen", "survey.rate"}

    out = h.click(alice, find_button(out, "survey.rate", rating="5"), chat="it-help")
    closed = h.ticket("IT-1")
    assert (closed.status, closed.rating) == ("closed", 5)
    assert closed.closed_at == h.clock.now() and closed.first_response_at is not None
    assert "Thanks for rating IT-1 5/5." in texts(out)
    assert h.timeline("IT-1") == ["opened", "claimed", "status", "relay", "resolved", "rated", "closed"]
    assert audit_actions(engine, "IT-1") == ["ticket.open", "ticket.claim", "ticket.status", "ticket.comment",
                                             "ticket.resolve", "ticket.rate", "ticket.close"]

    # words in the thread after rating are the rating's comment, once; later ones are ordinary comments
    out = h.say(alice, "Quick fix, thank you Wang", thread="m1")
    assert h.ticket("IT-1").rating_comment == "Quick fix, thank you Wang"
    assert "Thanks, your comment on IT-1 is saved." in texts(out)
    survey_now = [o.reply.body_md for o in out if o.reply.card_key == f"survey:{resolved.id}:0"]
    assert survey_now == ["Thanks for rating IT-1 5/5.\n“Quick fix, thank you Wang”"]
    assert any("Alice rated IT-1 5/5: Quick fix" in o.reply.as_text() for o in out if o.to.chat_id == "it-team")
    h.say(alice, "One more thing: the old cable is on my desk", thread="m1")
    assert h.ticket("IT-1").rating_comment == "Quick fix, thank you Wang"
    assert h.timeline("IT-1")[-2:] == ["rated", "relay"]


def test_survey_yes_closes_without_rating_then_rating_later(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    open_ticket(h)
    h.command(wang, "claim IT-1")
    out = h.command(wang, "resolve IT-1 rebooted")
    fixed = find_button(out, "survey.fixed")
    rate4 = find_button(out, "survey.rate", rating="4")
    out = h.click(alice, fixed, chat="it-help")
    assert h.ticket("IT-1").status == "closed" and h.ticket("IT-1").rating is None
    h.click(alice, rate4, chat="it-help")
    assert h.ticket("IT-1").rating == 4
    out = h.click(alice, find_button([o for o in out], "survey.rate", rating="1") if any(
        b.action_id == "survey.rate" for o in out for b in o.reply.buttons) else rate4, chat="it-help")
    assert h.ticket("IT-1").rating == 4, "a second rating must not overwrite the first"
    assert any("already rated" in t for t in texts(out))


def test_only_the_requester_answers_the_survey(h: DeskHarness, engine: Engine) -> None:
    wang = h.user("wang")
    open_ticket(h)
    h.command(wang, "claim IT-1")
    out = h.command(wang, "resolve IT-1 done")
    before = db_state(engine)
    out = h.click(h.user("bob"), find_button(out, "survey.rate", rating="5"), chat="it-help")
    assert db_state(engine) == before
    assert any("Only the person who reported IT-1" in t for t in private_texts(out))


def test_reopen_from_resolved_goes_back_to_the_assignee(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    open_ticket(h)
    h.command(wang, "claim IT-1")
    out = h.command(wang, "resolve IT-1 rebooted")
    out = h.click(alice, find_button(out, "survey.reopen"), chat="it-help")
    ticket = h.ticket("IT-1")
    assert (ticket.status, ticket.assignee, ticket.reopen_count, ticket.resolved_at) == (
        "in_progress", "webchat:wang", 1, None)
    assert h.timeline("IT-1")[-1] == "reopened"
    assert any(o.to.chat_id == "it-team" and "was reopened by Alice" in o.reply.as_text() for o in out)
    assert any("back with Wang" in t for t in texts(out))


def test_reopen_from_closed_within_the_window(h: DeskHarness) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    open_ticket(h)
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 rebooted")
    h.command(wang, "close IT-1")
    assert h.ticket("IT-1").status == "closed"
    h.clock.advance(days=6, hours=23)
    h.command(alice, "reopen IT-1 broken again", chat="it-help")
    assert h.ticket("IT-1").status == "in_progress"
    assert h.timeline("IT-1")[-1] == "reopened"


def test_reopen_from_closed_outside_the_window_is_refused(h: DeskHarness, engine: Engine) -> None:
    alice, wang = h.user("alice"), h.user("wang")
    open_ticket(h)
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 rebooted")
    h.command(wang, "close IT-1")
    h.clock.advance(days=7, minutes=1)
    before = db_state(engine)
    out = h.command(alice, "reopen IT-1 broken again", chat="it-help")
    assert db_state(engine) == before
    assert private_texts(out) == ["IT-1 was closed more than 7 days ago; please open a new ticket."]


def test_requester_closing_an_open_ticket_cancels_it(h: DeskHarness) -> None:
    alice = h.user("alice")
    open_ticket(h)
    out = h.command(alice, "close IT-1", chat="it-help")
    assert h.ticket("IT-1").status == "closed"
    assert h.timeline("IT-1")[-1] == "cancelled"
    assert "IT-1 is cancelled." in private_texts(out)


@pytest.mark.parametrize("setup, line, who", [
    ([], "reopen IT-1", "wang"),  # new -> reopen
    (["claim IT-1", "resolve IT-1 x", "close IT-1"], "resolve IT-1 again", "wang"),  # closed -> resolved
    (["claim IT-1", "resolve IT-1 x", "close IT-1"], "status IT-1 waiting", "wang"),  # closed -> waiting
    (["claim IT-1", "resolve IT-1 x"], "claim IT-1", "lead"),  # resolved -> claim
    (["claim IT-1", "resolve IT-1 x"], "status IT-1 assigned", "wang"),  # resolved -> assigned
    (["claim IT-1", "resolve IT-1 x"], "cancel IT-1", "alice"),  # resolved -> cancel
    (["claim IT-1", "resolve IT-1 x"], "assign IT-1 webchat:wang", "lead"),  # resolved -> assign
    (["claim IT-1"], "rate IT-1 5", "alice"),  # in_progress -> rate
    (["claim IT-1", "status IT-1 waiting"], "status IT-1 assigned", "wang"),  # waiting -> assigned
])
def test_invalid_transitions_are_refused_and_change_nothing(h: DeskHarness, engine: Engine, setup: list[str],
                                                            line: str, who: str) -> None:
    open_ticket(h)
    for step in setup:
        h.command(h.user("wang"), step)
    status = h.ticket("IT-1").status
    before = db_state(engine)
    rows_before = count(engine, "outbox")
    out = h.command(h.user(who), line)
    assert db_state(engine) == before
    assert h.ticket("IT-1").status == status
    refusals = private_texts(out)
    assert len(refusals) == 1 and "IT-1" in refusals[0], texts(out)
    assert count(engine, "outbox") == rows_before + len(out)
    assert all(o.reply.only_visible_to == h.user(who) or o.reply.card_key for o in out)


def test_unknown_ticket_is_refused(h: DeskHarness, engine: Engine) -> None:
    open_ticket(h)
    before = db_state(engine)
    out = h.command(h.user("wang"), "claim IT-99")
    assert db_state(engine) == before
    assert private_texts(out) == ["I can't find ticket IT-99. Check the number, e.g. IT-12."]
    assert "HR-3" in h.command(h.user("wang"), "claim HR-3")[0].reply.as_text()


@pytest.mark.parametrize("ref", ["IT-1", "1", "#1", "it-1"])
def test_ticket_ids_in_every_form(h: DeskHarness, ref: str) -> None:
    open_ticket(h)
    h.command(h.user("wang"), f"claim {ref}")
    assert h.ticket("IT-1").assignee == "webchat:wang"


def test_chinese_commands_drive_the_lifecycle(h: DeskHarness) -> None:
    wang, alice = h.user("wang"), h.user("alice")
    open_ticket(h, problem="打印机卡纸了")
    h.say(wang, "认领 IT-1", chat="it-team")
    assert h.ticket("IT-1").status == "in_progress"
    h.say(wang, "优先级 IT-1 P1", chat="it-team")
    assert h.ticket("IT-1").priority == "P1"
    h.say(wang, "解决 IT-1 清理了卡纸", chat="it-team")
    assert h.ticket("IT-1").status == "resolved"
    h.say(alice, "重开 IT-1 又卡了", chat="it-help")
    assert h.ticket("IT-1").status == "in_progress"
    h.say(wang, "关闭 IT-1", chat="it-team")
    assert h.ticket("IT-1").status == "closed"


def test_bad_priority_and_status_arguments(h: DeskHarness, engine: Engine) -> None:
    wang = h.user("wang")
    open_ticket(h)
    open_ticket(h, "bob", "Same flicker on my screen")
    before = db_state(engine)
    out = h.command(wang, "priority IT-1 P9")
    assert private_texts(out) == ["Priority must be P0, P1, P2 or P3."]
    out = h.command(wang, "status IT-1 sleeping")
    assert "Unknown status sleeping" in private_texts(out)[0]
    assert db_state(engine) == before


def test_link_tickets(h: DeskHarness, engine: Engine) -> None:
    wang = h.user("wang")
    open_ticket(h)
    open_ticket(h, "bob", "Same flicker on my screen")
    out = h.command(wang, "link IT-2 duplicate IT-1")
    assert "IT-2 is linked to IT-1 (duplicate of)." in private_texts(out)
    assert count(engine, "ticket_links", "kind = 'duplicate_of'") == 1
    assert h.timeline("IT-2")[-1] == "linked"


def test_auto_close_after_the_survey_timeout(h: DeskHarness, engine: Engine) -> None:
    wang = h.user("wang")
    open_ticket(h)
    open_ticket(h, "bob", "Keyboard missing keys")
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 rebooted")
    h.clock.advance(days=1)
    h.command(wang, "claim IT-2")
    h.command(wang, "resolve IT-2 new keyboard")

    def sweep() -> int:
        with h.uow.begin() as session:
            return auto_close_sweep(Context(session=session, services=h.services, now=h.clock.now()))

    h.clock.advance(days=1, hours=23)  # IT-1 resolved 2d23h ago: not yet
    assert sweep() == 0
    h.clock.advance(hours=1, seconds=1)
    assert sweep() == 1
    assert (h.ticket("IT-1").status, h.ticket("IT-2").status) == ("closed", "resolved")
    assert h.timeline("IT-1")[-1] == "closed"
    assert audit_actions(engine, "IT-1")[-1] == "ticket.auto_close"
    assert sweep() == 0, "a second sweep changes nothing"
    h.clock.advance(days=1)
    assert sweep() == 1 and h.ticket("IT-2").status == "closed"


def test_audit_log_is_append_only(h: DeskHarness, engine: Engine) -> None:
    open_ticket(h)
    assert count(engine, "audit_log") >= 1
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    with h.uow.begin() as s:
        rows = list(s.exec(select(AuditRecord).order_by(AuditRecord.id)).all())
    assert rows and all(r.actor != "mallory" for r in rows)
    first = rows[0]
    assert first.action == "ticket.open" and json.loads(first.after or "{}")["status"] == "new"


def test_audit_records_the_real_state_before_a_claim(h: DeskHarness, engine: Engine) -> None:
    open_ticket(h)
    h.command(h.user("lead"), "assign IT-1 webchat:wang")
    h.command(h.user("wang"), "claim IT-1")
    with engine.connect() as conn:
        before = conn.execute(text("SELECT before FROM audit_log WHERE action = 'ticket.claim'")).scalar()
    assert json.loads(before)["status"] == "assigned"
    assert json.loads(before)["assignee"] == "webchat:wang"


def test_every_change_leaves_an_audit_record_with_before_and_after(h: DeskHarness, engine: Engine) -> None:
    open_ticket(h)
    wang = h.user("wang")
    h.command(wang, "claim IT-1")
    h.command(wang, "priority IT-1 P1")
    h.command(wang, "resolve IT-1 done")
    with engine.connect() as conn:
        records = conn.execute(text("SELECT actor, action, before, after FROM audit_log ORDER BY id")).all()
    assert [r.action for r in records] == ["ticket.open", "ticket.claim", "ticket.priority", "ticket.resolve"]
    assert all(r.after for r in records)
    priority = records[2]
    assert priority.actor == "webchat:wang"
    assert (json.loads(priority.before)["priority"], json.loads(priority.after)["priority"]) == ("P2", "P1")
    resolved = records[3]
    assert (json.loads(resolved.before)["status"], json.loads(resolved.after)["status"]) == ("in_progress",
                                                                                             "resolved")
