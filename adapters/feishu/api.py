"""Feishu Open API: the tenant access token (cached, never blocking the loop), plain httpx calls, and
the error classes every call shares. Message create / reply / patch run on lark-oapi (messages.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    from .messages import Messages

log = logging.getLogger("deskbot.feishu.api")

T = TypeVar("T")

DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}

# Codes from the Open Platform error list that mean "the tenant token is no longer valid": refetch once.
TOKEN_INVALID = {99991661, 99991663, 99991664, 99991668, 99991671}
# Rate limits: 99991400 (app/tenant frequency limit, with x-ogw-ratelimit-reset) and 230020
# (per-chat / per-message frequency limit).  https://open.feishu.cn/document/ukTMukTMukTM/uUzN04SN3QjL1cDN
RATE_LIMITED = {99991400, 230020}
# Permanent failures worth naming in the parked outbox row.
PERMANENT = {
    230002: "bot is not in the chat",
    230006: "bot ability is not enabled",
    230011: "message was recalled",
    230013: "bot cannot reach this user",
    230027: "no permission",
    230035: "no permission to send in this chat",
    230110: "message was deleted",
    232009: "chat was dissolved",
    99991672: "app lacks the required scope",
    99991679: "user has not authorised the scope",
}
# Internal errors Feishu asks callers to retry.
TRANSIENT = {1, 99991401, 230049}
# Refresh a cached token this long before Feishu says it expires.
TOKEN_MARGIN_SECONDS = 300.0
# Seconds until the rate-limit window resets (Feishu frequency-limit doc).
RESET_HEADER = "x-ogw-ratelimit-reset"


def base_url(domain: str) -> str:
    """`feishu.domain`: "feishu", "lark", or any base URL (tests point it at a local fake)."""
    return DOMAINS.get(domain.strip().lower(), domain).rstrip("/")


class ApiError(Exception):
    """A failed Open API call. `retryable` / `retry_after` follow the platform's code and headers."""

    def __init__(self, reason: str, *, code: int | None, status: int | None, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class OpenApi:
    def __init__(self, *, domain: str, app_id: str, app_secret: str, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url(domain)
        self._app_id = app_id
        self._app_secret = app_secret
        self._timeout = timeout
        self._transport = transport
        self._monotonic = monotonic
        self._client: httpx.AsyncClient | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock: asyncio.Lock | None = None
        # Importing lark_oapi takes seconds: it starts now, on a thread, and sends await it.
        self._messages = _in_thread(self._load_messages)

    @property
    def timeout(self) -> float:
        return self._timeout

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout,
                                             transport=self._transport)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._messages.done() and self._messages.exception() is None:
            self._messages.result().close()

    # -- token ------------------------------------------------------------------------------------

    async def tenant_token(self) -> str:
        """Cached tenant_access_token; one fetch at a time. lark-oapi's own fetch is a blocking
        `requests` call even in its async API, so the token is fetched here with httpx."""
        if self._token and self._monotonic() < self._token_until:
            return self._token
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if self._token and self._monotonic() < self._token_until:
                return self._token
            data = await self._request("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                       json={"app_id": self._app_id, "app_secret": self._app_secret})
            token = data.get("tenant_access_token")
            if not token:
                raise ApiError("token response without tenant_access_token", code=data.get("code"),
                               status=200, retryable=True)
            expire = float(data.get("expire") or 7200)
            self._token = token
            self._token_until = self._monotonic() + max(expire - TOKEN_MARGIN_SECONDS, expire / 2)
            log.info("feishu tenant token fetched", extra={"expires_in": expire})
            return token

    def forget_token(self) -> None:
        self._token = None
        self._token_until = 0.0

    # -- calls ------------------------------------------------------------------------------------

    async def authorised(self, attempt: Callable[[str], Awaitable[T]]) -> T:
        """`attempt(token)` with the cached tenant token, refetched once when Feishu says it is invalid."""
        try:
            return await attempt(await self.tenant_token())
        except ApiError as exc:
            if exc.code not in TOKEN_INVALID:
                raise
            self.forget_token()
            return await attempt(await self.tenant_token())

    async def call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                   json: Any = None) -> dict[str, Any]:
        """An authorised httpx call: bot info and ephemeral cards (no typed API in lark-oapi), and
        reading a message (parse.py reads the item as Feishu's JSON)."""
        return await self.authorised(lambda token: self._request(method, path, params=params, json=json,
                                                                 token=token))

    async def messages(self) -> Messages:
        """lark-oapi's message create / reply / patch, once loaded (awaited, never blocking the loop).
        The SDK refuses a `feishu.domain` that is not an https origin (http only on loopback): every
        send then fails permanently with its reason."""
        try:
            return await asyncio.wrap_future(self._messages)
        except Exception as exc:
            raise ApiError(f"lark-oapi unavailable: {exc}", code=None, status=None, retryable=False) from exc

    def _load_messages(self) -> Messages:
        try:
            from .messages import Messages

            return Messages(self)
        except Exception as exc:
            log.error("feishu sends unavailable: lark-oapi did not load", extra={"error": str(exc)})
            raise

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       json: Any = None, token: str | None = None) -> dict[str, Any]:
        where = f"{method} {path}"
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            resp = await self._http().request(method, path, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise unreachable(where, exc, timed_out=isinstance(exc, httpx.TimeoutException)) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        code = data.get("code")
        if resp.status_code == 200 and code == 0:
            return data
        raise classify(where, resp.status_code, code, str(data.get("msg") or ""), resp.headers)


def unreachable(where: str, exc: Exception, *, timed_out: bool) -> ApiError:
    """No answer (timeout, refused, reset), from httpx or from lark-oapi's requests: worth retrying."""
    reason = "timeout" if timed_out else type(exc).__name__
    return ApiError(f"{where}: {reason}", code=None, status=None, retryable=True)


def classify(where: str, status: int, code: Any, msg: str, headers: Mapping[str, str]) -> ApiError:
    """An answer that is not a success, from httpx or from lark-oapi's raw response."""
    where = f"{where}: HTTP {status} code {code}"
    if status == 429 or code in RATE_LIMITED:
        return ApiError(f"{where} rate limited", code=code, status=status, retryable=True,
                        retry_after=_reset_after(headers) or 1.0)
    if code in PERMANENT:
        return ApiError(f"{where} {PERMANENT[code]}", code=code, status=status, retryable=False)
    if code in TOKEN_INVALID or code in TRANSIENT or status >= 500:
        return ApiError(f"{where} {msg}".strip(), code=code, status=status, retryable=True)
    return ApiError(f"{where} {msg}".strip(), code=code, status=status, retryable=False)


def _reset_after(headers: Mapping[str, str]) -> float | None:
    # looked up by hand: lark-oapi hands back a plain dict, names in the case the server sent
    raw = next((value for name, value in headers.items() if name.lower() == RESET_HEADER), None)
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:
        return None


def _in_thread(fn: Callable[[], T]) -> concurrent.futures.Future[T]:
    """`fn()` on a daemon thread. The future is marked running at once, so a cancelled await of it
    (a send cancelled at shutdown) cannot cancel it for every later send."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
            future.set_exception(exc)

    threading.Thread(target=run, name="feishu-lark-oapi", daemon=True).start()
    return future
