"""Async DingTalk Open API calls (token, robot sends, card instances, session webhooks) over httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.replies import DeliveryError

log = logging.getLogger(__name__)

# Default pause after a throttling answer without Retry-After: a group robot may send
# 20 messages a minute (https://open.dingtalk.com/document/orgapp/robot-overview).
THROTTLE_RETRY_AFTER = 3.0
_THROTTLE_MARKERS = ("throttl", "qpslimit", "flowcontrol", "ratelimit", "limit.")
# custom-robot / session webhook errcode for "sending too fast"
_WEBHOOK_THROTTLED = {130101, 130102}
_TOKEN_MARGIN = 300  # refresh tokens five minutes early


def _retry_after(resp: httpx.Response) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return THROTTLE_RETRY_AFTER


def _error_text(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        return "", resp.text[:200]
    if not isinstance(body, dict):
        return "", str(body)[:200]
    return str(body.get("code") or ""), str(body.get("message") or "")[:200]


class OpenApi:
    """DingTalk's new-style Open API (`x-acs-dingtalk-access-token`), token cached in memory."""

    def __init__(self, *, base_url: str, client_id: str, client_secret: str, http: httpx.AsyncClient,
                 now: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._now = now
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()

    def url(self, path: str) -> str:
        return self.base_url + path

    def reset_token(self) -> None:
        self._token = None

    async def access_token(self) -> str:
        """POST /v1.0/oauth2/accessToken {appKey, appSecret} -> {accessToken, expireIn}."""
        async with self._token_lock:
            if self._token and self._now() < self._token[1]:
                return self._token[0]
            try:
                resp = await self._http.post(self.url("/v1.0/oauth2/accessToken"),
                                             json={"appKey": self._client_id, "appSecret": self._client_secret})
            except httpx.HTTPError as exc:
                raise DeliveryError(f"dingtalk token: {type(exc).__name__}", retryable=True) from exc
            if resp.status_code != 200:
                code, message = _error_text(resp)
                raise DeliveryError(f"dingtalk token: HTTP {resp.status_code} {code} {message}".strip(),
                                    retryable=resp.status_code == 429 or resp.status_code >= 500,
                                    retry_after=_retry_after(resp) if resp.status_code == 429 else None)
            body = resp.json()
            expires_in = int(body.get("expireIn") or 7200)
            self._token = (str(body["accessToken"]), self._now() + max(60, expires_in - _TOKEN_MARGIN))
            return self._token[0]

    async def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One authorised call; maps failures to DeliveryError (retryable or not)."""
        token = await self.access_token()
        try:
            resp = await self._http.request(method, self.url(path), json=body,
                                            headers={"x-acs-dingtalk-access-token": token})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"dingtalk {path}: {type(exc).__name__}", retryable=True) from exc
        if resp.status_code == 200:
            data = resp.json() if resp.content else {}
            return data if isinstance(data, dict) else {}
        code, message = _error_text(resp)
        reason = f"dingtalk {path}: HTTP {resp.status_code} {code} {message}".strip()
        lowered = code.lower()
        if resp.status_code == 401 or lowered.startswith("invalidauthentication"):
            self.reset_token()
            raise DeliveryError(reason, retryable=True, retry_after=0.0)
        if resp.status_code == 429 or any(m in lowered for m in _THROTTLE_MARKERS):
            raise DeliveryError(reason, retryable=True, retry_after=_retry_after(resp))
        if resp.status_code >= 500:
            after = _retry_after(resp) if "Retry-After" in resp.headers else None
            raise DeliveryError(reason, retryable=True, retry_after=after)
        raise DeliveryError(reason, retryable=False)

    async def send_group(self, *, robot_code: str, chat_id: str, message: dict[str, Any]) -> str:
        """POST /v1.0/robot/groupMessages/send -> processQueryKey."""
        data = await self.call("POST", "/v1.0/robot/groupMessages/send", {
            "robotCode": robot_code, "openConversationId": chat_id,
            "msgKey": message["msgKey"], "msgParam": _param_json(message["msgParam"]),
        })
        return str(data.get("processQueryKey") or "")

    async def send_direct(self, *, robot_code: str, user_id: str, message: dict[str, Any]) -> str:
        """POST /v1.0/robot/oToMessages/batchSend -> processQueryKey (per-user flow control)."""
        data = await self.call("POST", "/v1.0/robot/oToMessages/batchSend", {
            "robotCode": robot_code, "userIds": [user_id],
            "msgKey": message["msgKey"], "msgParam": _param_json(message["msgParam"]),
        })
        if user_id in (data.get("flowControlledStaffIdList") or []):
            raise DeliveryError("dingtalk batchSend: flow controlled", retryable=True,
                                retry_after=THROTTLE_RETRY_AFTER)
        if user_id in (data.get("invalidStaffIdList") or []):
            raise DeliveryError("dingtalk batchSend: invalid user id", retryable=False)
        return str(data.get("processQueryKey") or "")

    async def create_and_deliver_card(self, body: dict[str, Any]) -> None:
        """POST /v1.0/card/instances/createAndDeliver; a failed delivery to the space is an error."""
        data = await self.call("POST", "/v1.0/card/instances/createAndDeliver", body)
        result = data.get("result") or {}
        for item in result.get("deliverResults") or []:
            if item.get("success") is False:
                reason = f"dingtalk card deliver: {str(item.get('errorMsg') or '')[:200]}"
                throttled = any(m in reason.lower() for m in _THROTTLE_MARKERS)
                raise DeliveryError(reason, retryable=throttled,
                                    retry_after=THROTTLE_RETRY_AFTER if throttled else None)

    async def update_card(self, *, out_track_id: str, params: dict[str, str]) -> None:
        """PUT /v1.0/card/instances: redraw the card in place."""
        data = await self.call("PUT", "/v1.0/card/instances", {
            "outTrackId": out_track_id,
            "cardData": {"cardParamMap": params},
            "cardUpdateOptions": {"updateCardDataByKey": True},
        })
        if data.get("success") is False:
            raise DeliveryError("dingtalk card update: not updated", retryable=False)

    async def post_session_webhook(self, url: str, body: dict[str, Any]) -> None:
        """POST to a message's sessionWebhook (no token; the URL itself authorises, never log it)."""
        try:
            resp = await self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"dingtalk session webhook: {type(exc).__name__}", retryable=True) from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise DeliveryError(f"dingtalk session webhook: HTTP {resp.status_code}", retryable=True,
                                retry_after=_retry_after(resp))
        try:
            data = resp.json()
        except ValueError:
            data = {}
        errcode = int(data.get("errcode", 0 if resp.status_code == 200 else -1) or 0)
        if resp.status_code == 200 and errcode == 0:
            return
        reason = f"dingtalk session webhook: HTTP {resp.status_code} errcode {errcode}"
        if errcode in _WEBHOOK_THROTTLED:
            raise DeliveryError(reason, retryable=True, retry_after=THROTTLE_RETRY_AFTER)
        raise DeliveryError(reason, retryable=False)

    async def open_connection(self, *, subscriptions: list[dict[str, str]], ua: str) -> dict[str, Any]:
        """POST /v1.0/gateway/connections/open -> {"endpoint", "ticket"} (raises httpx errors)."""
        resp = await self._http.post(self.url("/v1.0/gateway/connections/open"), json={
            "clientId": self._client_id, "clientSecret": self._client_secret,
            "subscriptions": subscriptions, "ua": ua, "localIp": "",
        })
        resp.raise_for_status()
        data = resp.json()
        if not data.get("endpoint") or not data.get("ticket"):
            raise ValueError("gateway answered without endpoint/ticket")
        return data


def _param_json(param: dict[str, Any]) -> str:
    return json.dumps(param, ensure_ascii=False)
