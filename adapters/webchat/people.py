"""Who may be whom in the web chat: name slugs, allowed roles, and the rooms each role sees."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

ROLES: tuple[str, ...] = ("employee", "technician", "lead", "admin")
STAFF_ROLES = frozenset({"technician", "lead", "admin"})
MAX_NAME_CHARS = 40
DM_PREFIX = "dm:"


class PersonRefused(ValueError):
    """A name/role the page may not use. `code` names the UI string that explains it."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def person_slug(name: str) -> str:
    """Stable user id for a display name: "Wang Fang" -> "wang-fang", "李雷" -> "李雷".

    Config identities are written `webchat:<slug>`, so the slug must not depend on spacing or case.
    """
    text = unicodedata.normalize("NFKC", name).strip().casefold()
    text = re.sub(r"\s+", "-", text)
    text = "".join(c for c in text if c.isalnum() or c in "-_.")
    return re.sub(r"-{2,}", "-", text).strip("-")


def clean_name(name: object) -> str:
    """The display name as shown to others; refuses empty, control characters and overlong names."""
    if not isinstance(name, str):
        raise PersonRefused("name_required")
    text = unicodedata.normalize("NFKC", name).strip()
    text = re.sub(r"\s+", " ", text)
    if not text:
        raise PersonRefused("name_required")
    if len(text) > MAX_NAME_CHARS:
        raise PersonRefused("name_too_long")
    if any(unicodedata.category(c).startswith("C") for c in text) or not person_slug(text):
        raise PersonRefused("name_invalid")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Room:
    id: str  # "it-help" or "dm:<slug>"
    kind: str  # "group" | "team" | "direct"
    intake: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    slug: str
    name: str
    role: str


class Directory:
    """The configured rooms and people. It only limits which roles a name may pick; core decides
    what each role may do from its own identities (`webchat:<slug>`)."""

    def __init__(self, *, rooms: Iterable[str], team_rooms: Iterable[str], intake_rooms: Iterable[str],
                 people: Iterable[tuple[str, Iterable[str]]], bot_name: str) -> None:
        team = set(team_rooms)
        intake = set(intake_rooms)
        self.rooms: dict[str, Room] = {
            r: Room(id=r, kind="team" if r in team else "group", intake=r in intake) for r in rooms
        }
        self._roles: dict[str, set[str]] = {}
        self._names: dict[str, str] = {}
        for name, roles in people:
            slug = person_slug(name)
            self._roles.setdefault(slug, {"employee"}).update(roles)
            self._names.setdefault(slug, name)
        self.bot_name = bot_name

    def known_people(self) -> list[dict[str, object]]:
        """Configured names with their roles, for the page's picker."""
        return [{"name": self._names[s], "roles": [r for r in ROLES if r in self._roles[s]]}
                for s in self._names]

    def admit(self, name: object, role: object) -> Person:
        """A person for this tab, or PersonRefused. Anyone may be an employee under any name."""
        display = clean_name(name)
        if role not in ROLES:
            raise PersonRefused("role_unknown")
        slug = person_slug(display)
        if slug == person_slug(self.bot_name):
            raise PersonRefused("name_taken_by_bot")
        if role != "employee" and role not in self._roles.get(slug, set()):
            raise PersonRefused("role_not_allowed")
        return Person(slug=slug, name=display, role=str(role))

    def rooms_for(self, person: Person) -> list[Room]:
        """Group rooms, the person's DM with the bot, and team rooms for staff, in that order."""
        groups = [r for r in self.rooms.values() if r.kind == "group"]
        team = [r for r in self.rooms.values() if r.kind == "team"] if person.role in STAFF_ROLES else []
        return [*groups, dm_room(person.slug), *team]

    def room(self, room_id: str) -> Room | None:
        """A configured room, or any person's DM; None for unknown ids."""
        if room_id.startswith(DM_PREFIX) and person_slug(room_id[len(DM_PREFIX):]) == room_id[len(DM_PREFIX):] \
                and room_id[len(DM_PREFIX):]:
            return dm_room(room_id[len(DM_PREFIX):])
        return self.rooms.get(room_id)


def dm_room(slug: str) -> Room:
    return Room(id=DM_PREFIX + slug, kind="direct")
