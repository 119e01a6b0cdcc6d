"""What `make run` serves on config.example.toml: the chat page at /chat with the example's people."""

from __future__ import annotations

import json
import re

import httpx

from bot.app import create_app
from bot.startup import prepare
from tests.e2e.support import example_config


async def test_the_example_config_serves_the_chat_page_with_its_people(db_url: str) -> None:
    container = prepare(example_config(db_url))
    try:
        app = create_app(container, run_workers=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080") as client:
            home = await client.get("/")
            page = await client.get("/chat", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
            script = await client.get("/chat/static/chat.js")
    finally:
        container.close()

    assert (home.status_code, home.headers["location"]) == (307, "/chat")
    assert page.status_code == 200 and script.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "IT 服务台聊天" in page.text
    boot = json.loads(re.search(r'<script type="application/json" id="boot">(.*?)</script>', page.text).group(1))
    people = {p["name"]: p["roles"] for p in boot["people"]}
    assert people["Li Lei"] == ["employee"]
    assert people["Wang Fang"] == ["employee", "technician"]
    # the page's roles are also the desk's: web chat staff are technicians of the example desk
    roles = container.config.desks[0].roles
    assert "webchat:wang-fang" in roles.technicians and "webchat:zhao-min" in roles.leads
