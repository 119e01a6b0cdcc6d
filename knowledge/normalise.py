"""Text normalisation for matching: width, case, @mentions, emoji, and splitting into word/character units."""

from __future__ import annotations

import re
import unicodedata

# A unit is an ASCII/Latin word, one CJK character, or BOUNDARY (punctuation: phrases never span it).
BOUNDARY = "|"

# "@name " up to the next space, else an ASCII handle ("@bob很急"); not "finance-ap@" inside an address.
_MENTION_RE = re.compile(r"(?<![\w.])@(?:[^\s@]{1,16}(?=\s|$)|[A-Za-z0-9_.\-]+)")
_URL_RE = re.compile(r"https?://\S+")
_SPACE_RE = re.compile(r"\s+")
_LATIN = "0-9a-z\u00c0-\u024f"
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Emoji and pictographs are "So"/"Sk"; joiners and variation selectors glue emoji sequences.
_DROP_CATEGORIES = {"So", "Sk", "Cs", "Co", "Cn", "Cf", "Mn", "Me"}


_ODD_CHAR_RE = re.compile(r"[^\x00-\x7f\u3400-\u4dbf\u4e00-\u9fff]")


def _drop_odd(match: re.Match[str]) -> str:
    return " " if unicodedata.category(match.group(0)) in _DROP_CATEGORIES else match.group(0)


def normalise(text: str) -> str:
    """Lower-case, full-width to half-width (NFKC), no @mentions, URLs or emoji, single spaces."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _MENTION_RE.sub(" ", text)
    text = _URL_RE.sub(" ", text)
    text = _ODD_CHAR_RE.sub(_drop_odd, text.lower())  # only non-ASCII, non-CJK characters need a look
    return _SPACE_RE.sub(" ", text).strip()


def stem(word: str) -> str:
    """A light English stemmer (plurals, -ing, -ed, final e) applied alike to articles, queries and vocabulary."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # dropping -> drop, but keep "install", "access"
            break
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]  # crashes/crash, freeze/freezing
    return word


_RUN_RE = re.compile(
    rf"([{_LATIN}]+(?:['\u2019\-][{_LATIN}]+)*)"  # a word; "wi-fi" and "won't" stay one word
    r"|([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)"  # a run of CJK ideographs, one unit each
    r"|\S"  # anything else: punctuation, symbols
)
_STEMS: dict[str, str] = {}


def units(text: str) -> list[str]:
    """Split already-normalised text into units (stemmed words, single CJK characters, BOUNDARY)."""
    out: list[str] = []
    stems = _STEMS
    for word, run in _RUN_RE.findall(text):
        if word:
            unit = stems.get(word)
            if unit is None:
                unit = stem(word.replace("-", "").replace("'", "").replace("\u2019", ""))
                if len(stems) < 200_000:  # a bounded cache: stemming is the hot path of indexing
                    stems[word] = unit
            out.append(unit)
        elif run:
            out.extend(run)
        elif not out or out[-1] != BOUNDARY:
            out.append(BOUNDARY)
    return out
