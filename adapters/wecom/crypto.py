"""WeCom callback crypto (WXBizMsgCrypt): msg_signature, AES-256-CBC envelope, receive id check."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeCom doc 加解密方案说明 (developer.work.weixin.qq.com/document/path/90968): PKCS#7 padding is to
# 32-byte blocks, not the AES block size of 16, so the standard padder cannot be used.
_BLOCK = 32


class WeComCryptoError(Exception):
    """A callback failed verification; `reason` is safe to log (never contains secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature = sha1 of the four strings sorted and concatenated."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def _pad(data: bytes) -> bytes:
    n = _BLOCK - len(data) % _BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data:
        raise WeComCryptoError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= _BLOCK or data[-n:] != bytes([n]) * n:
        raise WeComCryptoError("bad padding")
    return data[:-n]


class WXBizMsgCrypt:
    """Verify, decrypt and encrypt WeCom callback payloads for one (token, key, receive id)."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            self._key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not valid base64") from exc
        self._token = token
        self._receive_id = receive_id
        self._random = random_bytes

    @property
    def receive_id(self) -> str:
        return self._receive_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise WeComCryptoError("bad msg_signature")

    def decrypt(self, encrypt: str) -> tuple[str, str]:
        """Decrypt an `Encrypt` / `echostr` value: (message, receive id). No signature check."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeComCryptoError("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise WeComCryptoError("ciphertext length is not a multiple of 16")
        dec = self._cipher().decryptor()
        plain = _unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise WeComCryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeComCryptoError("bad message length")
        try:
            msg = plain[20:20 + length].decode("utf-8")
            receive_id = plain[20 + length:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeComCryptoError("plaintext is not UTF-8") from exc
        return msg, receive_id

    def decrypt_checked(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Verify the signature, decrypt and check the receive id against ours."""
        self.verify(msg_signature, timestamp, nonce, encrypt)
        msg, receive_id = self.decrypt(encrypt)
        if not hmac.compare_digest(receive_id.encode(), self._receive_id.encode()):
            raise WeComCryptoError("receive id does not match the corp id")
        return msg

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The GET URL check: the decrypted echostr is the answer."""
        return self.decrypt_checked(msg_signature, timestamp, nonce, echostr)

    def encrypt(self, msg: str) -> str:
        body = msg.encode("utf-8")
        plain = self._random(16) + struct.pack(">I", len(body)) + body + self._receive_id.encode()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(_pad(plain)) + enc.finalize()).decode()

    def encrypt_reply(self, msg: str, *, timestamp: str, nonce: str) -> str:
        """A passive reply envelope (XML) as WeCom expects it back from a callback."""
        encrypt = self.encrypt(msg)
        sig = signature(self._token, timestamp, nonce, encrypt)
        return ("<xml>\n"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
                f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>\n"
                f"<TimeStamp>{timestamp}</TimeStamp>\n"
                f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
                "</xml>")
