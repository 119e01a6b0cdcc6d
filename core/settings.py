"""Typed settings core needs: desks, roles, routing, surveys, delivery, SLA policies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Priority = Literal["P0", "P1", "P2", "P3"]
PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoutingRule(Strict):
    """First matching rule picks the support group. Empty lists match anything."""

    group: str
    categories: list[str] = []
    keywords: list[str] = []
    locations: list[str] = []


class SupportGroup(Strict):
    name: str
    members: list[str] = []  # identities platform:user_id
    chat: str | None = None  # team chat "platform:chat_id" for this group, else the desk's


class Roles(Strict):
    technicians: list[str] = []
    leads: list[str] = []
    admins: list[str] = []


class SlaTarget(Strict):
    respond: str  # "15m", "4h", "1bd" (business days)
    resolve: str
    business_hours: bool = True
    warn_at: float | None = None  # this priority's own warning point; default the policy's warn_at


class EscalationLevel(Strict):
    """Who else hears about a breach, and how long after it (on the breached target's clock)."""

    after: str = "0m"  # "0m" = at the breach; "1h", "1bd", ...
    # "assignee", "leads", "team_chat", or identities "platform:user_id"
    notify: list[str] = ["leads", "team_chat"]


class SlaPolicy(Strict):
    warn_at: float = 0.75
    pause_when_waiting: bool = True
    targets: dict[str, SlaTarget] = Field(default_factory=lambda: {
        "P0": SlaTarget(respond="15m", resolve="4h", business_hours=False),
        "P1": SlaTarget(respond="30m", resolve="8h", business_hours=False),
        "P2": SlaTarget(respond="4h", resolve="3bd"),
        "P3": SlaTarget(respond="1bd", resolve="10bd"),
    })
    # escalation levels after breach: [{"after": "1h", "notify": ["slack:U1"]}]
    escalations: list[EscalationLevel] = Field(default_factory=lambda: [EscalationLevel()])


class Calendar(Strict):
    timezone: str = "Asia/Shanghai"
    # working periods per working day, "HH:MM-HH:MM"
    hours: list[str] = ["09:00-12:00", "13:30-18:00"]
    weekend: list[int] = [5, 6]  # Monday = 0
    cn_statutory: bool = True  # Chinese statutory holidays and make-up days (chinesecalendar)
    holidays: list[str] = []  # extra "YYYY-MM-DD"
    workdays: list[str] = []  # extra working days "YYYY-MM-DD"


class Desk(Strict):
    name: str = "IT"
    prefix: str = "IT"
    default_lang: Literal["zh-CN", "en"] = "zh-CN"
    default_priority: Priority = "P2"
    intake_chats: list[str] = []  # "platform:chat_id": every top-level message is intake
    team_chat: str | None = None  # "platform:chat_id" technicians' room (new-ticket announcements)
    categories: list[str] = ["hardware", "software", "network", "account", "access", "other"]
    locations: list[str] = []
    groups: list[SupportGroup] = []
    routing: list[RoutingRule] = []
    assignment: Literal["none", "least_loaded", "round_robin"] = "none"
    roles: Roles = Roles()
    survey_timeout_days: float = 3
    reopen_window_days: float = 7
    knowledge_mode: Literal["suggest_first", "open_and_suggest", "off"] = "suggest_first"
    sla: SlaPolicy = SlaPolicy()
    calendar: Calendar = Calendar()

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v.isalnum() or not v.isupper():
            raise ValueError("prefix must be upper-case letters/digits, e.g. IT")
        return v


class Delivery(Strict):
    max_attempts: int = 8
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0
    lease_seconds: float = 60.0


class CoreSettings(Strict):
    desks: list[Desk] = [Desk()]
    delivery: Delivery = Delivery()
    max_message_chars: int = 4000
