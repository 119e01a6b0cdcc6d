"""DingTalk (钉钉) adapter: Stream-mode robot messages and interactive cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.dingtalk.transport import DingTalkAdapter
    from bot.config import DingTalkConfig


def create_adapter(cfg_section: DingTalkConfig, **kw: Any) -> DingTalkAdapter:
    """Build the adapter from `[dingtalk]` config; keyword arguments override transport defaults
    (e.g. `reconnect_delay` in tests). The SDK is imported here, not at package import."""
    from adapters.dingtalk.transport import DingTalkAdapter

    if "lang" in kw:  # the desk's default language names the click notice's language
        kw["default_lang"] = kw.pop("lang")
    return DingTalkAdapter(
        client_id=cfg_section.client_id or "",
        client_secret=cfg_section.client_secret or "",
        robot_code=cfg_section.robot_code,
        api_base_url=cfg_section.api_base_url,
        card_template_id=cfg_section.card_template_id,
        **kw,
    )
