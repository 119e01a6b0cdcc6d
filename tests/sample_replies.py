"""Replies every adapter must render (contract tests and golden renders)."""

from core.events import UserRef
from core.replies import Button, Field, Reply, TimelineItem

TICKET_CARD = Reply(
    fallback_text="IT-12 VPN 连不上了 — New",
    title="IT-12 · VPN 连不上了",
    body_md="Requester reports the VPN client fails with *error 809*.",
    fields=(Field(label="Status", value="New"), Field(label="Priority", value="P2"),
            Field(label="Assignee", value="—"), Field(label="Resolve by", value="2026-11-25 18:00")),
    timeline=(TimelineItem(at="11-22 09:14", text="Opened by Li Lei"),
              TimelineItem(at="11-22 09:20", text="Claimed by Wang Fang")),
    buttons=(Button(label="Claim", action_id="ticket.claim", value={"ticket": "12"}, style="primary"),
             Button(label="Resolve", action_id="ticket.resolve", value={"ticket": "12"})),
    card_key="ticket:12", lang="zh-CN", status="new", priority="P2",
)

SURVEY_CARD = Reply(
    fallback_text="Is it fixed? IT-12",
    title="Is it fixed? · IT-12",
    body_md="Wang Fang resolved your ticket: *reset the VPN profile*.",
    buttons=(
        Button(label="Yes, close", action_id="survey.fixed", value={"ticket": "12"}, style="primary"),
        Button(label="No, reopen", action_id="survey.reopen", value={"ticket": "12"}, style="danger"),
        *(Button(label=str(n), action_id="survey.rate", value={"ticket": "12", "rating": str(n)})
          for n in range(1, 6)),
    ),
    card_key="survey:12", lang="en", status="resolved",
)

PLAIN_TEXT = Reply(fallback_text="Ticket IT-12 was not found.", lang="en")

EPHEMERAL = Reply(fallback_text="Only technicians can claim tickets.", lang="en",
                  only_visible_to=UserRef(platform="slack", user_id="U1"))

ALL = {"ticket_card": TICKET_CARD, "survey_card": SURVEY_CARD, "plain_text": PLAIN_TEXT,
       "ephemeral": EPHEMERAL}
