"""REST API /api/v1/tickets for integrations (monitoring, forms), authenticated with tokens from config."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from sqlmodel import select

from core import tickets
from core.context import Context
from core.db.models import Ticket, TimelineEntry
from core.desks import Refusal
from core.events import UserRef
from core.i18n import EN
from core.intents import parse_ticket_ref
from core.masking import storable
from core.settings import Priority

bearer = HTTPBearer(auto_error=False)


class _Body(BaseModel):
    """A request body whose text any database can store: no control characters, no half emoji."""

    @field_validator("*", mode="before")
    @classmethod
    def _valid(cls, value: Any) -> Any:
        return storable(value) if isinstance(value, str) else value


class TicketIn(_Body):
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=100_000)
    requester: str = Field(default="api:integration", pattern=r"^[a-z]+:.+$",
                           description="identity platform:user_id")
    requester_name: str | None = None
    desk: str | None = None
    category: str | None = None
    priority: Priority | None = None
    location: str | None = None


class CommentIn(_Body):
    text: str = Field(min_length=1, max_length=100_000)
    author: str = Field(default="api:integration", pattern=r"^[a-z]+:.+$")


class StatusIn(_Body):
    status: Literal["new", "assigned", "in_progress", "waiting", "resolved", "closed"]
    note: str = ""
    actor: str = Field(default="api:integration", pattern=r"^[a-z]+:.+$")


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    text: str
    actor: str | None


class TicketOut(BaseModel):
    key: str
    desk: str
    subject: str
    description: str
    status: str
    priority: str
    category: str | None
    location: str | None
    requester: str
    assignee: str | None
    support_group: str | None
    rating: int | None
    rating_comment: str | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    respond_by: datetime | None
    resolve_by: datetime | None
    timeline: list[TimelineOut] | None = None


def ticket_out(ticket: Ticket, entries: list[TimelineEntry] | None = None) -> TicketOut:
    data: dict[str, Any] = {k: getattr(ticket, k) for k in TicketOut.model_fields if k != "timeline"}
    if entries is not None:
        data["timeline"] = [TimelineOut(at=e.at, kind=e.kind, text=e.text, actor=e.actor) for e in entries]
    return TicketOut(**data)


def _user(identity: str, name: str | None = None) -> UserRef:
    platform, _, user_id = identity.partition(":")
    return UserRef(platform=platform, user_id=user_id, display_name=name or user_id)


REFUSAL_STATUS = {"ticket.not_found": 404, "perm.refused": 403, "perm.not_yours": 403, "survey.only_requester": 403}


def build_router(runtime_getter: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["tickets"])

    def authorised(request: Request,
                   creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        tokens = request.app.state.container.config.api.tokens
        if creds is None or not any(secrets.compare_digest(creds.credentials, tok) for tok in tokens):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown API token",
                                headers={"WWW-Authenticate": "Bearer"})

    async def in_unit(request: Request, work: Any) -> Any:
        container = request.app.state.container

        def run() -> Any:
            with container.uow.begin() as session:
                ctx = Context(session=session, services=container.services, now=container.clock.now())
                try:
                    result = work(ctx)
                except Refusal as refusal:
                    session.rollback()
                    raise HTTPException(REFUSAL_STATUS.get(refusal.key, 409), refusal.text(EN)) from refusal
            for callback in ctx.after_commit:  # e.g. SLA timers learning of new deadlines
                callback()
            return result

        result = await asyncio.to_thread(run)
        runtime = runtime_getter()
        if runtime is not None:
            runtime.deliverer.wake.set()
        return result

    def find(ctx: Context, key: str) -> Ticket:
        ref = parse_ticket_ref(key)
        if ref is None:
            raise HTTPException(404, f"ticket {key} not found")
        return tickets.find(ctx, ref, ctx.desks.default)

    deps = [Depends(authorised)]

    @router.post("/tickets", status_code=201, response_model=TicketOut, dependencies=deps)
    async def create_ticket(body: TicketIn, request: Request) -> TicketOut:
        def work(ctx: Context) -> TicketOut:
            desk = ctx.desks.by_name(body.desk) if body.desk else ctx.desks.default
            if body.desk and desk.name != body.desk:
                raise HTTPException(422, f"desk: unknown desk {body.desk!r}")
            if body.category and body.category not in desk.categories:
                raise HTTPException(422, f"category: must be one of {', '.join(desk.categories)}")
            ticket = tickets.open_ticket(
                ctx, desk=desk, requester=_user(body.requester, body.requester_name), subject=body.subject,
                description=body.description or body.subject, conversation=None, message_id=None,
                lang=desk.default_lang, category=body.category, priority=body.priority, location=body.location,
                via="api")
            return ticket_out(ticket)
        return await in_unit(request, work)

    @router.get("/tickets", response_model=list[TicketOut], dependencies=deps)
    async def list_tickets(request: Request, status_: Annotated[str | None, Query(alias="status")] = None,
                           desk: str | None = None, requester: str | None = None, assignee: str | None = None,
                           priority: Priority | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                           offset: Annotated[int, Query(ge=0)] = 0) -> list[TicketOut]:
        def work(ctx: Context) -> list[TicketOut]:
            query = select(Ticket)
            for column, value in ((Ticket.status, status_), (Ticket.desk, desk), (Ticket.requester, requester),
                                  (Ticket.assignee, assignee), (Ticket.priority, priority)):
                if value is not None:
                    query = query.where(column == value)
            rows = ctx.session.exec(query.order_by(Ticket.id).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
            return [ticket_out(t) for t in rows]
        return await in_unit(request, work)

    @router.get("/tickets/{key}", response_model=TicketOut, dependencies=deps)
    async def get_ticket(key: str, request: Request) -> TicketOut:
        def work(ctx: Context) -> TicketOut:
            ticket = find(ctx, key)
            entries = ctx.session.exec(select(TimelineEntry).where(TimelineEntry.ticket_id == ticket.id)
                                       .order_by(TimelineEntry.id)).all()  # type: ignore[arg-type]
            return ticket_out(ticket, list(entries))
        return await in_unit(request, work)

    @router.post("/tickets/{key}/comments", status_code=201, response_model=TicketOut, dependencies=deps)
    async def add_comment(key: str, body: CommentIn, request: Request) -> TicketOut:
        def work(ctx: Context) -> TicketOut:
            ticket = find(ctx, key)
            tickets.comment(ctx, ticket, _user(body.author), body.text, origin=None)
            return ticket_out(ticket)
        return await in_unit(request, work)

    @router.post("/tickets/{key}/status", response_model=TicketOut, dependencies=deps)
    async def change_status(key: str, body: StatusIn, request: Request) -> TicketOut:
        def work(ctx: Context) -> TicketOut:
            ticket = find(ctx, key)
            tickets.set_status(ctx, ticket, _user(body.actor), body.status, body.note)
            return ticket_out(ticket)
        return await in_unit(request, work)

    return router
