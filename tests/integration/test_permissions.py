"""Permissions: every command and button checks the person's role in core; a refusal changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from tests.harness import DeskHarness, find_button, texts
from tests.integration.helpers import count, db_state, private_texts


@pytest.fixture
def opened(h: DeskHarness) -> DeskHarness:
    h.say(h.user("alice"), "The office printer prints blank pages")
    return h


def refused(h: DeskHarness, engine: Engine, who: str, line: str, *, chat: str = "it-team") -> str:
    before = db_state(engine)
    out = h.command(h.user(who), line, chat=chat)
    assert db_state(engine) == before, f"{who}: {line} changed the database"
    answers = private_texts(out)
    assert len(answers) == 1, texts(out)
    assert all(o.reply.only_visible_to == h.user(who) for o in out if not o.reply.card_key)
    return answers[0]


@pytest.mark.parametrize("line, answer", [
    ("claim IT-1", "Sorry, only technicians can claim."),
    ("assign IT-1 webchat:wang", "Sorry, only leads can assign."),
    ("resolve IT-1 fixed it myself", "Sorry, only technicians can resolve."),
    ("priority IT-1 P0", "Sorry, only technicians can change."),
    ("status IT-1 waiting", "Sorry, only technicians can change."),
    ("comment IT-1 hello", None),  # the requester may comment on their own ticket
    ("role grant webchat:alice admin", "Sorry, only admins can change roles."),
    ("report", "Sorry, only leads can see reports."),
])
def test_requester_limits(opened: DeskHarness, engine: Engine, line: str, answer: str | None) -> None:
    if answer is None:
        opened.command(opened.user("alice"), line, chat="it-help")
        assert opened.timeline("IT-1")[-1] == "relay"
        return
    assert refused(opened, engine, "alice", line, chat="it-help") == answer


def test_a_stranger_cannot_see_or_comment_on_someone_elses_ticket(opened: DeskHarness, engine: Engine) -> None:
    assert refused(opened, engine, "bob", "show IT-1") == "Sorry, IT-1 isn't your ticket."
    assert refused(opened, engine, "bob", "comment IT-1 me too") == "Sorry, only technicians can comment on."
    assert refused(opened, engine, "bob", "cancel IT-1") == "Sorry, only technicians can cancel."
    assert refused(opened, engine, "bob", "reopen IT-1") == "Sorry, only technicians can reopen."


def test_technician_may_assign_only_themselves(opened: DeskHarness, engine: Engine) -> None:
    assert refused(opened, engine, "wang", "assign IT-1 webchat:li") == "Sorry, only leads can assign."
    opened.command(opened.user("wang"), "assign IT-1 webchat:wang")
    assert opened.ticket("IT-1").assignee == "webchat:wang"
    assert opened.ticket("IT-1").status == "assigned"


def test_lead_assigns_and_the_assignee_is_told(opened: DeskHarness) -> None:
    out = opened.command(opened.user("lead"), "assign IT-1 webchat:li")
    ticket = opened.ticket("IT-1")
    assert (ticket.assignee, ticket.status) == ("webchat:li", "assigned")
    dm = [o for o in out if o.to.is_direct]
    assert len(dm) == 1 and dm[0].to.chat_id == "@li" and "assigned IT-1 to you" in dm[0].reply.as_text()
    assert opened.timeline("IT-1")[-1] == "assigned"


def test_assign_by_mention(opened: DeskHarness) -> None:
    opened.command(opened.user("lead"), "assign IT-1 @wang")
    assert opened.ticket("IT-1").assignee == "webchat:wang"
    out = opened.command(opened.user("lead"), "assign IT-1")
    assert "Assign to whom?" in private_texts(out)[0]


def test_admin_grants_a_role_that_takes_effect(opened: DeskHarness, engine: Engine) -> None:
    assert refused(opened, engine, "bob", "claim IT-1") == "Sorry, only technicians can claim."
    out = opened.command(opened.user("admin"), "role grant webchat:bob technician")
    assert private_texts(out) == ["webchat:bob is now technician on desk IT."]
    assert count(engine, "audit_log", "action = 'role.grant'") == 1
    opened.command(opened.user("bob"), "claim IT-1")
    assert opened.ticket("IT-1").assignee == "webchat:bob"


def test_admin_revokes_a_role_from_config(opened: DeskHarness, engine: Engine) -> None:
    opened.command(opened.user("admin"), "role revoke webchat:wang technician")
    assert refused(opened, engine, "wang", "claim IT-1") == "Sorry, only technicians can claim."


def test_grant_then_revoke_takes_effect(opened: DeskHarness, engine: Engine) -> None:
    admin = opened.user("admin")
    opened.command(admin, "role grant webchat:bob technician")
    out = opened.command(admin, "role revoke webchat:bob technician")
    assert private_texts(out) == ["webchat:bob is no longer technician on desk IT."]
    assert refused(opened, engine, "bob", "claim IT-1") == "Sorry, only technicians can claim."


def test_only_admins_change_roles_and_bad_role_commands_get_usage(opened: DeskHarness, engine: Engine) -> None:
    assert refused(opened, engine, "lead", "role grant webchat:bob admin") == "Sorry, only admins can change roles."
    for line in ("role grant bob technician", "role grant webchat:bob wizard", "role promote webchat:bob lead",
                 "role grant"):
        assert refused(opened, engine, "admin", line).startswith("Write `/ticket role grant|revoke")


def test_granted_lead_can_assign(opened: DeskHarness) -> None:
    opened.command(opened.user("admin"), "role grant webchat:bob lead")
    opened.command(opened.user("bob"), "assign IT-1 webchat:wang")
    assert opened.ticket("IT-1").assignee == "webchat:wang"


def test_requester_cannot_press_the_claim_button(opened: DeskHarness, engine: Engine) -> None:
    out = opened.command(opened.user("wang"), "show IT-1")
    claim = find_button(out, "ticket.claim")
    before = db_state(engine)
    out = opened.click(opened.user("alice"), claim, chat="it-help")
    assert db_state(engine) == before
    assert "Sorry, only technicians can claim." in private_texts(out)
    # the refused click also refreshes the card the person pressed
    assert any(o.reply.card_key == f"ticket:{opened.ticket('IT-1').id}" for o in out)


def test_second_claim_is_refused_politely(opened: DeskHarness, engine: Engine) -> None:
    opened.command(opened.user("lead"), "assign IT-1 webchat:wang")
    opened.command(opened.user("admin"), "role grant webchat:li technician")
    answer = refused(opened, engine, "li", "claim IT-1")
    assert answer == "IT-1 is already being handled by wang."
