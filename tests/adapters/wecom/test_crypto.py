"""WeCom crypto against the public test vectors (official samples and wechatpy's deterministic one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.wecom.crypto import WeComCryptoError, WXBizMsgCrypt, signature

# a copy of shared/wecom-crypto-vectors.json (sources and provenance inside the file)
VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "wecom" / "crypto-vectors.json"


def _sets() -> list[dict]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))["vector_sets"]


def _cases(kind: str) -> list[tuple[dict, dict]]:
    return [pytest.param(s, c, id=f"{s['id']}-{c['timestamp']}")
            for s in _sets() for c in s["cases"] if c["kind"] == kind]


def _crypt(vset: dict, **kw) -> WXBizMsgCrypt:
    return WXBizMsgCrypt(token=vset["token"], encoding_aes_key=vset["encoding_aes_key"],
                         receive_id=vset["receive_id"], **kw)


def test_vectors_file_has_every_kind() -> None:
    kinds = {c["kind"] for s in _sets() for c in s["cases"]}
    assert {"verify_url", "decrypt_msg_xml", "decrypt_msg_json", "encrypt_reply_xml"} <= kinds


@pytest.mark.parametrize(("vset", "case"), _cases("verify_url"))
def test_verify_url(vset: dict, case: dict) -> None:
    crypt = _crypt(vset)
    plain = crypt.verify_url(case["msg_signature"], case["timestamp"], case["nonce"], case["echostr"])
    assert plain == case["expected_plaintext"]


@pytest.mark.parametrize(("vset", "case"), _cases("decrypt_msg_xml") + _cases("decrypt_msg_json"))
def test_decrypt_message(vset: dict, case: dict) -> None:
    crypt = _crypt(vset)
    assert signature(vset["token"], case["timestamp"], case["nonce"], case["encrypt"]) == case["msg_signature"]
    msg, receive_id = crypt.decrypt(case["encrypt"])
    assert msg == case["expected_plaintext"]
    assert receive_id == case["expected_receive_id"]
    if receive_id == vset["receive_id"]:
        assert crypt.decrypt_checked(case["msg_signature"], case["timestamp"], case["nonce"],
                                     case["encrypt"]) == msg


@pytest.mark.parametrize(("vset", "case"), _cases("decrypt_msg_xml"))
def test_encrypt_field_matches_post_body(vset: dict, case: dict) -> None:
    found = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", case["post_body"])
    assert found and found.group(1) == case["encrypt"]


@pytest.mark.parametrize(("vset", "case"), _cases("encrypt_reply_xml"))
def test_deterministic_encrypt(vset: dict, case: dict) -> None:
    prefix = case["random_prefix_ascii"].encode()
    crypt = _crypt(vset, random_bytes=lambda n: prefix[:n])
    envelope = crypt.encrypt_reply(case["reply_plaintext"], timestamp=case["timestamp"], nonce=case["nonce"])
    assert envelope == case["expected_envelope"]


@pytest.mark.parametrize(("vset", "case"), _cases("decrypt_msg_xml"))
def test_round_trip_with_random_prefix(vset: dict, case: dict) -> None:
    crypt = _crypt(vset)
    text = "报修：打印机卡纸 " * 7
    assert crypt.decrypt(crypt.encrypt(text)) == (text, vset["receive_id"])


def test_rejects_bad_signature_wrong_receiver_and_garbage() -> None:
    vset = _sets()[0]
    case = vset["cases"][1]
    crypt = _crypt(vset)
    with pytest.raises(WeComCryptoError, match="signature"):
        crypt.decrypt_checked("0" * 40, case["timestamp"], case["nonce"], case["encrypt"])
    other = WXBizMsgCrypt(token=vset["token"], encoding_aes_key=vset["encoding_aes_key"], receive_id="wwOTHER")
    with pytest.raises(WeComCryptoError, match="receive id"):
        other.decrypt_checked(case["msg_signature"], case["timestamp"], case["nonce"], case["encrypt"])
    with pytest.raises(WeComCryptoError):
        crypt.decrypt("not base64!!")
    with pytest.raises(WeComCryptoError):
        crypt.decrypt("QUJD")  # 3 bytes: not a whole block
    with pytest.raises(ValueError):
        WXBizMsgCrypt(token="t", encoding_aes_key="short", receive_id="x")
