"""Slack adapter: Events API / Socket Mode intake and Block Kit cards via slack-bolt."""

from __future__ import annotations

from typing import Any


def create_adapter(cfg: Any, **kw: Any) -> Any:
    """Build the Slack adapter from the `[slack]` config section (SDKs imported only now).

    Extra keywords go to SlackAdapter: lang, categories, priorities, default_priority (from the desk).
    """
    from adapters.slack.transport import SlackAdapter

    return SlackAdapter(
        mode=cfg.mode,
        bot_token=cfg.bot_token,
        signing_secret=cfg.signing_secret,
        app_token=cfg.app_token,
        api_base_url=cfg.api_base_url,
        intake_channels=cfg.intake_channels,
        ticket_emoji=cfg.ticket_emoji,
        command=cfg.command,
        **kw,
    )
