"""Masking: secrets pasted into chat are hidden before they are stored or shown."""

from __future__ import annotations

import pytest

from core.masking import MASK, mask_secrets


@pytest.mark.parametrize("text, secret", [
    ("my password is hunter22", "hunter22"),
    ("pwd=abc123", "abc123"),
    ("Password: Qwer1234!", "Qwer1234!"),
    ("密码是 abc123", "abc123"),
    ("密码：Qwer1234!", "Qwer1234!"),
    ("口令：xyz99", "xyz99"),
    ("the pin is 1234", "1234"),
    ("otp: 884422", "884422"),
    ("token xoxb-1234567890-abcdefgh", "xoxb-1234567890-abcdefgh"),
    ("key ghp_abcdefghijklmnopqrstuvwxyz123456", "ghp_abcdefghijklmnopqrstuvwxyz123456"),
    ("AKIAABCDEFGHIJKLMNOP in the log", "AKIAABCDEFGHIJKLMNOP"),
    ("sk-live_0123456789abcdefABCDEF", "sk-live_0123456789abcdefABCDEF"),
    ("sha " + "a1" * 24, "a1" * 24),
])
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert MASK in masked


def test_private_key_block_is_masked_whole() -> None:
    text = "here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\ndef\n-----END RSA PRIVATE KEY-----\nthanks"
    masked = mask_secrets(text)
    assert "MIIEabc" not in masked and "def\n" not in masked
    assert masked.startswith("here:") and masked.endswith("thanks")


@pytest.mark.parametrize("text", ["Printer on floor 3 is jammed", "I forgot my password", "email me at a@b.com",
                                  "VPN drops every 10 minutes", "", "打印机卡纸了"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert mask_secrets(text) == text


def test_masking_is_idempotent() -> None:
    once = mask_secrets("password: hunter22 and token xoxb-1234567890-abcdefgh")
    assert mask_secrets(once) == once


@pytest.mark.parametrize("text", ["my password does not work", "password reset for alice", "pinned tabs vanish",
                                  "验证码收不到", "OTP not received"])
def test_talking_about_a_password_is_not_a_secret(text: str) -> None:
    assert mask_secrets(text) == text


def test_links_survive() -> None:
    url = "https://wiki.example.com/display/IT/how-to-reset-vpn-profile-on-mac"
    assert mask_secrets(f"see {url}") == f"see {url}"
