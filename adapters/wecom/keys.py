"""Button keys: encode a button's action id and id-only value into a WeCom card key, and back."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

# WeCom template_card button_list[].key: "最长支持1024字节"; button_selection option ids: 128 bytes
# (developer.work.weixin.qq.com/document/path/90236, 模板卡片消息 / 按钮交互型).
MAX_KEY_BYTES = 1024
MAX_OPTION_ID_BYTES = 128

# Reserved key of the "confirm" button that submits the overflow selector (cards with > 6 buttons).
MORE_KEY = "~more"
MORE_QUESTION = "more"


def encode_key(action_id: str, value: Mapping[str, str]) -> str:
    """`ticket.claim?ticket=12`: the action id, then the value as a sorted query string.

    Reversible for any str->str mapping (urlencode escapes "?", "&", "=" and non-ASCII)."""
    if not action_id or "?" in action_id or action_id.startswith("~"):
        raise ValueError(f"unusable action id {action_id!r}")
    key = action_id + ("?" + urlencode(sorted(value.items())) if value else "")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"button key for {action_id} exceeds {MAX_KEY_BYTES} bytes")
    return key


def decode_key(key: str) -> tuple[str, dict[str, str]] | None:
    """Inverse of encode_key; None for keys deskbot did not write."""
    if not key or key.startswith("~"):
        return None
    action_id, sep, query = key.partition("?")
    if not action_id:
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if sep and query else []
    except ValueError:
        return None
    return action_id, dict(pairs)
