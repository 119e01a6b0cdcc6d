"""What `deskbot run` does before serving: schema, starter knowledge, the container."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from bot.config import Config
from bot.container import Container, build, needs_auto_upgrade

log = logging.getLogger(__name__)


def ensure_schema(config: Config, engine: Engine) -> None:
    """SQLite upgrades itself; PostgreSQL must be upgraded with `deskbot db upgrade` (shared by processes)."""
    from core.migrations import current_revision, upgrade

    if needs_auto_upgrade(config):
        upgrade(engine)
    elif current_revision(engine) is None:
        raise SystemExit("the database has no deskbot schema yet: run `deskbot db upgrade` first")


def prepare_knowledge(config: Config, container: Container) -> None:
    """Starter articles into an empty knowledge base, then `import_dirs` (idempotent), then the index."""
    from knowledge import STARTER_DIR
    from knowledge.store import article_count
    from knowledge.suggest import StoredKnowledge

    stored = container.extras.get("knowledge")
    if not isinstance(stored, StoredKnowledge):
        return  # a knowledge port given from outside manages itself
    with container.uow.begin() as session:
        empty = article_count(session) == 0
    sources = ([str(STARTER_DIR)] if empty and config.knowledge.starter else []) + list(config.knowledge.import_dirs)
    for source in sources:
        try:
            report = stored.import_dir(source, now=container.clock.now(), author="import")
        except NotADirectoryError:
            log.error("knowledge import folder not found", extra={"dir": source})
            continue
        log.info("knowledge imported", extra={"dir": source, **report.counts()})
    if not stored.loaded:  # the schema did not exist when the container was built
        stored.load()


def prepare(config: Config) -> Container:
    container = build(config)
    ensure_schema(config, container.engine)
    prepare_knowledge(config, container)
    return container
