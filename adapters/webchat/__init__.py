"""Web chat: a local chat page where people try the desk in a browser without an IM account."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.webchat.transport import WebChatAdapter
    from bot.config import WebChatConfig


def create_adapter(cfg: WebChatConfig, *, server_host: str, bot_name: str = "deskbot",
                   lang: str = "en") -> WebChatAdapter:
    """The adapter for `cfg`; raises ValueError when bound beyond loopback without an access token.
    `lang` is the page's language when the browser states none we speak."""
    from adapters.webchat.transport import WebChatAdapter

    return WebChatAdapter(cfg=cfg, server_host=server_host, bot_name=bot_name, lang=lang)
