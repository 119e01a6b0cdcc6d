"""The bilingual IT vocabulary: surface forms (Chinese, English, abbreviations, typos) mapped to concept ids."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from knowledge.normalise import BOUNDARY, normalise, units

DEFAULT_PATH = Path(__file__).with_name("vocabulary.toml")

Form = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Span:
    """A vocabulary form found in a text: units[start:end]; concepts is empty for filler (greetings etc.)."""

    start: int
    end: int
    concepts: tuple[str, ...]


class Vocabulary:
    """Longest-match lookup of forms over a unit sequence (see knowledge.normalise.units)."""

    def __init__(
        self,
        concepts: dict[str, list[str]],
        filler: list[str],
        *,
        symptoms: frozenset[str] = frozenset(),
        idioms: frozenset[str] = frozenset(),
    ) -> None:
        # Symptoms (locked, slow, cannot connect...) say what is wrong; the other concepts say what it is
        # about (printer, VPN, badge). An answer about something else is wrong even if the symptom fits.
        self.symptoms = frozenset(symptoms)
        self.concepts: dict[str, tuple[str, ...]] = {}
        raw: dict[Form, set[str]] = {}
        for concept_id in sorted(concepts):
            forms = tuple(dict.fromkeys(concepts[concept_id]))
            self.concepts[concept_id] = forms
            for form in forms:
                key = self._key(form)
                if key:
                    raw.setdefault(key, set()).add(concept_id)
        for form in filler:
            key = self._key(form)
            if key and key not in raw:
                raw[key] = set()
        forms: dict[Form, tuple[str, ...]] = {key: tuple(sorted(ids)) for key, ids in raw.items()}
        # Forms are matched on an encoded string, one character per unit: CJK characters and BOUNDARY stand
        # for themselves, each vocabulary word gets a private-use character, any other word is "\x01".
        # Slicing one string is much cheaper than building tuples, and indexing scans every article body.
        words = sorted({u for key in forms for u in key if len(u) > 1 or (u.isascii() and u.isalnum())})
        if len(words) > 0x1900:
            raise ValueError("vocabulary has too many distinct words")
        self._codes: dict[str, str] = {word: chr(0xE000 + i) for i, word in enumerate(words)}
        self._forms: dict[str, tuple[str, ...]] = {self._encode(key): ids for key, ids in forms.items()}
        self._max_len: dict[str, int] = {}
        for key in self._forms:
            self._max_len[key[0]] = max(self._max_len.get(key[0], 0), len(key))
        self._pairs = {key[:2] for key in self._forms if len(key) >= 2}
        # A compound form also means what its parts mean: "改密码" is change + password,
        # "printer offline" is printer + offline. Resolved once here so lookups stay a dict hit.
        # Idioms ("卡成ppt": very slow, nothing to do with PowerPoint) mean only what they are listed under.
        literal = {self._encode(self._key(form)) for form in idioms}
        composed: dict[str, tuple[str, ...]] = {}
        for key, ids in self._forms.items():
            if len(key) > 1 and ids and key not in literal:
                parts = {c for span in self._scan_encoded(key, whole=False) for c in span.concepts}
                composed[key] = tuple(sorted(set(ids) | parts))
        self._forms.update(composed)
        self.single_words: tuple[str, ...] = tuple(
            sorted(
                k[0] for k, ids in forms.items() if len(k) == 1 and ids and k[0].isascii() and len(k[0]) >= 4
            )
        )

    def _encode(self, seq: list[str] | tuple[str, ...]) -> str:
        codes = self._codes
        return "".join([codes.get(u) or (u if len(u) == 1 else "\x01") for u in seq])

    @staticmethod
    def _key(form: str) -> Form:
        seq = units(normalise(form))
        while seq and seq[0] == BOUNDARY:
            seq.pop(0)
        while seq and seq[-1] == BOUNDARY:
            seq.pop()
        return tuple(seq)

    def lookup(self, form: str) -> tuple[str, ...] | None:
        """Concept ids of one surface form ((), for filler), or None when the form is not in the vocabulary."""
        return self._forms.get(self._encode(self._key(form)))

    def scan_encoded(self, seq: list[str] | tuple[str, ...]) -> tuple[str, list[Span]]:
        """Greedy longest-match spans over a unit sequence, left to right, and the encoded text
        (one character per unit; CJK stays itself)."""
        text = self._encode(seq)
        return text, self._scan_encoded(text, whole=True)

    def _scan_encoded(self, text: str, *, whole: bool) -> list[Span]:
        spans: list[Span] = []
        forms, max_len, pairs = self._forms, self._max_len, self._pairs
        n, i = len(text), 0
        while i < n:
            longest = max_len.get(text[i], 0)
            if longest > 1 and text[i : i + 2] not in pairs:
                longest = 1  # no longer form starts with these two units: skip the slicing below
            if longest:
                if i + longest > n:
                    longest = n - i
                if not whole and i == 0:
                    longest = min(longest, n - 1)
                for length in range(longest, 0, -1):
                    ids = forms.get(text[i : i + length])
                    if ids is not None:
                        spans.append(Span(i, i + length, ids))
                        i += length
                        break
                else:
                    i += 1
            else:
                i += 1
        return spans


def load(path: str | Path | None = None) -> Vocabulary:
    with open(path or DEFAULT_PATH, "rb") as handle:
        data = tomllib.load(handle)
    concepts: dict[str, list[str]] = {}
    symptoms: set[str] = set()
    idioms: set[str] = set()
    for concept_id, entry in data.get("concepts", {}).items():
        concepts[concept_id] = [
            form for values in entry.values() if isinstance(values, list) for form in values
        ]
        idioms.update(entry.get("idioms", []))
        kind = entry.get("kind", "topic")
        if kind not in ("topic", "symptom"):
            raise ValueError(f"concept {concept_id}: kind must be topic or symptom, not {kind!r}")
        if kind == "symptom":
            symptoms.add(concept_id)
    filler = [form for values in data.get("filler", {}).values() for form in values]
    return Vocabulary(concepts, filler, symptoms=frozenset(symptoms), idioms=frozenset(idioms))


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The shipped vocabulary, loaded once on first use (about 20 ms)."""
    return load()
