"""Routing: rules by category / keywords / location pick a support group; least-loaded or round-robin assigns."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from core.events import FormSubmitted
from core.settings import RoutingRule, SupportGroup
from tests.harness import DeskHarness, default_settings

GROUPS = [
    SupportGroup(name="network", members=["webchat:wang", "webchat:li"], chat="webchat:net-team"),
    SupportGroup(name="hardware", members=["webchat:zhao"]),
    SupportGroup(name="beijing", members=["webchat:bj1"]),
]
RULES = [
    RoutingRule(group="hardware", categories=["hardware"]),
    RoutingRule(group="beijing", locations=["Beijing"]),
    RoutingRule(group="network", keywords=["vpn", "wifi", "网络"]),
]


def harness(engine: Engine, assignment: str = "none") -> DeskHarness:
    return DeskHarness(engine, default_settings(groups=GROUPS, routing=RULES, assignment=assignment,
                                                locations=["Beijing", "Shanghai"]))


def form(h: DeskHarness, who: str, subject: str, **values: str) -> None:
    n = len(h.outbox())
    h.submit(FormSubmitted(platform="webchat", event_id=f"form-{who}-{n}-{subject}", received_at=h.clock.now(),
                           user=h.user(who), conversation=h.conv("it-help"), form_id="ticket.new",
                           values={"subject": subject, **values}))


def test_rules_pick_the_group_in_order(engine: Engine) -> None:
    h = harness(engine)
    form(h, "alice", "Laptop fan is loud", category="hardware")
    form(h, "alice", "Printer offline", location="Beijing")
    h.say(h.user("alice"), "The VPN keeps dropping")
    h.say(h.user("alice"), "会议室网络很慢")
    form(h, "alice", "VPN on my laptop", category="hardware")  # the first matching rule wins
    h.say(h.user("alice"), "Excel crashes on start")
    groups = [h.ticket(f"IT-{n}").support_group for n in range(1, 7)]
    assert groups == ["hardware", "beijing", "network", "network", "hardware", None]
    assert h.timeline("IT-1")[:2] == ["opened", "routed"]
    assert h.ticket("IT-1").category == "hardware" and h.ticket("IT-2").location == "Beijing"
    assert h.ticket("IT-3").assignee is None, "assignment = none leaves the ticket for a claim"


def test_the_groups_own_chat_gets_the_card(engine: Engine) -> None:
    h = harness(engine)
    out = h.say(h.user("alice"), "wifi is down on floor 3")
    assert {o.to.chat_id for o in out if o.reply.card_key} == {"it-help", "net-team"}


def test_least_loaded_assignment(engine: Engine) -> None:
    h = harness(engine, "least_loaded")
    alice = h.user("alice")
    h.say(alice, "VPN down 1")
    h.say(alice, "VPN down 2")
    h.say(alice, "VPN down 3")
    assert [h.ticket(f"IT-{n}").assignee for n in (1, 2, 3)] == ["webchat:wang", "webchat:li", "webchat:wang"]
    assert h.ticket("IT-1").status == "assigned" and h.timeline("IT-1")[-1] == "assigned"
    # wang finishes both of his: the next one goes to him again
    for key in ("IT-1", "IT-3"):
        h.command(h.user("wang"), f"claim {key}")
        h.command(h.user("wang"), f"resolve {key} fixed")
    h.say(alice, "VPN down 4")
    assert h.ticket("IT-4").assignee == "webchat:wang"


def test_round_robin_assignment(engine: Engine) -> None:
    h = harness(engine, "round_robin")
    alice = h.user("alice")
    for n in range(1, 6):
        h.say(alice, f"wifi problem {n}")
    assert [h.ticket(f"IT-{n}").assignee for n in range(1, 6)] == [
        "webchat:wang", "webchat:li", "webchat:wang", "webchat:li", "webchat:wang"]


def test_the_auto_assignee_is_told_by_dm(engine: Engine) -> None:
    h = harness(engine, "round_robin")
    out = h.say(h.user("alice"), "Laptop battery swollen")  # no rule matches: nobody assigned
    assert not any(o.to.is_direct for o in out)
    form(h, "alice", "Monitor cracked", category="hardware")
    dm = [r for r in h.outbox() if r.conversation_key.startswith("webchat||@zhao")]
    assert len(dm) == 1 and "IT-2" in dm[0].reply
    assert h.ticket("IT-2").assignee == "webchat:zhao"


def test_group_members_are_technicians(engine: Engine) -> None:
    h = harness(engine)
    h.say(h.user("alice"), "VPN down")
    h.command(h.user("li"), "claim IT-1")
    assert h.ticket("IT-1").assignee == "webchat:li"


@pytest.mark.parametrize("values, answer", [
    ({"subject": ""}, "The subject is required."),
    ({"subject": "x", "priority": "P7"}, "Priority must be P0, P1, P2 or P3."),
])
def test_bad_forms_are_refused(engine: Engine, values: dict[str, str], answer: str) -> None:
    h = harness(engine)
    out = h.submit(FormSubmitted(platform="webchat", event_id="f1", received_at=h.clock.now(), user=h.user("alice"),
                                 conversation=h.conv("it-help"), form_id="ticket.new", values=values))
    assert [o.reply.as_text() for o in out] == [answer]
    assert h.outbox()[-1].reply and len(h.outbox()) == 1
