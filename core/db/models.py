"""The tables: tickets, timeline, audit, intake events, outbox, cards, roles, knowledge, SLA pauses, alerts and state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db.types import UtcDateTime


def _ts(nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UtcDateTime(), nullable=nullable, index=index)


_TICKET_VERSION = Column("version", Integer, nullable=False, default=1)


class TicketCounter(SQLModel, table=True):
    """Next ticket number per desk, advanced with one atomic UPDATE ... RETURNING."""

    __tablename__ = "ticket_counters"
    desk: str = Field(primary_key=True)
    last_number: int = 0


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("desk", "number", name="uq_ticket_desk_number"),
        Index("ix_tickets_status_desk", "status", "desk"),
        Index("ix_tickets_requester", "requester"),
        Index("ix_tickets_assignee", "assignee"),
    )

    id: int | None = Field(default=None, primary_key=True)
    desk: str
    number: int
    key: str = Field(unique=True)  # "IT-1042"
    subject: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    category: str | None = None
    priority: str = "P2"
    location: str | None = None
    status: str = "new"
    requester: str  # identity platform:user_id
    requester_name: str | None = None
    assignee: str | None = None
    assignee_name: str | None = None
    support_group: str | None = None
    lang: str = "zh-CN"
    source_platform: str | None = None
    source_conversation: str | None = Field(default=None, sa_column=Column(Text))  # ConversationRef JSON
    source_message_id: str | None = None
    resolution: str | None = Field(default=None, sa_column=Column(Text))
    rating: int | None = None
    rating_comment: str | None = Field(default=None, sa_column=Column(Text))
    suggestions: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of article ids/titles
    created_at: datetime = Field(sa_column=_ts(False, index=True))
    updated_at: datetime = Field(sa_column=_ts(False))
    first_response_at: datetime | None = Field(default=None, sa_column=_ts())
    resolved_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    reopen_count: int = 0
    # SLA: deadlines are computed by core.sla and stored here
    respond_by: datetime | None = Field(default=None, sa_column=_ts(index=True))
    resolve_by: datetime | None = Field(default=None, sa_column=_ts(index=True))
    paused_since: datetime | None = Field(default=None, sa_column=_ts())
    paused_seconds: float = 0.0  # wall-clock seconds spent waiting on the requester in this SLA cycle
    sla_cycle: int = 0  # +1 on every reopen; alerts are once per (ticket, kind, cycle)
    sla_started_at: datetime | None = Field(default=None, sa_column=_ts())  # cycle start; None = created_at
    # the earliest SLA alert not yet sent (None: paused, stopped or nothing left): the sweep's index
    sla_next_at: datetime | None = Field(default=None, sa_column=_ts(index=True))
    # optimistic concurrency: a stale write raises StaleDataError and the event is retried
    version: int = Field(default=1, sa_column=_TICKET_VERSION)

    __mapper_args__ = {"version_id_col": _TICKET_VERSION}


class TimelineEntry(SQLModel, table=True):
    __tablename__ = "timeline"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    at: datetime = Field(sa_column=_ts(False))
    actor: str | None = None
    actor_name: str | None = None
    kind: str  # opened, claimed, assigned, status, comment, relay, priority, resolved, closed, reopened, ...
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # English rendering
    data: str | None = Field(default=None, sa_column=Column(Text))  # {"key", "kw"} to render per reader
    public: bool = True


class AuditRecord(SQLModel, table=True):
    """Append-only: database triggers refuse UPDATE and DELETE (see the initial migration)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_ts(False, index=True))
    actor: str | None = None
    action: str
    entity: str
    entity_id: str
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))


