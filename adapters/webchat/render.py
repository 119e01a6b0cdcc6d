"""Core Reply -> the JSON card the chat page draws (title, fields, timeline, buttons; plain text otherwise)."""

from __future__ import annotations

import re
from typing import Any

from core.replies import Reply

_TOKEN = re.compile(r"[^a-z0-9_-]")


def _token(value: str | None) -> str | None:
    """Status/priority become CSS hooks on the page, so keep them to a safe alphabet."""
    if not value:
        return None
    return _TOKEN.sub("", value.lower())[:32] or None


def render(reply: Reply) -> dict[str, Any]:
    """A JSON-ready dict. The page shows every string with textContent, so nothing here is HTML."""
    out: dict[str, Any] = {
        "kind": "card" if reply.is_card else "text",
        "lang": reply.lang,
        "fallback_text": reply.fallback_text,
    }
    if reply.mention is not None:
        out["mention"] = {"user_id": reply.mention.user_id,
                          "name": reply.mention.display_name or reply.mention.user_id}
    if not reply.is_card:
        out["text"] = reply.as_text()
        return out
    out.update(
        title=reply.title,
        body=reply.body_md,
        fields=[{"label": f.label, "value": f.value} for f in reply.fields],
        timeline=[{"at": t.at, "text": t.text} for t in reply.timeline],
        buttons=[
            {"label": b.label, "action_id": b.action_id, "value": dict(b.value),
             "style": b.style if b.style in ("primary", "danger") else "default"}
            for b in reply.buttons
        ],
        card_key=reply.card_key,
        status=_token(reply.status),
        priority=_token(reply.priority),
    )
    return out
