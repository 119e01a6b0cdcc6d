"""The `deskbot` command: run, check-config, db, tickets, outbox, chat, kb, report."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import click

from bot.cli_common import load, open_uow, refuse, table
from bot.config import ConfigError, find_config_path, load_config
from bot.kb_cli import kb

log = logging.getLogger("deskbot")


# libraries that narrate routine work at INFO (every scheduler tick, every migration plugin)
_CHATTY = ("apscheduler", "alembic")


def _setup_logging(level: str) -> None:
    chosen = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=chosen, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(chosen, logging.WARNING))


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (else $DESKBOT_CONFIG, else ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """deskbot — a chat-first IT service desk."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


@main.command("check-config")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def check_config(ctx: click.Context, path: str | None) -> None:
    """Validate a config file; print every problem with its key path."""
    target = find_config_path(path or ctx.obj.get("config"))
    try:
        cfg = load_config(target)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        ctx.exit(1)
        return
    platforms = [p for p in ("webchat", "slack", "feishu", "dingtalk", "wecom") if getattr(cfg, p).enabled]
    click.echo(f"{target or '(defaults)'}: OK — desks {', '.join(d.name for d in cfg.desks)}; "
               f"platforms {', '.join(platforms) or 'none'}; database {cfg.database.url.split('://')[0]}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply migrations up to the newest schema."""
    from core.db.engine import make_engine
    from core.migrations import current_revision, upgrade

    cfg = load(ctx)
    engine = make_engine(cfg.database.url)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@main.command()
@click.option("--host", default=None, help="Override server.host.")
@click.option("--port", default=None, type=int, help="Override server.port.")
@click.pass_context
def run(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run deskbot: adapters, web chat, REST API, workers."""
    import uvicorn

    from bot.app import create_app
    from bot.startup import prepare

    cfg = load(ctx)
    if host:
        cfg.server.host = host
    if port:
        cfg.server.port = port
    from bot.config import semantic_problems

    problems = semantic_problems(cfg)  # the flags above may make the file's settings invalid
    if problems:
        refuse(ctx, problems)
    _setup_logging(cfg.logging.level)
    container = prepare(cfg)
    app = create_app(container)
    where = f"http://{cfg.server.host}:{cfg.server.port}"
    click.echo(f"deskbot listening on {where}" + (f" — web chat: {where}/chat" if cfg.webchat.enabled else ""))
    uvicorn.run(app, host=cfg.server.host, port=cfg.server.port, log_level=cfg.logging.level.lower(),
                timeout_graceful_shutdown=15)
    container.close()


# ---------------------------------------------------------------- tickets

def _ticket_dict(ticket: Any) -> dict[str, Any]:
    from bot.api import ticket_out

    return json.loads(ticket_out(ticket).model_dump_json())


@main.group("tickets")
def tickets_group() -> None:
    """Look at tickets."""


@tickets_group.command("list")
@click.option("--status", default=None)
@click.option("--desk", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tickets_list(ctx: click.Context, status: str | None, desk: str | None, limit: int, as_json: bool) -> None:
    from sqlmodel import select

    from core.db.models import Ticket

    with open_uow(ctx).begin() as session:
        query = select(Ticket)
        if status:
            query = query.where(Ticket.status == status)
        if desk:
            query = query.where(Ticket.desk == desk)
        rows = session.exec(query.order_by(Ticket.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    if as_json:
        click.echo(json.dumps([_ticket_dict(t) for t in rows], ensure_ascii=False, indent=2))
        return
    table(["KEY", "STATUS", "PRI", "ASSIGNEE", "SUBJECT"],
           [[t.key, t.status, t.priority, t.assignee_name or "-", t.subject[:60]] for t in rows])


@tickets_group.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tickets_show(ctx: click.Context, key: str, as_json: bool) -> None:
    from sqlmodel import select

    from core.db.models import Ticket, TimelineEntry
    from core.intents import parse_ticket_ref

    cfg = load(ctx)
    ref = parse_ticket_ref(key)  # IT-12, 12 or #12 (a bare number is on the first desk)
    wanted = f"{ref.prefix or cfg.desks[0].prefix}-{ref.number}" if ref else key.upper()
    with open_uow(ctx, cfg).begin() as session:
        ticket = session.exec(select(Ticket).where(Ticket.key == wanted)).first()
        if ticket is None:
            click.echo(f"ticket {key} not found", err=True)
            ctx.exit(1)
            return
        entries = session.exec(select(TimelineEntry).where(TimelineEntry.ticket_id == ticket.id)
                               .order_by(TimelineEntry.id)).all()  # type: ignore[arg-type]
    data = _ticket_dict(ticket)
    if as_json:
        data["timeline"] = [{"at": e.at.isoformat(), "kind": e.kind, "text": e.text} for e in entries]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for k in ("key", "subject", "status", "priority", "requester", "assignee", "rating", "created_at"):
        click.echo(f"{k:>12}: {data[k]}")
    for e in entries:
        click.echo(f"  {e.at:%Y-%m-%d %H:%M}  {e.text}")


# ---------------------------------------------------------------- outbox

@main.group("outbox")
def outbox_group() -> None:
    """Inspect and replay outgoing messages."""


@outbox_group.command("list")
@click.option("--status", default="parked", show_default=True,
              type=click.Choice(["parked", "pending", "sending", "sent", "all"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_list(ctx: click.Context, status: str, limit: int, as_json: bool) -> None:
    from sqlmodel import select

    from core.db.models import OutboxMessage

    with open_uow(ctx).begin() as session:
        query = select(OutboxMessage)
        if status != "all":
            query = query.where(OutboxMessage.status == status)
        rows = session.exec(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    items = [{"id": r.id, "platform": r.platform, "status": r.status, "attempts": r.attempts,
              "conversation": r.conversation_key, "error": r.last_error, "created_at": r.created_at.isoformat()}
             for r in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table(["ID", "PLATFORM", "STATUS", "TRIES", "ERROR"],
           [[i["id"], i["platform"], i["status"], i["attempts"], (i["error"] or "")[:60]] for i in items])


@outbox_group.command("retry")
@click.argument("row_id", type=int)
@click.pass_context
def outbox_retry(ctx: click.Context, row_id: int) -> None:
    """Queue a parked message again (a running deskbot sends it within seconds)."""
    from core import outbox
    from core.clock import SystemClock

    with open_uow(ctx).begin() as session:
        ok = outbox.retry_parked(session, row_id, SystemClock().now())
    if not ok:
        click.echo(f"outbox row {row_id} is not parked (or does not exist)", err=True)
        ctx.exit(1)
    click.echo(f"outbox row {row_id} queued again")


# ---------------------------------------------------------------- chat

@main.command()
@click.option("--as", "name", required=True, help="Who you are (a name).")
@click.option("--role", default="employee", show_default=True,
              type=click.Choice(["employee", "technician", "lead", "admin"]))
@click.option("--lang", default=None, type=click.Choice(["en", "zh-CN"]))
@click.pass_context
def chat(ctx: click.Context, name: str, role: str, lang: str | None) -> None:
    """Talk to the desk from the terminal; buttons appear as numbered choices."""
    from bot.terminal import run_terminal_chat

    cfg = load(ctx)
    _setup_logging("WARNING")
    asyncio.run(run_terminal_chat(cfg, name=name, role=role, lang=lang))


# ---------------------------------------------------------------- reports

@main.group("report")
def report_group() -> None:
    """Reports over a period."""


@report_group.command("sla")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--until", default=None, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Day after the last (YYYY-MM-DD); default: now.")
@click.option("--desk", "desk_name", default=None, help="Only this desk (default: every desk).")
@click.option("--lang", default="en", show_default=True, type=click.Choice(["en", "zh-CN"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def report_sla(ctx: click.Context, since: Any, until: Any, desk_name: str | None, lang: str, as_json: bool) -> None:
    """SLA compliance per desk, priority and technician for tickets opened in the period."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from core import reports
    from core.clock import SystemClock

    cfg = load(ctx)
    desks = [d for d in cfg.core().desks if desk_name is None or d.name == desk_name]
    if not desks:
        click.echo(f"no desk named {desk_name!r}; desks: {', '.join(d.name for d in cfg.desks)}", err=True)
        ctx.exit(2)
        return
    now = SystemClock().now()
    uow = open_uow(ctx)
    out = []
    with uow.begin() as session:
        for desk in desks:
            tz = ZoneInfo(desk.calendar.timezone)  # days are the desk's local days
            start = since.replace(tzinfo=tz).astimezone(UTC)
            end = until.replace(tzinfo=tz).astimezone(UTC) if until else now
            if end <= start:
                click.echo("--until must be after --since", err=True)
                ctx.exit(2)
                return
            out.append(reports.sla_report(session, desk, start, end, now=now))
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in out], ensure_ascii=False, indent=2))
        return
    click.echo("\n\n".join(reports.render_sla(r, lang) for r in out))


main.add_command(kb)


if __name__ == "__main__":
    sys.exit(main())
