"""The /chat page and its files: served in both languages, text only ever set as text, and locked
behind the access token whenever the server listens beyond loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from adapters.webchat import create_adapter
from adapters.webchat.transport import COOKIE
from bot.config import WebChatPerson
from tests.adapters.webchat.conftest import chat_app, webchat_config
from tests.fakes.sink import RecordingSink

STATIC = Path(__file__).resolve().parents[3] / "adapters" / "webchat" / "static"
HELLO = json.dumps({"type": "hello", "name": "Li Lei", "role": "employee"})


def test_page_script_never_parses_text_as_html() -> None:
    script = (STATIC / "chat.js").read_text(encoding="utf-8")
    for sink_of_html in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                         "new Function", "DOMParser"):
        assert sink_of_html not in script
    assert script.count(".textContent = ") >= 5
    # the one helper that builds elements from text sets it with textContent
    assert re.search(r"function el\(tag, className, text\) \{.*?node\.textContent = text;", script, re.S)


def test_page_is_served_with_boot_data_and_strict_headers(adapter) -> None:
    client = TestClient(chat_app(adapter, RecordingSink()))
    page = client.get("/chat", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<html lang="zh-CN">' in page.text and "你是谁？" in page.text
    boot = json.loads(re.search(r'<script type="application/json" id="boot">(.*?)</script>', page.text).group(1))
    assert boot["ws_path"] == "/chat/ws" and boot["ticket_emoji"] == "🎫"
    assert {p["name"]: p["roles"] for p in boot["people"]}["Wang Fang"] == ["employee", "technician"]
    assert set(boot["strings"]["en"]) == set(boot["strings"]["zh-CN"])
    assert "Who are you?" in client.get("/chat?lang=en").text
    assert client.get("/chat/static/chat.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/chat/static/chat.css").status_code == 200
    assert client.get("/chat/static/../transport.py").status_code == 404
    assert client.get("/chat/static/secrets.txt").status_code == 404


@pytest.mark.parametrize(("accept", "default", "expected"), [
    ("zh-CN,zh;q=0.9", "en", "zh-CN"), ("en-US,en;q=0.9", "zh-CN", "en"), ("fr-FR", "zh-CN", "zh-CN"),
    (None, "zh-CN", "zh-CN"), (None, "en", "en"),
])
def test_page_language_follows_browser_then_desk_default(accept, default, expected) -> None:
    adapter = create_adapter(webchat_config(), server_host="127.0.0.1", lang=default)
    headers = {"accept-language": accept} if accept else {}
    page = TestClient(chat_app(adapter, RecordingSink())).get("/chat", headers=headers)
    assert f'<html lang="{expected}">' in page.text


def test_names_from_config_cannot_break_out_of_the_page() -> None:
    cfg = webchat_config(people=[WebChatPerson(name='</script><script>alert(1)</script>', roles=["admin"])])
    client = TestClient(chat_app(create_adapter(cfg, server_host="127.0.0.1"), RecordingSink()))
    text = client.get("/chat").text
    assert text.count("</script>") == 2  # the boot data's and the script tag's own
    assert "<script>alert(1)" not in text


def test_non_loopback_server_needs_a_token() -> None:
    with pytest.raises(ValueError, match="access_token"):
        create_adapter(webchat_config(), server_host="0.0.0.0")


def test_access_token_once_in_the_link_then_a_cookie() -> None:
    adapter = create_adapter(webchat_config(access_token="s3cret-token"), server_host="0.0.0.0")
    sink = RecordingSink()
    with TestClient(chat_app(adapter, sink)) as client:
        assert client.get("/chat").status_code == 401
        assert client.get("/chat?token=wrong").status_code == 401
        assert client.get("/chat/static/chat.js").status_code == 401
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect("/chat/ws"):
                pass
        assert denied.value.status_code == 401

        first = client.get("/chat?token=s3cret-token&lang=en", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/chat?lang=en"
        cookie = first.cookies[COOKIE]
        assert cookie != "s3cret-token"
        assert "httponly" in first.headers["set-cookie"].lower()
        assert "samesite=strict" in first.headers["set-cookie"].lower()
        assert client.get("/chat").status_code == 200  # the client now holds the cookie
        with client.websocket_connect("/chat/ws") as ws:
            ws.send_text(HELLO)
            assert json.loads(ws.receive_text())["type"] == "welcome"
        client.cookies.set(COOKIE, "forged")
        assert client.get("/chat").status_code == 401


def test_socket_from_another_site_is_refused(adapter) -> None:
    with TestClient(chat_app(adapter, RecordingSink())) as client:
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect("/chat/ws", headers={"origin": "http://evil.example"}):
                pass
        assert denied.value.status_code == 403
        with client.websocket_connect("/chat/ws", headers={"origin": "http://testserver"}) as ws:
            ws.send_text(HELLO)
            assert json.loads(ws.receive_text())["type"] == "welcome"


def test_frames_before_the_desk_starts_are_answered_not_ready() -> None:
    adapter = create_adapter(webchat_config(), server_host="127.0.0.1")
    client = TestClient(chat_app(adapter, RecordingSink()))  # no `with`: lifespan (start) never runs
    with client.websocket_connect("/chat/ws") as ws:
        ws.send_text(HELLO)
        ws.receive_text()
        ws.send_text(json.dumps({"type": "message", "room": "it-help", "text": "hi", "ref": 1}))
        assert json.loads(ws.receive_text()) == {"type": "error", "ref": 1, "code": "not_ready", "params": {}}