class TicketLink(SQLModel, table=True):
    __tablename__ = "ticket_links"
    __table_args__ = (UniqueConstraint("ticket_id", "other_id", "kind", name="uq_ticket_link"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    other_id: int = Field(foreign_key="tickets.id")
    kind: str  # duplicate_of | related_to


class ThreadLink(SQLModel, table=True):
    """A chat thread that belongs to a ticket: replies there become comments."""

    __tablename__ = "thread_links"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "thread_id", name="uq_thread_link"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    chat_id: str
    thread_id: str
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    side: str = "requester"  # requester | team


class CardMessage(SQLModel, table=True):
    """Where a living card was posted: later changes update this platform message in place."""

    __tablename__ = "card_messages"
    __table_args__ = (UniqueConstraint("card_key", "conversation_key", name="uq_card_conversation"),)
    id: int | None = Field(default=None, primary_key=True)
    card_key: str = Field(index=True)
    conversation_key: str
    platform: str
    message_id: str = Field(index=True)
    updated_at: datetime = Field(sa_column=_ts(False))


class IntakeEvent(SQLModel, table=True):
    """Every inbound event, stored (and deduplicated) before the platform is acked."""

    __tablename__ = "intake_events"
    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_intake_event"),
        UniqueConstraint("platform", "message_key", name="uq_intake_message"),
        Index("ix_intake_pending", "status", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    event_id: str
    message_key: str | None = None
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "pending"  # pending | done | failed
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = Field(sa_column=_ts(False))
    processed_at: datetime | None = Field(default=None, sa_column=_ts())


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_conversation", "conversation_key", "status", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    conversation_key: str
    conversation: str = Field(sa_column=Column(Text, nullable=False))
    reply: str = Field(sa_column=Column(Text, nullable=False))
    card_key: str | None = None
    ticket_id: int | None = None
    reply_to_message_id: str | None = None
    status: str = "pending"  # pending | sending | sent | parked | superseded
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=_ts(False))
    lease_until: datetime | None = Field(default=None, sa_column=_ts())
    claimed_by: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = None
    created_at: datetime = Field(sa_column=_ts(False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())


class RoleGrant(SQLModel, table=True):
    """Roles changed by admin commands, on top of the roles in config."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("desk", "identity", "role", name="uq_role_grant"),)
    id: int | None = Field(default=None, primary_key=True)
    desk: str
    identity: str
    role: str  # technician | lead | admin
    granted: bool = True  # False = revoked (overrides config)
    by: str | None = None
    at: datetime = Field(sa_column=_ts(False))


class Deflection(SQLModel, table=True):
    """A question answered with suggestions before a ticket was opened (suggest-first)."""

    __tablename__ = "deflections"
    id: int | None = Field(default=None, primary_key=True)
    desk: str
    requester: str
    requester_name: str | None = None
    conversation: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    lang: str = "en"
    suggestions: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    status: str = "pending"  # pending | deflected | escalated
    ticket_id: int | None = None
    created_at: datetime = Field(sa_column=_ts(False))
    decided_at: datetime | None = Field(default=None, sa_column=_ts())


class Article(SQLModel, table=True):
    __tablename__ = "articles"
    id: str = Field(primary_key=True)
    title: str
    lang: str = "en"
    category: str | None = None
    tags: str = "[]"  # JSON list
    aliases: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    checksum: str = ""
    status: str = "published"  # draft | published | retired
    source_ticket_id: int | None = None
    author: str | None = None
    updated_at: datetime = Field(sa_column=_ts(False))


class ArticleFeedback(SQLModel, table=True):
    __tablename__ = "article_feedback"
    __table_args__ = (Index("ix_feedback_article", "article_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: str
    kind: str  # shown | helpful | not_helpful
    identity: str | None = None
    ticket_id: int | None = None
    deflection_id: int | None = None
    at: datetime = Field(sa_column=_ts(False))


class TicketPause(SQLModel, table=True):
    """A stretch of waiting on the requester: SLA clocks do not run during it (when the desk says so)."""

    __tablename__ = "ticket_pauses"
    __table_args__ = (Index("ix_ticket_pauses_ticket", "ticket_id", "cycle"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    cycle: int = 0
    started_at: datetime = Field(sa_column=_ts(False))
    ended_at: datetime | None = Field(default=None, sa_column=_ts())


class SlaAlert(SQLModel, table=True):
    """One row per alert ever sent: the unique key makes each warning/breach/escalation happen once."""

    __tablename__ = "sla_alerts"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "cycle", name="uq_sla_alert"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    kind: str  # respond_warn | respond_breach | respond_escalate_N | resolve_warn | resolve_breach | ...
    cycle: int = 0
    at: datetime = Field(sa_column=_ts(False))


class SlaState(SQLModel, table=True):
    """Small SLA facts kept between runs, such as the fingerprint of what the stored deadlines were computed under."""

    __tablename__ = "sla_state"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=_ts(False))
