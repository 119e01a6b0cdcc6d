"""Config: TOML loading, DESKBOT_* environment overrides, and check-config problems named by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, find_config_path, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path, env or {})
    return err.value.problems


def test_defaults_load_without_a_file() -> None:
    cfg = load_config(None, {})
    assert cfg.database.url == "sqlite:///deskbot.db"
    assert [d.prefix for d in cfg.desks] == ["IT"]
    assert cfg.slack.enabled is False


def test_toml_values_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, """
[server]
port = 9001
[database]
url = "sqlite:///x.db"
[api]
tokens = ["t1", "t2"]
[[desks]]
name = "IT"
prefix = "IT"
default_lang = "en"
[desks.roles]
technicians = ["slack:U1"]
[[desks]]
name = "HR"
prefix = "HR"
""")
    cfg = load_config(path, {})
    assert cfg.server.port == 9001
    assert cfg.api.tokens == ["t1", "t2"]
    assert [d.name for d in cfg.desks] == ["IT", "HR"]
    assert cfg.desks[0].roles.technicians == ["slack:U1"]
    assert cfg.core().desks[1].prefix == "HR"


def test_env_overrides_secrets_and_database_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[slack]\nenabled = true\nbot_token = ""\nsigning_secret = "from-file"\n')
    cfg = load_config(path, {
        "DESKBOT_SLACK__BOT_TOKEN": "xoxb-123",
        "DESKBOT_DATABASE_URL": "postgresql://u@h:5432/desk",
        "DESKBOT_WECOM__ROBOT__SECRET": "00123",  # looks like a number: must stay a string
    })
    assert cfg.slack.bot_token == "xoxb-123"
    assert cfg.slack.signing_secret == "from-file"
    assert cfg.database.url == "postgresql://u@h:5432/desk"
    assert cfg.wecom.robot.secret == "00123"


def test_env_values_parse_as_json_where_they_can() -> None:
    cfg = load_config(None, {"DESKBOT_SERVER__PORT": "9100", "DESKBOT_API__TOKENS": '["a", "b"]',
                             "DESKBOT_DINGTALK__CLIENT_ID": "12345", "DESKBOT_WECOM__AGENT_ID": "1000002"})
    assert cfg.server.port == 9100
    assert cfg.api.tokens == ["a", "b"]
    assert cfg.dingtalk.client_id == "12345"
    assert cfg.wecom.agent_id == 1000002


def test_env_overrides_the_file_not_the_other_way(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 1234\n")
    assert load_config(path, {"DESKBOT_SERVER__PORT": "4321"}).server.port == 4321
    assert load_config(path, {}).server.port == 1234


def test_unrelated_environment_is_ignored() -> None:
    cfg = load_config(None, {"DESKBOT_CONFIG": "/nowhere.toml", "DESKBOT_TEST_PG_URL": "postgresql://x",
                             "HOME": "/root", "DESKBOT_LOGLEVEL": "x"})
    assert cfg.logging.level == "INFO"


def test_enabled_platform_without_credentials_names_each_key() -> None:
    found = problems(env={"DESKBOT_SLACK__ENABLED": "true"})
    assert "slack.signing_secret is required when slack.enabled = true" in found
    assert "slack.bot_token is required when slack.enabled = true" in found


def test_socket_mode_needs_the_app_token_not_the_signing_secret() -> None:
    found = problems(env={"DESKBOT_SLACK__ENABLED": "true", "DESKBOT_SLACK__MODE": "socket",
                          "DESKBOT_SLACK__BOT_TOKEN": "xoxb-1"})
    assert found == ['slack.app_token is required when slack.mode = "socket"']


def test_nested_section_problems_carry_the_full_path() -> None:
    found = problems(env={"DESKBOT_WECOM__ROBOT__ENABLED": "true", "DESKBOT_WECOM__ROBOT__BOT_ID": "b1"})
    assert found == ["wecom.robot.secret is required when wecom.robot.enabled = true"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(env={"DESKBOT_SLACK__ENABLED": "true", "DESKBOT_FEISHU__ENABLED": "true",
                          "DESKBOT_DINGTALK__ENABLED": "true"})
    assert {p.split()[0] for p in found} >= {"slack.bot_token", "feishu.app_id", "feishu.app_secret",
                                              "dingtalk.client_id", "dingtalk.robot_code"}


@pytest.mark.parametrize("domain, ok", [("feishu", True), ("lark", True), ("https://open.feishu.cn", True),
                                        ("https://proxy.example.com:8443/", True), ("http://127.0.0.1:9000", True),
                                        ("http://proxy.example.com", False), ("https://proxy.example.com/open", False),
                                        ("open.feishu.cn", False)])
def test_the_feishu_domain_is_one_lark_oapi_accepts(domain: str, ok: bool) -> None:
    env = {"DESKBOT_FEISHU__ENABLED": "true", "DESKBOT_FEISHU__MODE": "long_connection",
           "DESKBOT_FEISHU__APP_ID": "cli_1", "DESKBOT_FEISHU__APP_SECRET": "s", "DESKBOT_FEISHU__DOMAIN": domain}
    if ok:
        assert load_config(None, env).feishu.domain == domain
    else:
        assert problems(env=env) == ['feishu.domain must be "feishu", "lark" or https://host[:port] without a '
                                     "path (http only for localhost)"]


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[slack]\nbot_tokn = "x"\n[[desks]]\nname = "IT"\nprefx = "IT"\n')
    found = problems(path)
    assert "slack.bot_tokn is not a known option" in found
    assert "desks[0].prefx is not a known option" in found


def test_unknown_section_is_named(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "[telegram]\nenabled = true\n")) == ["telegram is not a known option"]


def test_bad_values_name_their_key(tmp_path: Path) -> None:
    found = problems(write(tmp_path, '[server]\nport = "eighty"\n[[desks]]\nprefix = "it"\n'))
    assert any(p.startswith("server.port ") for p in found)
    assert any(p.startswith("desks[0].prefix ") and "upper-case" in p for p in found)


def test_duplicate_desk_prefix_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[[desks]]\nname = "IT"\nprefix = "IT"\n[[desks]]\nname = "Ops"\nprefix = "IT"\n')
    assert problems(path) == ["desks[1].prefix 'IT' is used by another desk"]


def test_routing_to_an_unknown_group_and_bad_identities(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[desks]]
name = "IT"
prefix = "IT"
[desks.roles]
technicians = ["U024BE7LH"]
[[desks.routing]]
group = "network"
""")
    found = problems(path)
    assert "desks[0].routing[0].group 'network' is not a group of this desk" in found
    assert any(p.startswith("desks[0].roles") and "platform:user_id" in p for p in found)


