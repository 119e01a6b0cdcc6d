"""Feishu/Lark adapter: group intake, interactive cards, card callbacks, webhook or long connection."""

from __future__ import annotations

from typing import Any


def create_adapter(cfg_section: Any, **kw: Any) -> Any:
    """Build the adapter from the [feishu] config section. lark-oapi is imported only by the long
    connection thread, so webhook deployments never pay its import cost."""
    from .transport import FeishuAdapter

    return FeishuAdapter(config=cfg_section, **kw)
