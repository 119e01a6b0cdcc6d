"""Builders for signed Slack requests and payloads used by the Slack adapter tests."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT = "UBOT"


def signed_headers(body: str, *, content_type: str, secret: str = SECRET, timestamp: int | None = None,
                   extra: dict[str, str] | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
        **(extra or {}),
    }


def event_body(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": "T1", "user_id": BOT, "is_bot": True}]}


def message_event(text: str, *, ts: str, channel: str = "CGENERAL", user: str = "U1", kind: str = "message",
                  thread_ts: str | None = None, **more: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel,
                             "event_ts": ts, "team": "T1", **more}
    if kind == "message":
        event.setdefault("channel_type", "im" if channel.startswith("D") else "channel")
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command_form(text: str, *, user: str = "U2", channel: str = "CITTEAM", trigger: str = "1337.1.a",
                 command: str = "/ticket", response_url: str = "https://hooks.slack.com/commands/T1/1/x") -> str:
    return urlencode({"token": "legacy", "team_id": "T1", "team_domain": "example", "channel_id": channel,
                      "channel_name": "it-team", "user_id": user, "user_name": "someone", "command": command,
                      "text": text, "api_app_id": "A1", "response_url": response_url, "trigger_id": trigger})


def interactive_form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions(button: dict[str, Any], *, user: str = "U2", channel: str = "CGENERAL",
                  card_ts: str = "1763803800.001200", thread_ts: str | None = "1763802840.000100",
                  trigger: str = "1337.2.b") -> dict[str, Any]:
    """The block_actions payload Slack sends when `button` (a rendered Block Kit element) is clicked."""
    message: dict[str, Any] = {"type": "message", "ts": card_ts, "user": BOT, "bot_id": "BBOT", "text": "card"}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "block_actions", "user": {"id": user, "username": "x", "name": "x", "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": trigger, "team": {"id": "T1", "domain": "example"},
        "container": {"type": "message", "message_ts": card_ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "general"}, "message": message,
        "response_url": "https://hooks.slack.com/actions/T1/2/y",
        "actions": [{"type": "button", "block_id": "b", "action_id": button["action_id"], "text": button["text"],
                     "value": button["value"], "action_ts": "1763803810.000001",
                     **({"style": button["style"]} if "style" in button else {})}],
    }
