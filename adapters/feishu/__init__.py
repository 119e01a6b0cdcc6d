"""Feishu/Lark adapter: group intake, interactive cards, card callbacks, webhook or long connection."""

from __future__ import annotations

from typing import Any


def create_adapter(cfg_section: Any, **kw: Any) -> Any:
    """Build the adapter from the [feishu] config section. lark-oapi (seconds to import) is imported
    on a thread from here on: by the sends (api.OpenApi) and by the long connection's thread."""
    from .transport import FeishuAdapter

    return FeishuAdapter(config=cfg_section, **kw)
