"""Builders for Feishu test traffic: encrypted + signed webhook requests and event payloads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.config import FeishuConfig

ENCRYPT_KEY = "test-encrypt-key"
VERIFICATION_TOKEN = "vtoken"
APP_ID = "cli_test"
APP_SECRET = "secret"


def config(domain: str = "http://127.0.0.1:9", **overrides: Any) -> FeishuConfig:
    values: dict[str, Any] = dict(
        enabled=True, mode="webhook", app_id=APP_ID, app_secret=APP_SECRET,
        verification_token=VERIFICATION_TOKEN, encrypt_key=ENCRYPT_KEY, domain=domain,
        intake_chats=["oc_intake"], ticket_emoji="Get",
    )
    values.update(overrides)
    return FeishuConfig(**values)


def encrypt(plaintext: bytes, key: str = ENCRYPT_KEY) -> str:
    """What Feishu puts in {"encrypt": ...}: base64(iv + AES-256-CBC(sha256(key), PKCS7(plaintext)))."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(padded) + enc.finalize()).decode()


def signed(payload: dict[str, Any], *, timestamp: str, nonce: str = "n-1", key: str = ENCRYPT_KEY,
           sign_key: str | None = None, encrypted: bool = True) -> tuple[bytes, dict[str, str]]:
    """An (encrypted) body and the X-Lark-* headers Feishu would send with it."""
    plain = json.dumps(payload, ensure_ascii=False).encode()
    body = json.dumps({"encrypt": encrypt(plain, key)}).encode() if encrypted else plain
    sig = hashlib.sha256((timestamp + nonce + (sign_key or key)).encode() + body).hexdigest()
    return body, {"X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce,
                  "X-Lark-Signature": sig, "Content-Type": "application/json"}


def header(event_id: str, event_type: str, token: str = VERIFICATION_TOKEN) -> dict[str, Any]:
    return {"event_id": event_id, "token": token, "create_time": "1763802840000", "event_type": event_type,
            "tenant_key": "tenant1", "app_id": APP_ID}


def message_event(event_id: str, text: str, *, chat_id: str = "oc_general", chat_type: str = "group",
                  message_id: str = "om_100", sender: str = "ou_lilei", mention_bot: bool = True,
                  root_id: str | None = None, token: str = VERIFICATION_TOKEN) -> dict[str, Any]:
    mentions = []
    if mention_bot:
        text = "@_user_1 " + text
        mentions.append({"key": "@_user_1", "id": {"open_id": "ou_bot", "union_id": "on_bot", "user_id": ""},
                         "name": "IT Desk", "tenant_key": "tenant1"})
    message: dict[str, Any] = {
        "message_id": message_id, "chat_id": chat_id, "chat_type": chat_type, "message_type": "text",
        "content": json.dumps({"text": text}, ensure_ascii=False), "mentions": mentions,
        "create_time": "1763802840000",
    }
    if root_id:
        message.update(root_id=root_id, parent_id=root_id)
    return {"schema": "2.0", "header": header(event_id, "im.message.receive_v1", token), "event": {
        "sender": {"sender_id": {"open_id": sender}, "sender_type": "user", "tenant_key": "tenant1"},
        "message": message}}


def card_event(event_id: str, value: dict[str, Any], *, chat_id: str = "oc_team",
               card_message_id: str = "om_card1", operator: str = "ou_wangfang") -> dict[str, Any]:
    return {"schema": "2.0", "header": header(event_id, "card.action.trigger"), "event": {
        "operator": {"tenant_key": "tenant1", "open_id": operator}, "token": "c-token",
        "action": {"value": value, "tag": "button"}, "host": "im_message",
        "context": {"open_message_id": card_message_id, "open_chat_id": chat_id}}}


def reaction_event(event_id: str, message_id: str, emoji: str = "Get", user: str = "ou_wangfang") -> dict[str, Any]:
    return {"schema": "2.0", "header": header(event_id, "im.message.reaction.created_v1"), "event": {
        "message_id": message_id, "reaction_type": {"emoji_type": emoji}, "operator_type": "user",
        "user_id": {"open_id": user}, "action_time": "1763802840000"}}
