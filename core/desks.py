"""Desks and roles: which desk a conversation belongs to, and what a person may do there."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.db.models import RoleGrant
from core.events import ConversationRef
from core.i18n import t
from core.settings import CoreSettings, Desk

ROLE_ORDER = ("requester", "technician", "lead", "admin")


class Refusal(Exception):
    """A polite no: the action changes nothing and the person gets `key` rendered in their language."""

    def __init__(self, message: str, /, **kw: object) -> None:
        super().__init__(message)
        self.key = message
        self.kw = kw

    def text(self, lang: str) -> str:
        return t(self.key, lang, **self.kw)


def chat_identity(conversation: ConversationRef) -> str:
    return f"{conversation.platform}:{conversation.chat_id}"


def parse_chat(value: str) -> ConversationRef:
    platform, _, chat_id = value.partition(":")
    return ConversationRef(platform=platform, chat_id=chat_id)


class DeskBook:
    """Looks desks up by name, prefix and conversation."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.desks = list(settings.desks)
        self._by_name = {d.name: d for d in self.desks}
        self._by_prefix = {d.prefix: d for d in self.desks}
        self._by_chat: dict[str, Desk] = {}
        for desk in self.desks:
            for chat in desk.intake_chats:
                self._by_chat.setdefault(chat, desk)
            if desk.team_chat:
                self._by_chat.setdefault(desk.team_chat, desk)

    @property
    def default(self) -> Desk:
        return self.desks[0]

    def by_name(self, name: str) -> Desk:
        return self._by_name.get(name, self.default)

    def by_prefix(self, prefix: str) -> Desk | None:
        return self._by_prefix.get(prefix.upper())

    def for_conversation(self, conversation: ConversationRef) -> Desk:
        return self._by_chat.get(chat_identity(conversation), self.default)

    def is_intake_chat(self, conversation: ConversationRef) -> bool:
        ident = chat_identity(conversation)
        return any(ident in d.intake_chats for d in self.desks)

    def is_team_chat(self, conversation: ConversationRef) -> bool:
        ident = chat_identity(conversation)
        return any(ident == d.team_chat for d in self.desks)

    @property
    def prefixes(self) -> set[str]:
        return set(self._by_prefix)


def config_roles(desk: Desk, identity: str) -> set[str]:
    roles = {"requester"}
    if identity.startswith("api:"):
        # integrations hold an API token from config: they act with a desk admin's rights
        return roles | {"technician", "lead", "admin"}
    if identity in desk.roles.technicians or any(identity in g.members for g in desk.groups):
        roles.add("technician")
    if identity in desk.roles.leads:
        roles.add("lead")
    if identity in desk.roles.admins:
        roles.add("admin")
    return roles


def roles_of(session: Session, desk: Desk, identity: str) -> set[str]:
    """Config roles, then admin grants and revocations from the database; higher roles imply lower."""
    roles = config_roles(desk, identity)
    grants = session.exec(
        select(RoleGrant).where(RoleGrant.desk == desk.name, RoleGrant.identity == identity).order_by(col(RoleGrant.id))
    ).all()
    for grant in grants:
        if grant.granted:
            roles.add(grant.role)
        else:
            roles.discard(grant.role)
    if "admin" in roles:
        roles.add("lead")
    if "lead" in roles:
        roles.add("technician")
    return roles


def require(session: Session, desk: Desk, identity: str, role: str, action: str) -> set[str]:
    roles = roles_of(session, desk, identity)
    if role not in roles:
        raise Refusal("perm.refused", roles=f"@role.{role}", action=f"@action.{action}")
    return roles


def staff_members(session: Session, desk: Desk) -> list[str]:
    """Everyone who is a technician (or higher) on a desk, from config and grants."""
    people = set(desk.roles.technicians) | set(desk.roles.leads) | set(desk.roles.admins)
    people |= {m for g in desk.groups for m in g.members}
    for grant in session.exec(select(RoleGrant).where(RoleGrant.desk == desk.name)).all():
        people.add(grant.identity)
    return sorted(p for p in people if "technician" in roles_of(session, desk, p))
