"""Mask secrets people paste into chat (passwords, tokens, keys) before they are stored or shown, and
drop the control characters no text column takes (PostgreSQL refuses NUL)."""

from __future__ import annotations

import re

from core.jsontext import valid_text

MASK = "••••••"

# words that follow "password is ..." when people talk about a password rather than paste one
_TALK = (r"(?!(?:not|no|wrong|expired|incorrect|invalid|locked|correct|too|still|the|my|a|an|reset|changed|"
         r"working|blocked|错误|过期|不对|不正确|被锁|忘了|忘记)\b)")

_PATTERNS = [
    # "password: hunter2", "pwd=abc", "my password is hunter2", "密码是 abc123", "口令：xyz"
    re.compile(r"(?i)((?:password|passwd|pwd|passcode|pin|otp|验证码|密码|口令)\s*(?:\bis\b|是|为|:|：|=)\s*)"
               + _TALK + r"(\S{3,})"),
    # Slack / GitHub / cloud style tokens and private keys
    re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]{10,})"),
    re.compile(r"\b((?:sk|pk|ghp|gho|github_pat|AKIA)[-_A-Za-z0-9]{16,})"),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"),
    # long opaque secrets: 32+ letters and digits mixed, not part of a path or link
    re.compile(r"(?<![/\w.:-])((?=[A-Za-z0-9+_-]*\d)(?=[A-Za-z0-9+_-]*[A-Za-z])[A-Za-z0-9+_-]{32,}={0,2})"
               r"(?![\w/.-])"),
]


def mask_secrets(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and carriage return stay


def storable(text: str) -> str:
    """Text any text column takes: control characters dropped, half an emoji made U+FFFD."""
    return _CONTROLS.sub("", valid_text(text))
