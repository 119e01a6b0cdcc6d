"""WeCom (企业微信) adapter: self-built app for direct messages, smart robot for group @mentions."""

from __future__ import annotations

from typing import Any


def create_adapter(cfg_section: Any, **kw: Any) -> Any:
    """Build the WeCom adapter from the [wecom] config section (WeComConfig)."""
    from adapters.wecom.transport import WeComAdapter

    return WeComAdapter(config=cfg_section, **kw)
