"""Configuration: TOML file + DESKBOT_<SECTION>__<KEY> environment overrides, typed and checked."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.settings import CoreSettings, Delivery, Desk


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # how platforms reach us (documentation / callbacks)


class DatabaseConfig(Section):
    url: str = "sqlite:///deskbot.db"
    echo: bool = False


class ApiConfig(Section):
    tokens: list[str] = []  # bearer tokens for /api/v1


class KnowledgeConfig(Section):
    starter: bool = True  # import the bundled starter articles into an empty knowledge base
    import_dirs: list[str] = []  # more article folders, imported idempotently at start
    threshold: float = Field(default=0.4, ge=0.0, le=1.0)  # matcher score below which nothing is suggested


class LoggingConfig(Section):
    level: str = "INFO"


class SlackConfig(Section):
    enabled: bool = False
    mode: Literal["http", "socket"] = "http"
    bot_token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None
    api_base_url: str = "https://slack.com/api/"
    intake_channels: list[str] = []
    ticket_emoji: str = "ticket"
    command: str = "/ticket"


class FeishuConfig(Section):
    enabled: bool = False
    mode: Literal["webhook", "long_connection"] = "webhook"
    app_id: str | None = None
    app_secret: str | None = None
    verification_token: str | None = None
    encrypt_key: str | None = None
    domain: str = "https://open.feishu.cn"  # "feishu", "lark", or any base URL
    intake_chats: list[str] = []  # chat ids (oc_...): every top-level message there is intake
    ticket_emoji: str = "Get"  # reaction emoji_type that turns a message into a ticket
    replay_window_seconds: int = 300  # webhook: max age of X-Lark-Request-Timestamp


class DingTalkConfig(Section):
    enabled: bool = False
    client_id: str | None = None
    client_secret: str | None = None
    robot_code: str | None = None
    api_base_url: str = "https://api.dingtalk.com"
    card_template_id: str | None = None


class WeComRobotConfig(Section):
    enabled: bool = False
    bot_id: str | None = None
    secret: str | None = None
    ws_url: str = "wss://openws.work.weixin.qq.com"
    name: str | None = None  # the robot's display name, removed from "@name" in group messages
    heartbeat_seconds: float = 30.0


class WeComConfig(Section):
    enabled: bool = False
    corp_id: str | None = None
    agent_id: int | None = None
    secret: str | None = None
    token: str | None = None
    encoding_aes_key: str | None = None
    api_base_url: str = "https://qyapi.weixin.qq.com"
    replay_window_seconds: int = 300
    robot: WeComRobotConfig = WeComRobotConfig()


class WebChatPerson(Section):
    """A name the web chat lets pick a role beyond employee (identity webchat:<slug of name>)."""

    name: str
    roles: list[Literal["employee", "technician", "lead", "admin"]] = ["employee"]


class WebChatConfig(Section):
    enabled: bool = True
    access_token: str | None = None  # required when server.host is not loopback
    rooms: list[str] = ["it-help", "it-team"]  # shared rooms; DMs with the bot exist for everyone
    team_rooms: list[str] = ["it-team"]  # shown only to technicians, leads and admins
    intake_rooms: list[str] = ["it-help"]  # every top-level message there is a request
    people: list[WebChatPerson] = []
    ticket_emoji: str = "🎫"  # reacting with it asks the desk to open a ticket
    max_message_chars: int = Field(default=4000, ge=100)  # longer messages are cut with a note
    history_per_room: int = Field(default=500, ge=10)  # messages kept in memory per room

    @model_validator(mode="after")
    def _rooms_known(self) -> WebChatConfig:
        for room in self.rooms:
            if not room or room.startswith("dm:") or not all(c.isalnum() or c in "-_." for c in room):
                raise ValueError(f"room {room!r} must be letters, digits, '-', '_' or '.' (not dm:...)")
        for key in ("team_rooms", "intake_rooms"):
            unknown = [r for r in getattr(self, key) if r not in self.rooms]
            if unknown:
                raise ValueError(f"{key} {unknown} are not in webchat.rooms")
        return self


class Config(Section):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    logging: LoggingConfig = LoggingConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    desks: list[Desk] = Field(default_factory=lambda: [Desk()])
    delivery: Delivery = Delivery()
    max_message_chars: int = 4000
    slack: SlackConfig = SlackConfig()
    feishu: FeishuConfig = FeishuConfig()
    dingtalk: DingTalkConfig = DingTalkConfig()
    wecom: WeComConfig = WeComConfig()
    webchat: WebChatConfig = WebChatConfig()

    def core(self) -> CoreSettings:
        return CoreSettings(desks=self.desks, delivery=self.delivery, max_message_chars=self.max_message_chars)


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config PATH, else $DESKBOT_CONFIG, else ./config.toml (None when none exists)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("DESKBOT_CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.exists() else None


def _env_value(raw: str) -> Any:
    """Environment values: JSON when it parses (lists, numbers, booleans), else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def apply_env(data: dict[str, Any], environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """DESKBOT_SECTION__KEY[__SUBKEY] overrides; DESKBOT_DATABASE_URL is kept as a short form."""
    for name, raw in environ.items():
        if not name.startswith("DESKBOT_") or name in ("DESKBOT_CONFIG",) or name.startswith("DESKBOT_TEST_"):
            continue
        rest = name[len("DESKBOT_"):]
        path = [p.lower() for p in rest.split("__")] if "__" in rest else None
        if path is None:
            if rest == "DATABASE_URL":
                path = ["database", "url"]
            else:
                continue
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = raw if path[-1] in _STRING_KEYS else _env_value(raw)
    return data


# keys whose values are always strings even if they look like JSON numbers (ids, secrets)
_STRING_KEYS = {
    "bot_token", "signing_secret", "app_token", "app_id", "app_secret", "verification_token",
    "encrypt_key", "client_id", "client_secret", "robot_code", "corp_id", "secret", "token",
    "encoding_aes_key", "url", "access_token", "bot_id", "card_template_id", "host", "domain",
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _feishu_domain_ok(domain: str) -> bool:
    """What lark-oapi accepts as a base URL: an https origin, or http on localhost (tests, tunnels)."""
    from urllib.parse import urlsplit

    if domain.strip().lower() in ("feishu", "lark"):
        return True
    url = urlsplit(domain.strip().rstrip("/"))
    local = url.hostname in ("localhost", "127.0.0.1", "::1")
    return bool(url.hostname) and url.path == "" and (url.scheme == "https" or url.scheme == "http" and local)


def semantic_problems(cfg: Config) -> list[str]:
    """Checks that span keys: credentials required by enabled platforms, desk references."""
    problems: list[str] = []

    def need(section: str, key: str, value: Any, when: str) -> None:
        if value in (None, "", []):
            problems.append(f"{section}.{key} is required when {when}")

    if cfg.slack.enabled:
        need("slack", "bot_token", cfg.slack.bot_token, "slack.enabled = true")
        if cfg.slack.mode == "http":
            need("slack", "signing_secret", cfg.slack.signing_secret, "slack.enabled = true")
        else:
            need("slack", "app_token", cfg.slack.app_token, 'slack.mode = "socket"')
    if cfg.feishu.enabled:
        for key in ("app_id", "app_secret"):
            need("feishu", key, getattr(cfg.feishu, key), "feishu.enabled = true")
        if not _feishu_domain_ok(cfg.feishu.domain):
            problems.append('feishu.domain must be "feishu", "lark" or https://host[:port] without a path '
                            "(http only for localhost)")
        if cfg.feishu.mode == "webhook":
            need("feishu", "verification_token", cfg.feishu.verification_token, 'feishu.mode = "webhook"')
            need("feishu", "encrypt_key", cfg.feishu.encrypt_key, 'feishu.mode = "webhook"')
    if cfg.dingtalk.enabled:
        for key in ("client_id", "client_secret", "robot_code"):
            need("dingtalk", key, getattr(cfg.dingtalk, key), "dingtalk.enabled = true")
    if cfg.wecom.enabled:
        for key in ("corp_id", "agent_id", "secret", "token", "encoding_aes_key"):
            need("wecom", key, getattr(cfg.wecom, key), "wecom.enabled = true")
        key = cfg.wecom.encoding_aes_key
        if key and len(key) != 43:
            problems.append("wecom.encoding_aes_key must be 43 characters")
    if cfg.wecom.robot.enabled:
        for key in ("bot_id", "secret"):
            need("wecom.robot", key, getattr(cfg.wecom.robot, key), "wecom.robot.enabled = true")
    if cfg.webchat.enabled and cfg.server.host not in ("127.0.0.1", "localhost", "::1"):
        need("webchat", "access_token", cfg.webchat.access_token,
             "webchat.enabled = true and server.host is not a loopback address")
    prefixes: set[str] = set()
    for i, desk in enumerate(cfg.desks):
        if desk.prefix in prefixes:
            problems.append(f"desks[{i}].prefix {desk.prefix!r} is used by another desk")
        prefixes.add(desk.prefix)
        groups = {g.name for g in desk.groups}
        for j, rule in enumerate(desk.routing):
            if rule.group not in groups:
                problems.append(f"desks[{i}].routing[{j}].group {rule.group!r} is not a group of this desk")
        for ident in [*desk.roles.technicians, *desk.roles.leads, *desk.roles.admins,
                      *(m for g in desk.groups for m in g.members)]:
            if ":" not in ident:
                problems.append(f"desks[{i}].roles: {ident!r} must be written platform:user_id")
        problems.extend(f"desks[{i}].{problem}" for problem in sla_problems(desk))
    if not cfg.desks:
        problems.append("desks must name at least one desk")
    return problems


def sla_problems(desk: Desk) -> list[str]:
    """The desk's SLA policy and business calendar as the SLA engine will read them at start-up."""
    from core.sla.calendar import BusinessCalendar, CalendarError
    from core.sla.policy import policy_problems

    problems = policy_problems(desk.sla)
    try:
        BusinessCalendar.from_settings(desk.calendar)
    except CalendarError as exc:
        problems.append(str(exc))
    return problems


def load_config(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None,
                *, check: bool = True) -> Config:
    """Load and validate. Raises ConfigError listing every problem with its key path."""
    env = dict(os.environ) if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError([f"config file {p} does not exist"])
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{p}: {exc}"]) from exc
    data = apply_env(data, env)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _format_loc(err["loc"])
            msg = "is not a known option" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{where} {msg}")
        raise ConfigError(problems) from exc
    if check:
        problems = semantic_problems(cfg)
        if problems:
            raise ConfigError(problems)
    return cfg
