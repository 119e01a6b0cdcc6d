"""Ports: what core needs from the outside, as protocols (knowledge suggestions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    article_id: str
    title: str
    score: float
    summary: str = ""
    lang: str = "en"


class KnowledgePort(Protocol):
    def suggest(self, text: str, *, limit: int = 3) -> list[Suggestion]:
        """Confident suggestions for a message, best first; empty when nothing is good enough."""
        ...


class NoKnowledge:
    def suggest(self, text: str, *, limit: int = 3) -> list[Suggestion]:
        return []
