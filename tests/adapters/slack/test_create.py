"""create_adapter builds the Slack adapter from the [slack] config section."""

from __future__ import annotations

import pytest

from adapters.slack import create_adapter
from bot.config import SlackConfig


def test_http_adapter_from_config():
    cfg = SlackConfig(enabled=True, bot_token="xoxb-1", signing_secret="s", api_base_url="https://slack-gov.com/api",
                      intake_channels=["C1"], ticket_emoji=":sos:", command="helpdesk")
    adapter = create_adapter(cfg, lang="zh-CN", categories=["network"])
    assert adapter.platform == "slack" and adapter.send_rate == (1, 1.0)
    assert adapter.client.base_url == "https://slack-gov.com/api/"
    assert adapter.command == "/helpdesk"
    assert [r.path for r in adapter.routes()] == ["/slack/events"]


def test_socket_mode_needs_the_app_token():
    with pytest.raises(ValueError, match="app_token"):
        create_adapter(SlackConfig(enabled=True, mode="socket", bot_token="xoxb-1"))
    adapter = create_adapter(SlackConfig(enabled=True, mode="socket", bot_token="xoxb-1", app_token="xapp-1"))
    assert adapter.routes() == []


def test_bot_token_is_required():
    with pytest.raises(ValueError, match="bot_token"):
        create_adapter(SlackConfig(enabled=True, signing_secret="s"))


def test_composition_root_builds_it_with_the_desk_language_and_categories(tmp_path):
    from bot.container import build_adapters
    from core.settings import Desk
    from tests.desk_runtime import desk_config

    desk = Desk(name="IT", prefix="IT", default_lang="zh-CN", categories=["network", "printer"],
                default_priority="P3")
    config = desk_config(f"sqlite:///{tmp_path / 'x.db'}", desk=desk, slack={
        "enabled": True, "bot_token": "xoxb-1", "signing_secret": "s", "command": "/helpdesk"})
    adapter = build_adapters(config)["slack"]
    assert adapter.command == "/helpdesk"
    # what the /ticket new modal offers comes from the desk
    assert (adapter._lang, adapter._categories, adapter._default_priority) == ("zh-CN", ("network", "printer"), "P3")
