"""Message create / reply / patch on lark-oapi's typed request builders.

Loaded on a thread by OpenApi (importing lark_oapi takes seconds). The SDK client has no app secret
and `enable_set_token`: every call carries the token OpenApi fetched, in a RequestOption, so the
SDK's own token fetch (a blocking `requests` call, cached per process) never runs. The SDK hands
back the raw answer (`response.raw`: status and headers) beside the typed one, so rate limits and
errors are classified exactly as for OpenApi's own calls.

The calls run the SDK's synchronous methods on a small thread pool of our own. Its async methods
(`acreate` ...) build a new httpx.AsyncClient for every call (lark_oapi/core/http/transport.py,
`Transport.aexecute`), which loads the CA bundle on the event loop: about 30 ms of CPU per send,
50 sends a batch from the outbox would stall the loop for over a second. The pool is ours, not
the loop's default executor, so a slow Feishu cannot hold up the database work queued there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lark_oapi as lark
import requests
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.exception import UnmarshalException

from .api import ApiError, OpenApi, classify, unreachable

MESSAGES = "/open-apis/im/v1/messages"
# Feishu takes 50 sends a second per app, and a send is answered in well under a second.
SEND_THREADS = 8


class Messages:
    def __init__(self, api: OpenApi) -> None:
        self._api = api
        client = (lark.Client.builder().domain(api.base_url).timeout(api.timeout).enable_set_token(True)
                  .log_level(lark.LogLevel.WARNING).build())
        self._im = client.im.v1.message
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def create(self, receive_id_type: str, receive_id: str, body: Mapping[str, Any],
                     uuid: str) -> str | None:
        """A new top-level message (`body` as render() gives it); its message_id."""
        request = (CreateMessageRequest.builder().receive_id_type(receive_id_type)
                   .request_body(CreateMessageRequestBody.builder().receive_id(receive_id)
                                 .msg_type(body["msg_type"]).content(_content(body)).uuid(uuid).build())
                   .build())
        resp = await self._send(f"POST {MESSAGES}", self._im.create, request)
        return resp.data.message_id if resp.data else None

    async def reply(self, message_id: str, body: Mapping[str, Any], uuid: str, *,
                    in_thread: bool) -> str | None:
        """A reply to `message_id`, in its thread or quoting it; the reply's message_id."""
        request = (ReplyMessageRequest.builder().message_id(message_id)
                   .request_body(ReplyMessageRequestBody.builder().msg_type(body["msg_type"])
                                 .content(_content(body)).reply_in_thread(in_thread).uuid(uuid).build())
                   .build())
        resp = await self._send(f"POST {MESSAGES}/{message_id}/reply", self._im.reply, request)
        return resp.data.message_id if resp.data else None

    async def patch(self, message_id: str, body: Mapping[str, Any]) -> None:
        """The card `message_id` redrawn in place (cards are sent with `update_multi`)."""
        request = (PatchMessageRequest.builder().message_id(message_id)
                   .request_body(PatchMessageRequestBody.builder().content(_content(body)).build())
                   .build())
        await self._send(f"PATCH {MESSAGES}/{message_id}", self._im.patch, request)

    async def _send(self, where: str, method: Callable[[Any, Any], Any], request: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="feishu-send")
        pool, loop = self._pool, asyncio.get_running_loop()

        async def attempt(token: str) -> Any:
            option = lark.RequestOption.builder().tenant_access_token(token).build()
            try:
                resp = await loop.run_in_executor(pool, method, request, option)
            except requests.RequestException as exc:
                raise unreachable(where, exc, timed_out=isinstance(exc, requests.Timeout)) from exc
            except (ValueError, UnmarshalException) as exc:
                # The SDK parses the answer before returning it, so one that is not Feishu's JSON (a
                # proxy's error page) comes without its status: taken as a passing failure.
                raise ApiError(f"{where}: answer is not Feishu's JSON", code=None, status=None,
                               retryable=True) from exc
            raw = resp.raw
            if raw.status_code == 200 and resp.code == 0:
                return resp
            raise classify(where, raw.status_code, resp.code, resp.msg or "", raw.headers)

        return await self._api.authorised(attempt)


def _content(body: Mapping[str, Any]) -> str:
    # Feishu takes the message content as a JSON string
    return json.dumps(body["content"], ensure_ascii=False)
