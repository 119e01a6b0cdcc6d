"""Feishu webhook security: decryption, X-Lark-Signature, verification token, replay window and nonces.

Our own rather than lark-oapi's EventDispatcherHandler, which is synchronous, decrypts before it
checks the signature, skips the token of an encrypted event that carries none, checks no timestamp,
and answers every failure with 500 (its reason only as text). tests/adapters/feishu/test_security.py
checks that both agree on what Feishu sends."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/
#   encrypt-key-encryption-configuration-case
HEADER_TIMESTAMP = "X-Lark-Request-Timestamp"
HEADER_NONCE = "X-Lark-Request-Nonce"
HEADER_SIGNATURE = "X-Lark-Signature"


class Rejected(Exception):
    """A request that must not be processed: `status` is the HTTP answer (401 forged/stale, 400 malformed)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """AES-256-CBC with key sha256(encrypt_key); the base64 text is iv(16) + ciphertext, PKCS7 padded."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected("encrypt is not base64", 400) from exc
    if len(raw) < 32 or len(raw) % 16:
        raise Rejected("encrypt has a bad length", 400)
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise Rejected("encrypt does not decrypt with the configured key", 400) from exc


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def check_signature(headers: Mapping[str, str], encrypt_key: str, body: bytes) -> tuple[str, str]:
    """Return (timestamp, nonce) when X-Lark-Signature matches; `headers` must be case-insensitive
    (Starlette's request.headers): proxies may lower-case header names."""
    timestamp = headers.get(HEADER_TIMESTAMP)
    nonce = headers.get(HEADER_NONCE)
    sig = headers.get(HEADER_SIGNATURE)
    if not timestamp or not nonce or not sig:
        raise Rejected("signature headers missing", 401)
    expected = signature(timestamp, nonce, encrypt_key, body)
    if not hmac.compare_digest(expected.encode(), sig.strip().lower().encode()):
        raise Rejected("bad signature", 401)
    return timestamp, nonce


def check_token(payload: Mapping[str, Any], verification_token: str) -> None:
    """The verification token sits in header.token (schema 2.0) or at the top (url_verification, v1)."""
    header = payload.get("header")
    token = header.get("token") if isinstance(header, Mapping) else payload.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), verification_token.encode()):
        raise Rejected("wrong verification token", 401)


def open_body(body: bytes, encrypt_key: str) -> dict[str, Any]:
    """The plaintext event as a dict (decrypting {"encrypt": ...} bodies)."""
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise Rejected("body is not JSON", 400) from exc
    if not isinstance(envelope, dict):
        raise Rejected("body is not a JSON object", 400)
    if "encrypt" in envelope:
        if not isinstance(envelope["encrypt"], str):
            raise Rejected("encrypt is not a string", 400)
        try:
            payload = json.loads(decrypt(encrypt_key, envelope["encrypt"]))
        except ValueError as exc:
            raise Rejected("decrypted body is not JSON", 400) from exc
        if not isinstance(payload, dict):
            raise Rejected("decrypted body is not a JSON object", 400)
        return payload
    return envelope


class ReplayGuard:
    """Timestamp window plus a nonce cache (the SDK checks neither; a timestamp of "1" passes it).

    A nonce is reserved while its request is processed and kept after success; `release` drops it
    when processing failed, so the platform's retry of the same delivery is not mistaken for a replay."""

    def __init__(self, *, window_seconds: float = 300.0, max_nonces: int = 100_000,
                 now: Callable[[], float] = time.time) -> None:
        self._window = window_seconds
        self._max = max_nonces
        self._now = now
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, timestamp: str, nonce: str) -> str:
        try:
            ts = float(timestamp)
        except ValueError as exc:
            raise Rejected("bad timestamp", 400) from exc
        now = self._now()
        if abs(now - ts) > self._window:
            raise Rejected("timestamp outside the replay window", 401)
        key = f"{timestamp}:{nonce}"
        with self._lock:
            self._purge(now)
            if key in self._seen:
                raise Rejected("replayed nonce", 401)
            if len(self._seen) >= self._max:
                raise Rejected("too many requests in the replay window", 401)
            # kept until its timestamp can no longer pass the window check
            self._seen[key] = ts + self._window
        return key

    def release(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def _purge(self, now: float) -> None:
        expired = [k for k, until in self._seen.items() if until < now]
        for k in expired:
            del self._seen[k]