def test_sla_policy_and_calendar_problems_are_reported_before_start(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[desks]]
name = "IT"
prefix = "IT"
[desks.sla]
warn_at = 0.8
[desks.sla.targets.P1]
respond = "30m"
resolve = "8h"
warn_at = 1.5
[desks.sla.targets.P2]
respond = "4x"
resolve = "3bd"
[[desks.sla.escalations]]
after = "0m"
[[desks.sla.escalations]]
after = "soon"
[desks.calendar]
timezone = "Mars/Olympus"
""")
    found = problems(path)
    assert "desks[0].sla.targets.P1.warn_at must be a fraction between 0 and 1 (e.g. 0.75), got 1.5" in found
    assert any(p.startswith("desks[0].sla.targets.P2.respond: SLA duration '4x'") for p in found)
    assert any(p.startswith("desks[0].sla.escalations[1].after: ") for p in found)
    assert "desks[0].calendar.timezone: unknown time zone 'Mars/Olympus'" in found


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent.toml") == [f"config file {tmp_path / 'absent.toml'} does not exist"]
    found = problems(write(tmp_path, "[server\nport = 1\n"))
    assert len(found) == 1 and "config.toml" in found[0]


def test_wecom_aes_key_length() -> None:
    env = {"DESKBOT_WECOM__ENABLED": "true", "DESKBOT_WECOM__CORP_ID": "ww1", "DESKBOT_WECOM__AGENT_ID": "1",
           "DESKBOT_WECOM__SECRET": "s", "DESKBOT_WECOM__TOKEN": "t", "DESKBOT_WECOM__ENCODING_AES_KEY": "short"}
    assert problems(env=env) == ["wecom.encoding_aes_key must be 43 characters"]
    env["DESKBOT_WECOM__ENCODING_AES_KEY"] = "a" * 43
    assert load_config(None, env).wecom.enabled


def test_webchat_beyond_loopback_needs_an_access_token() -> None:
    found = problems(env={"DESKBOT_SERVER__HOST": "0.0.0.0"})
    assert found == ["webchat.access_token is required when webchat.enabled = true and server.host is not a "
                     "loopback address"]


def test_check_false_skips_semantic_checks() -> None:
    cfg = load_config(None, {"DESKBOT_SLACK__ENABLED": "true"}, check=False)
    assert cfg.slack.enabled and cfg.slack.bot_token is None


def test_config_path_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESKBOT_CONFIG", raising=False)
    assert find_config_path(None) is None
    (tmp_path / "config.toml").write_text("")
    assert find_config_path(None) == Path("config.toml")
    monkeypatch.setenv("DESKBOT_CONFIG", "/etc/deskbot.toml")
    assert find_config_path(None) == Path("/etc/deskbot.toml")
    assert find_config_path("given.toml") == Path("given.toml")


def test_the_example_config_is_valid() -> None:
    example = ROOT / "config.example.toml"
    if not example.exists():
        pytest.skip("config.example.toml not written yet")
    cfg = load_config(example, {})
    assert cfg.desks and cfg.database.url.startswith("sqlite")
