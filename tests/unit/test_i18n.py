"""User-facing strings: every key in English and Chinese with the same placeholders; language detection."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from core import i18n
from core.help import COMMANDS
from core.i18n import EN, ZH, detect_lang, norm_lang, status_name, t

ROOT = Path(__file__).resolve().parents[2]
_FORMATTER = string.Formatter()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name}


@pytest.mark.parametrize("key", sorted(i18n._T))
def test_every_key_has_both_languages_with_the_same_placeholders(key: str) -> None:
    en, zh = i18n._T[key]
    assert en.strip() and zh.strip()
    assert placeholders(en) == placeholders(zh)
    if key not in ("nobody",):
        assert en != zh or not re.search(r"[A-Za-z]{3,}", en), "Chinese text is still English"


def test_status_names_and_help_exist_in_both_languages() -> None:
    for status, (en, zh) in i18n.STATUS_NAMES.items():
        assert en and zh and re.search(r"[\u4e00-\u9fff]", zh), status
        assert status_name(status, ZH) == zh and status_name(status, EN) == en
    for verb, (en_usage, en_desc, zh_usage, zh_desc) in COMMANDS.items():
        assert all((en_usage, en_desc, zh_usage, zh_desc)), verb
        assert re.search(r"[\u4e00-\u9fff]", zh_desc), verb


def test_every_message_key_used_in_code_exists() -> None:
    used: set[str] = set()
    for path in [*(ROOT / "core").glob("*.py"), *(ROOT / "bot").glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"(?<![\w.])t\(\s*\"([a-z_]+\.[a-z_.]+)\"", source))
        used |= set(re.findall(r"Refusal\(\s*\"([a-z_]+\.[a-z_.]+)\"", source))
        used |= {m for m in re.findall(r"\"@((?:action|role|link)\.[a-z_]+)\"", source)}
        used |= set(re.findall(r"tell_team\([^\"]*\"([a-z_]+\.[a-z_.]+)\"", source))
    assert used, "the scan found nothing: the pattern is stale"
    missing = sorted(k for k in used if not i18n.has(k))
    assert missing == []


def test_translation_formats_arguments_and_localises_references() -> None:
    assert t("ticket.claimed", EN, who="Wang", key="IT-1") == "Wang claimed IT-1."
    assert t("ticket.claimed", ZH, who="王", key="IT-1") == "王 认领了 IT-1。"
    refused = t("transition.refused", ZH, key="IT-1", status="@status.closed", action="@action.claim")
    assert refused == "IT-1 当前为「已关闭」，无法认领。"
    assert t("perm.refused", EN, roles="@role.lead", action="@action.assign") == "Sorry, only leads can assign."


@pytest.mark.parametrize("text, default, expected", [
    ("hello there", ZH, EN), ("你好", EN, ZH), ("vpn 断了", EN, ZH), ("claim IT-3 谢谢", EN, ZH),
    ("/ticket claim IT-12", ZH, EN), ("IT-12", ZH, ZH), ("IT-12", EN, EN), ("12", ZH, ZH), ("", EN, EN),
    ("👍", ZH, ZH), ("@Bot 电脑坏了", EN, ZH),
])
def test_detect_lang(text: str, default: str, expected: str) -> None:
    assert detect_lang(text, default) == expected


def test_a_mentioned_chinese_name_does_not_decide_the_language() -> None:
    assert detect_lang("@张三 can you check my laptop", ZH) == EN


def test_norm_lang() -> None:
    assert norm_lang("zh") == ZH and norm_lang("zh-TW") == ZH and norm_lang("en-US") == EN
    assert norm_lang(None, EN) == EN and norm_lang("", ZH) == ZH
