"""Text normalisation and the vocabulary's longest-match scan."""

from __future__ import annotations

import pytest

from knowledge.matcher import analyse
from knowledge.normalise import BOUNDARY, normalise, stem, units
from knowledge.vocabulary import default_vocabulary, load


def test_full_width_case_mentions_emoji_and_urls() -> None:
    text = "@IT助手 ＶＰＮ连不上！！😭👍🏻 see https://example.com/x?a=1 @bob.smith ok"
    assert normalise(text) == "vpn连不上!! see ok"


def test_mention_inside_an_address_is_kept() -> None:
    assert normalise("access to finance-ap@ mailbox") == "access to finance-ap@ mailbox"


def test_units_split_words_and_chinese_characters() -> None:
    assert units(normalise("Wi-Fi断了, printers won't print")) == [
        "wifi",
        "断",
        "了",
        BOUNDARY,
        "printer",
        "wont",
        "print",
    ]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("printers", "printer"),
        ("dropping", "drop"),
        ("crashes", "crash"),
        ("freezing", "freez"),
        ("access", "access"),
    ],
)
def test_stem_folds_plurals_and_verb_forms(word: str, expected: str) -> None:
    assert stem(word) == expected


def concepts(text: str) -> set[str]:
    return {t[2:] for t in analyse(text, default_vocabulary()).terms if t.startswith("c:")}


def test_same_concepts_across_languages_abbreviations_and_typos() -> None:
    assert {"password", "forgot"} <= concepts("pwd忘了")
    assert {"password", "forgot"} <= concepts("I forgot my password")
    assert "wifi" in concepts("wifi") and "wifi" in concepts("Wi-Fi") and "wifi" in concepts("无线网")
    assert "bsod" in concepts("蓝屏") and "bsod" in concepts("BSOD") and "bsod" in concepts("blue screen")
    assert (
        "access_card" in concepts("门禁卡")
        and "access_card" in concepts("工卡")
        and "access_card" in concepts("badge")
    )
    assert "printer" in concepts("打印机") and "printer" in concepts("Printer")


def test_greetings_and_politeness_leave_nothing() -> None:
    for text in ["你好", "hi there, thanks a lot!", "谢谢 👍", "@ITbot 在吗？", "ok 收到", "早上好 辛苦了"]:
        assert analyse(text, default_vocabulary()).terms == {}, text


def test_compound_forms_mean_their_parts_and_idioms_do_not() -> None:
    vocabulary = default_vocabulary()
    assert set(vocabulary.lookup("改密码") or ()) >= {"change", "password"}
    assert "ms_office" not in (vocabulary.lookup("卡成ppt") or ())
    assert vocabulary.lookup("你好") == ()
    assert vocabulary.lookup("no such form here") is None


def test_concept_kind_is_validated(tmp_path) -> None:
    path = tmp_path / "v.toml"
    path.write_text('[concepts.x]\nkind = "mood"\nen = ["x"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="kind must be topic or symptom"):
        load(path)
