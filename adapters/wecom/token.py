"""The WeCom access token: fetched with corp id + secret, cached for its lifetime, refreshed on expiry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from core.replies import DeliveryError

log = logging.getLogger(__name__)

# errcodes that mean "this access_token is no longer good" (WeCom 全局错误码): 40014 invalid,
# 42001 expired, 40001 invalid secret/credential.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# busy / frequency limits worth retrying later: -1 system busy, 45009 API frequency limit,
# 45033 concurrency limit, 45047 per-user message limit.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033, 45047})
MARGIN_SECONDS = 300.0


class AccessToken:
    """GET /cgi-bin/gettoken, cached for expires_in (7200 s) minus a margin. One fetch at a time."""

    def __init__(self, *, client: httpx.AsyncClient, corp_id: str, secret: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._corp_id = corp_id
        self._secret = secret
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self, token: str | None = None) -> None:
        if token is None or token == self._token:
            self._token = None

    async def get(self) -> str:
        if self._token and self._clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and self._clock() < self._expires_at:
                return self._token
            try:
                resp = await self._client.get("/cgi-bin/gettoken",
                                              params={"corpid": self._corp_id, "corpsecret": self._secret})
            except httpx.HTTPError as exc:
                raise DeliveryError(f"wecom gettoken failed: {type(exc).__name__}", retryable=True) from exc
            if resp.status_code >= 500 or resp.status_code == 429:
                raise DeliveryError(f"wecom gettoken HTTP {resp.status_code}", retryable=True)
            try:
                data = resp.json()
            except ValueError as exc:
                raise DeliveryError("wecom gettoken: not JSON", retryable=True) from exc
            code = data.get("errcode", 0)
            if code != 0 or not data.get("access_token"):
                log.warning("wecom gettoken refused", extra={"errcode": code, "errmsg": data.get("errmsg")})
                raise DeliveryError(f"wecom gettoken errcode {code}", retryable=code in RETRYABLE_ERRCODES)
            self._token = str(data["access_token"])
            lifetime = float(data.get("expires_in") or 7200)
            self._expires_at = self._clock() + max(lifetime - MARGIN_SECONDS, lifetime / 2)
            return self._token
