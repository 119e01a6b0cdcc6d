"""Shared pieces of the `deskbot` commands: finding the config, opening the database, printing tables."""

from __future__ import annotations

from typing import Any, NoReturn

import click

from bot.config import Config, ConfigError, find_config_path, load_config


def load(ctx: click.Context) -> Config:
    """The config named by --config, $DESKBOT_CONFIG or ./config.toml; problems end the command."""
    try:
        return load_config(find_config_path((ctx.obj or {}).get("config")))
    except ConfigError as exc:
        refuse(ctx, exc.problems)


def refuse(ctx: click.Context, problems: list[str]) -> NoReturn:
    """Print each config problem with its key path and end the command with status 2."""
    for problem in problems:
        click.echo(f"config: {problem}", err=True)
    ctx.exit(2)


def open_uow(ctx: click.Context, cfg: Config | None = None) -> Any:
    """A unit of work on the configured database (SQLite is migrated first); closed with the command."""
    from bot.startup import ensure_schema
    from core.db.engine import make_engine
    from core.db.uow import UnitOfWork

    cfg = cfg or load(ctx)
    engine = make_engine(cfg.database.url)
    ensure_schema(cfg, engine)
    ctx.call_on_close(engine.dispose)
    return UnitOfWork(engine)


def table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
