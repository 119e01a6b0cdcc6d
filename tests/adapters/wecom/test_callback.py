"""Encrypted app callbacks to the ASGI route: verified, decrypted, stored once, acked; bad ones refused."""

from __future__ import annotations

import time

from core.events import ActionClicked, BotAdded, MessageReceived
from tests.adapters.wecom.conftest import CORP_ID, Signer, click_xml, text_xml


async def test_url_verification_answers_the_decrypted_echostr(client, signer) -> None:
    resp = await client.get(signer.verify_url("1616140317555161061"))
    assert resp.status_code == 200
    assert resp.text == "1616140317555161061"


async def test_url_verification_with_a_bad_signature_is_refused(client) -> None:
    wrong = Signer(token="not-our-token")
    resp = await client.get(wrong.verify_url("42"))
    assert resp.status_code == 401


async def test_message_is_stored_and_acked(client, signer, sink) -> None:
    url, body = signer.post(text_xml("7301234567890123456", "打印机卡纸了"))
    resp = await client.post(url, content=body)
    assert resp.status_code == 200 and resp.text == ""
    assert len(sink.events) == 1
    event = sink.events[0]
    assert isinstance(event, MessageReceived)
    assert event.text == "打印机卡纸了"
    assert event.event_id == "msg:7301234567890123456"
    assert event.conversation.is_direct and event.conversation.chat_id == "lilei"
    assert event.conversation.tenant == CORP_ID


async def test_the_same_msgid_twice_is_stored_once(client, signer, sink) -> None:
    for _ in range(2):  # WeCom's retry: same MsgId, new nonce and timestamp
        url, body = signer.post(text_xml("555"))
        assert (await client.post(url, content=body)).status_code == 200
    assert len(sink.events) == 1


async def test_bad_signature_is_refused_and_nothing_stored(client, signer, sink) -> None:
    url, body = signer.post(text_xml("1"), tamper=True)
    resp = await client.post(url, content=body)
    assert resp.status_code == 401
    assert sink.events == []


async def test_wrong_corp_id_is_refused(client, sink) -> None:
    other = Signer(receive_id="wwSOMEONE_ELSE")
    url, body = other.post(text_xml("2"))
    resp = await client.post(url, content=body)
    assert resp.status_code == 401
    assert "receive id" in resp.text
    assert sink.events == []


async def test_stale_timestamp_is_refused(client, signer, sink) -> None:
    url, body = signer.post(text_xml("3"), timestamp=int(time.time()) - 3600)
    resp = await client.post(url, content=body)
    assert resp.status_code == 401
    assert sink.events == []


async def test_replayed_nonce_is_refused(client, signer, sink) -> None:
    ts = int(time.time())
    url, body = signer.post(text_xml("4"), timestamp=ts, nonce="123456")
    assert (await client.post(url, content=body)).status_code == 200
    assert (await client.post(url, content=body)).status_code == 401  # the captured request again
    url2, body2 = signer.post(text_xml("5"), timestamp=ts, nonce="123456")  # re-signed, same nonce
    assert (await client.post(url2, content=body2)).status_code == 401
    assert [e.event_id for e in sink.events] == ["msg:4"]


async def test_store_failure_answers_503_and_the_retry_is_accepted(client, signer, sink) -> None:
    url, body = signer.post(text_xml("6"))
    sink.fail = True
    assert (await client.post(url, content=body)).status_code == 503
    assert sink.events == []
    sink.fail = False
    assert (await client.post(url, content=body)).status_code == 200  # same nonce: released
    assert [e.event_id for e in sink.events] == ["msg:6"]


async def test_missing_parameters_and_bad_xml_are_refused(client, signer, sink) -> None:
    assert (await client.post("/wecom/callback", content="<xml/>")).status_code == 400
    url, _ = signer.post(text_xml("7"))
    dtd = '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
    assert (await client.post(url, content=dtd)).status_code == 400
    assert (await client.post(url, content="<xml><AgentID>1</AgentID></xml>")).status_code == 400
    assert sink.events == []


async def test_enter_agent_and_click_events(client, signer, sink, adapter) -> None:
    enter = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[lilei]]></FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             "<Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID></xml>")
    url, body = signer.post(enter)
    assert (await client.post(url, content=body)).status_code == 200
    url, body = signer.post(click_xml("ticket_12-aaaa", "ticket.claim?ticket=12", "RC-1"))
    assert (await client.post(url, content=body)).status_code == 200
    welcome, click = sink.events
    assert isinstance(welcome, BotAdded)
    assert isinstance(click, ActionClicked)
    assert (click.action_id, dict(click.value), click.card_message_id) == ("ticket.claim", {"ticket": "12"},
                                                                          "ticket_12-aaaa")


async def test_unhandled_message_types_are_acked_without_storing(client, signer, sink) -> None:
    image = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[lilei]]></FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
             "<MediaId><![CDATA[M]]></MediaId><MsgId>9</MsgId><AgentID>1</AgentID></xml>")
    url, body = signer.post(image)
    assert (await client.post(url, content=body)).status_code == 200
    assert sink.events == []
