"""What `deskbot run` does before serving: schema, starter knowledge, the container."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

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


def wants_starter(config: Config, session: Session) -> bool:
    """The bundled starter articles go into an empty knowledge base, unless config says no."""
    from knowledge.store import article_count

    return config.knowledge.starter and article_count(session) == 0


def prepare_knowledge(config: Config, container: Container) -> None:
    """Starter articles into an empty knowledge base, then `import_dirs` (idempotent), then the index."""
    from knowledge import STARTER_DIR
    from knowledge.suggest import StoredKnowledge

    stored = container.extras.get("knowledge")
    if not isinstance(stored, StoredKnowledge):
        return  # a knowledge port given from outside manages itself
    with container.uow.begin() as session:
        starter = wants_starter(config, session)
    sources = ([str(STARTER_DIR)] if starter else []) + list(config.knowledge.import_dirs)
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
