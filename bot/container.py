"""The composition root: builds the engine, unit of work, clock, knowledge and adapters from config."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from adapters.base import Adapter
from bot.config import Config
from core.clock import Clock, SystemClock
from core.context import Services
from core.db.engine import is_sqlite, make_engine
from core.db.uow import UnitOfWork
from core.ports import KnowledgePort, NoKnowledge

if TYPE_CHECKING:
    from knowledge.suggest import StoredKnowledge

log = logging.getLogger(__name__)


@dataclass
class Container:
    config: Config
    engine: Engine
    uow: UnitOfWork
    clock: Clock
    services: Services
    adapters: dict[str, Adapter] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.dispose()


def command_names(config: Config) -> frozenset[str]:
    names = {"ticket", "工单"}
    names.add(config.slack.command.lstrip("/"))
    return frozenset(names)


def with_webchat_roles(config: Config) -> Config:
    """People listed under [webchat] with staff roles become staff of every desk as webchat:<slug>."""
    if not config.webchat.enabled or not config.webchat.people:
        return config
    from adapters.webchat.people import person_slug

    keys = {"technician": "technicians", "lead": "leads", "admin": "admins"}
    desks = []
    for desk in config.desks:
        roles = desk.roles.model_copy(deep=True)
        for person in config.webchat.people:
            identity = f"webchat:{person_slug(person.name)}"
            for role in person.roles:
                if role in keys and identity not in getattr(roles, keys[role]):
                    getattr(roles, keys[role]).append(identity)
        desks.append(desk.model_copy(update={"roles": roles}))
    return config.model_copy(update={"desks": desks})


def build(config: Config, *, clock: Clock | None = None, knowledge: KnowledgePort | None = None,
          with_adapters: bool = True) -> Container:
    config = with_webchat_roles(config)
    engine = make_engine(config.database.url, echo=config.database.echo)
    uow = UnitOfWork(engine)
    clock = clock or SystemClock()
    stored = None
    if knowledge is None:
        stored = build_knowledge(config, uow)
        knowledge = stored
    services = Services(settings=config.core(), clock=clock, knowledge=knowledge or NoKnowledge(),
                        command_names=command_names(config))
    from core.sla.engine import install as install_sla

    install_sla(services)  # deadlines on every ticket change, alerts from the sweeps
    container = Container(config=config, engine=engine, uow=uow, clock=clock, services=services)
    if stored is not None:
        services.on_article_published.append(stored.article_published)
        container.extras["knowledge"] = stored
    if with_adapters:
        container.adapters = build_adapters(config)
    return container


def build_knowledge(config: Config, uow: UnitOfWork) -> StoredKnowledge:
    """The matcher over the published articles in the database (empty until the schema exists)."""
    from sqlalchemy import inspect

    from knowledge.suggest import StoredKnowledge

    stored = StoredKnowledge(uow=uow, threshold=config.knowledge.threshold)
    if inspect(uow.engine).has_table("articles"):
        stored.load()
    return stored


def build_adapters(config: Config) -> dict[str, Adapter]:
    """Only enabled platforms are imported: their SDKs are heavy (lark-oapi takes seconds)."""
    adapters: dict[str, Adapter] = {}
    if config.webchat.enabled:
        from adapters.webchat import create_adapter as webchat

        adapters["webchat"] = webchat(config.webchat, server_host=config.server.host,
                                      lang=config.desks[0].default_lang)
    if config.slack.enabled:
        from adapters.slack import create_adapter as slack

        adapters["slack"] = slack(config.slack, lang=config.desks[0].default_lang,
                                  categories=config.desks[0].categories,
                                  default_priority=config.desks[0].default_priority)
    if config.feishu.enabled:
        from adapters.feishu import create_adapter as feishu

        adapters["feishu"] = feishu(config.feishu)
    if config.dingtalk.enabled:
        from adapters.dingtalk import create_adapter as dingtalk

        adapters["dingtalk"] = dingtalk(config.dingtalk, lang=config.desks[0].default_lang)
    if config.wecom.enabled or config.wecom.robot.enabled:
        from adapters.wecom import create_adapter as wecom

        adapters["wecom"] = wecom(config.wecom)
    return adapters


def needs_auto_upgrade(config: Config) -> bool:
    return is_sqlite(config.database.url)
