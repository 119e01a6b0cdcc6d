"""Webhook security: our decryption/signature agree with lark-oapi's dispatcher; replay window and nonces."""

from __future__ import annotations

import json

import pytest

from adapters.feishu.security import Rejected, ReplayGuard, check_signature, check_token, decrypt, open_body
from tests.adapters.feishu.helpers import ENCRYPT_KEY, VERIFICATION_TOKEN, encrypt, message_event, signed


@pytest.fixture(scope="module")
def lark():
    import lark_oapi

    return lark_oapi


def sdk_dispatch(lark, body: bytes, headers: dict[str, str]) -> tuple[int, list]:
    from lark_oapi.core.model import RawRequest

    seen: list = []
    handler = (lark.EventDispatcherHandler.builder(ENCRYPT_KEY, VERIFICATION_TOKEN)
               .register_p2_customized_event("im.message.receive_v1", seen.append).build())
    req = RawRequest()
    req.uri = "/feishu/events"
    req.headers = dict(headers)  # the SDK reads these with case-sensitive dict.get
    req.body = body
    return handler.do(req).status_code, seen


def test_test_encryption_matches_the_sdk_and_ours(lark):
    from lark_oapi.core.utils import AESCipher

    plain = json.dumps({"hello": "世界"}, ensure_ascii=False)
    token = encrypt(plain.encode())
    assert AESCipher(ENCRYPT_KEY).decrypt_str(token) == plain
    assert decrypt(ENCRYPT_KEY, token).decode() == plain


def test_signed_request_accepted_by_both_and_tampering_rejected_by_both(lark):
    body, headers = signed(message_event("ev1", "help"), timestamp="1763802840", nonce="n1")
    status, seen = sdk_dispatch(lark, body, headers)
    assert status == 200 and seen[0].header.event_id == "ev1"
    assert check_signature(headers, ENCRYPT_KEY, body) == ("1763802840", "n1")
    assert open_body(body, ENCRYPT_KEY)["header"]["event_id"] == "ev1"

    forged = dict(headers, **{"X-Lark-Signature": "0" * 64})
    assert sdk_dispatch(lark, body, forged)[0] == 500  # the SDK says 500; we answer 401
    with pytest.raises(Rejected) as err:
        check_signature(forged, ENCRYPT_KEY, body)
    assert err.value.status == 401


def test_sdk_does_not_check_freshness_so_we_do(lark):
    body, headers = signed(message_event("ev1", "help"), timestamp="1", nonce="n1")
    assert sdk_dispatch(lark, body, headers)[0] == 200
    with pytest.raises(Rejected) as err:
        ReplayGuard(window_seconds=300, now=lambda: 1763802840.0).reserve("1", "n1")
    assert err.value.status == 401


def test_sdk_skips_the_token_of_a_signed_event_without_one_we_do_not(lark):
    # with an encrypt key the dispatcher checks header.token only when the event has one
    event = message_event("ev1", "help")
    del event["header"]["token"]
    body, headers = signed(event, timestamp="1763802840", nonce="n1")
    assert sdk_dispatch(lark, body, headers)[0] == 200
    with pytest.raises(Rejected) as err:
        check_token(open_body(body, ENCRYPT_KEY), VERIFICATION_TOKEN)
    assert err.value.status == 401


def test_sdk_header_lookup_is_case_sensitive(lark):
    # why the route reads Starlette's case-insensitive headers, never a dict copy of them
    body, headers = signed(message_event("ev1", "help"), timestamp="1763802840", nonce="n1")
    lower = {k.lower(): v for k, v in headers.items()}
    assert sdk_dispatch(lark, body, lower)[0] == 500
    assert check_signature(CaseInsensitive(lower), ENCRYPT_KEY, body) == ("1763802840", "n1")


class CaseInsensitive(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)


def test_replay_guard_window_nonce_release_and_expiry():
    now = [1000.0]
    guard = ReplayGuard(window_seconds=300, now=lambda: now[0])
    key = guard.reserve("1000", "a")
    with pytest.raises(Rejected, match="replayed"):
        guard.reserve("1000", "a")
    guard.release(key)
    guard.reserve("1000", "a")  # a released nonce (failed delivery) may come again
    guard.reserve("1000", "b")
    with pytest.raises(Rejected, match="window"):
        guard.reserve("699", "c")
    with pytest.raises(Rejected) as err:
        guard.reserve("soon", "d")
    assert err.value.status == 400
    now[0] = 1301.0  # "1000" is outside the window now: its nonces are purged, and refused anyway
    guard.reserve("1300", "x")
    assert set(guard._seen) == {"1300:x"}


def test_replay_guard_is_bounded():
    guard = ReplayGuard(window_seconds=300, max_nonces=2, now=lambda: 1000.0)
    guard.reserve("1000", "a")
    guard.reserve("1000", "b")
    with pytest.raises(Rejected):
        guard.reserve("1000", "c")
