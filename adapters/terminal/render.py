"""Replies as console text: a boxed card with numbered buttons."""

from __future__ import annotations

from core.replies import Reply


def render_text(reply: Reply, *, updated: bool = False) -> str:
    body = reply.as_text()
    lines = body.splitlines() or [""]
    width = min(100, max(len(line) for line in lines) + 2)
    head = "┌─ updated " if updated else "┌"
    top = head + "─" * max(0, width - len(head) + 1)
    if not reply.is_card:
        return "deskbot> " + body
    return "\n".join([top, *("│ " + line for line in lines), "└" + "─" * width])
