"""Shared set-up for WeCom transport tests: config, fake qyapi, adapter, ASGI client, signed callbacks."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest

from adapters.base import IntakeResult
from adapters.wecom import create_adapter
from adapters.wecom.crypto import WXBizMsgCrypt, signature
from bot.config import WeComConfig, WeComRobotConfig
from core.events import Inbound
from tests.fakes.routes import route_client
from tests.fakes.server import Changes
from tests.fakes.sink import RecordingSink
from tests.fakes.wecom import FakeQyapi, FakeRobotGateway

CORP_ID = "wwCORP"
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AGENT_ID = 1000002


class WaitingSink(RecordingSink):
    """RecordingSink that can be awaited, and can answer clicks with prepared outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list = []
        self.waits: list[float] = []
        self._changes = Changes()

    async def submit(self, event: Inbound, *, wait: float = 0.0) -> IntakeResult:
        result = await super().submit(event, wait=wait)
        self.waits.append(wait)
        await self._changes.notify()
        if wait and not result.duplicate:
            return IntakeResult(stored=True, outputs=tuple(self.outputs))
        return result

    async def wait_events(self, count: int, timeout: float = 5.0) -> list[Inbound]:
        await self._changes.wait_for(lambda: len(self.events) >= count, timeout)
        return self.events


def wecom_config(api_url: str, *, robot_url: str | None = None, app: bool = True) -> WeComConfig:
    robot = (WeComRobotConfig(enabled=True, bot_id="BOT-1", secret="ROBOT-SECRET", ws_url=robot_url,
                              name="IT助手") if robot_url else WeComRobotConfig())
    return WeComConfig(enabled=app, corp_id=CORP_ID, agent_id=AGENT_ID, secret="SECRET", token=TOKEN,
                       encoding_aes_key=AES_KEY, api_base_url=api_url, robot=robot)


class Signer:
    """Builds callbacks the way WeCom does: encrypted, signed, with timestamp and nonce."""

    def __init__(self, *, receive_id: str = CORP_ID, token: str = TOKEN) -> None:
        self.crypt = WXBizMsgCrypt(token=token, encoding_aes_key=AES_KEY, receive_id=receive_id)
        self.token = token

    def post(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None,
             tamper: bool = False) -> tuple[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**9))
        encrypt = self.crypt.encrypt(xml)
        sig = signature(self.token, ts, nonce, encrypt)
        if tamper:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>")
        query = urlencode({"msg_signature": sig, "timestamp": ts, "nonce": nonce})
        return f"/wecom/callback?{query}", body

    def verify_url(self, echo_plain: str, *, timestamp: int | None = None) -> str:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        echostr = self.crypt.encrypt(echo_plain)
        sig = signature(self.token, ts, nonce, echostr)
        return "/wecom/callback?" + urlencode({"msg_signature": sig, "timestamp": ts, "nonce": nonce,
                                                "echostr": echostr})


def text_xml(msg_id: str, content: str = "VPN 连不上了", user: str = "lilei") -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>")


def click_xml(task_id: str, key: str, response_code: str, user: str = "wangfang") -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode><AgentID>{AGENT_ID}</AgentID></xml>")


@pytest.fixture
async def qyapi() -> AsyncIterator[FakeQyapi]:
    fake = await FakeQyapi(corp_id=CORP_ID, secret="SECRET").start()
    yield fake
    await fake.stop()


@pytest.fixture
async def gateway() -> AsyncIterator[FakeRobotGateway]:
    fake = await FakeRobotGateway(bot_id="BOT-1", secret="ROBOT-SECRET").start()
    yield fake
    await fake.stop()


@pytest.fixture
def sink() -> WaitingSink:
    return WaitingSink()


@pytest.fixture
async def adapter(qyapi: FakeQyapi, sink: WaitingSink):
    a = create_adapter(wecom_config(qyapi.url))
    await a.start(sink)
    yield a
    await a.stop()


@pytest.fixture
async def client(adapter) -> AsyncIterator[httpx.AsyncClient]:
    async with route_client(adapter, base_url="http://deskbot.test") as c:
        yield c


@pytest.fixture
def signer() -> Signer:
    return Signer()
