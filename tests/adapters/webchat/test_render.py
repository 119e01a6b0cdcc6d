"""Replies render to the page's JSON cards (golden files in tests/fixtures/rendered/webchat)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.webchat.render import render
from core.events import UserRef
from core.replies import Reply
from tests.sample_replies import ALL

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "rendered" / "webchat"


@pytest.mark.parametrize("name", sorted(ALL))
def test_reply_renders_like_the_golden_file(name: str) -> None:
    rendered = render(ALL[name])
    assert json.loads(json.dumps(rendered, ensure_ascii=False)) == json.loads(
        (GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def test_plain_text_uses_the_text_degradation() -> None:
    reply = Reply(fallback_text="fallback", body_md="Restart the VPN client.")
    assert render(reply) == {"kind": "text", "lang": "en", "fallback_text": "fallback",
                             "text": "Restart the VPN client."}


def test_status_becomes_a_safe_css_token_and_mention_is_named() -> None:
    reply = Reply(fallback_text="x", title="T", status='In Progress"><x', priority="P1",
                  mention=UserRef(platform="webchat", user_id="li-lei", display_name="Li Lei"))
    card = render(reply)
    assert card["status"] == "inprogressx" and card["priority"] == "p1"
    assert card["mention"] == {"user_id": "li-lei", "name": "Li Lei"}
