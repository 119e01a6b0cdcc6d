"""The article matcher: concept + token inverted index, idf-weighted coverage score, abstains when unsure."""

from __future__ import annotations

import heapq
import math
import re
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from knowledge.articles import Article
from knowledge.normalise import normalise, units
from knowledge.vocabulary import Vocabulary, default_vocabulary

# How much an article "says" a term, by the field it appears in. Titles, aliases and tags are written to
# describe the problem; the body also mentions neighbouring topics, so it counts for less.
FIELD_WEIGHTS = {"title": 1.0, "aliases": 1.0, "tags": 0.9, "category": 0.3}
BODY_WEIGHT, BODY_WEIGHT_STEP, BODY_WEIGHT_MAX = 0.3, 0.1, 0.6
# How much a query term counts. Concepts come from the curated vocabulary; Chinese character bigrams are
# a blunt segmentation (many straddle two words), so they count for less.
QUERY_WEIGHTS = {"c": 1.0, "w": 1.0, "b": 0.6}
# A bigram no article contains is almost always a segmentation artefact ("两次了" -> "次了"), not a topic.
UNKNOWN_BIGRAM_WEIGHT = 0.1

DEFAULT_THRESHOLD = 0.4
# Hits much weaker than the best one are noise next to it.
RELATIVE_CUTOFF = 0.5
# Query terms an article does not mention count against it at this fraction of their weight: messages carry
# words no article uses (names, places, feelings), and an answer should not need to echo every one. A topic
# vocabulary concept the article does not cover counts fully: concepts are what the message is about.
UNMATCHED_WEIGHT = 0.5
# The message names what it is about (printer, VPN, chair) and the article covers none of it: an answer about
# something else, even when the symptom words fit.
OFF_TOPIC_FACTOR = 0.5
# At least this much matched evidence (sum of idf-scaled term weights) before anything is suggested.
MIN_EVIDENCE = 0.35
RERANK_DEPTH = 30
FUZZY_BONUS = 0.15
TYPO_CUTOFF = 85.0
TYPO_MIN_LEN = 5
COMPACT_RATIO = 0.25


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a text says for matching: terms ("c:" concept, "w:" word, "b:" CJK bigram) with counts."""

    terms: Counter[str]
    text: str


_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_WORD_CODE_RE = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff|]")


def analyse(text: str, vocabulary: Vocabulary) -> Analysis:
    norm = normalise(text)
    seq = units(norm)
    encoded, spans = vocabulary.scan_encoded(seq)
    terms: Counter[str] = Counter()
    gaps: list[tuple[int, int]] = []
    position = 0
    for span in spans:
        for concept in span.concepts:
            terms["c:" + concept] += 1
        if span.start > position:
            gaps.append((position, span.start))
        position = span.end
    if position < len(seq):
        gaps.append((position, len(seq)))
    # What the vocabulary does not know: words as they are, Chinese as overlapping character bigrams.
    for start, end in gaps:
        gap = encoded[start:end]
        for run in _CJK_RUN_RE.findall(gap):
            terms.update(["b:" + run[k : k + 2] for k in range(len(run) - 1)])
        for match in _WORD_CODE_RE.finditer(gap):
            unit = seq[start + match.start()]
            if len(unit) >= 2 and not any(ch.isdigit() for ch in unit):
                terms["w:" + unit] += 1
    return Analysis(terms=terms, text=norm)


def article_terms(article: Article, vocabulary: Vocabulary) -> dict[str, float]:
    """Term -> weight in [0, 1] for one article (the strongest field wins)."""
    weights: dict[str, float] = {}

    def mark(text: str, weight: float) -> None:
        for term in analyse(text, vocabulary).terms:
            if weights.get(term, 0.0) < weight:
                weights[term] = weight

    mark(article.title, FIELD_WEIGHTS["title"])
    for alias in article.aliases:
        mark(alias, FIELD_WEIGHTS["aliases"])
    for tag in article.tags:
        mark(tag, FIELD_WEIGHTS["tags"])
    if article.category:
        mark(article.category, FIELD_WEIGHTS["category"])
    for term, count in analyse(article.body, vocabulary).terms.items():
        weight = min(BODY_WEIGHT_MAX, BODY_WEIGHT + BODY_WEIGHT_STEP * (count - 1))
        if weights.get(term, 0.0) < weight:
            weights[term] = weight
    return weights


def _key_words(weights: dict[str, float]) -> list[str]:
    """Words from an article's title, aliases or tags (body words weigh less): typo-correction targets."""
    key = FIELD_WEIGHTS["tags"]
    return [
        t[2:] for t, w in weights.items() if w >= key and t.startswith("w:") and len(t) - 2 >= TYPO_MIN_LEN
    ]


class Matcher:
    """Finds the articles that answer a message. Thread-safe; `upsert`/`remove` take effect immediately."""

    def __init__(
        self,
        articles: Iterable[Article] = (),
        *,
        vocabulary: Vocabulary | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.vocabulary = vocabulary or default_vocabulary()
        self.threshold = threshold
        self._lock = threading.RLock()
        self._slots: list[Article | None] = []
        self._slot_of: dict[str, int] = {}
        self._postings: dict[str, tuple[array, array]] = {}
        self._df: Counter[str] = Counter()
        self._key_words: Counter[str] = Counter()  # words of titles/aliases/tags: typo-correction targets
        self._typo_choices: list[str] | None = None
        self._fuzzy_keys: dict[int, list[str]] = {}
        self._dead = 0
        for article in articles:
            self._add(article)

    # ------------------------------------------------------------------ index maintenance

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._slot_of

    def get(self, article_id: str) -> Article | None:
        slot = self._slot_of.get(article_id)
        return None if slot is None else self._slots[slot]

    def articles(self) -> list[Article]:
        with self._lock:
            return sorted((a for a in self._slots if a is not None), key=lambda a: a.id)

    def upsert(self, article: Article) -> None:
        """Add an article or replace the one with the same id."""
        with self._lock:
            current = self.get(article.id)
            if current is not None and current.checksum == article.checksum:
                return
            if current is not None:
                self._drop(article.id)
            self._add(article)
            self._maybe_compact()

    def remove(self, article_id: str) -> bool:
        with self._lock:
            if article_id not in self._slot_of:
                return False
            self._drop(article_id)
            self._maybe_compact()
            return True

    def _key_texts(self, article: Article) -> list[str]:
        return [article.title, *article.aliases, *article.tags]

    def _add(self, article: Article) -> None:
        if article.id in self._slot_of:
            self._drop(article.id)
        slot = len(self._slots)
        self._slots.append(article)
        self._slot_of[article.id] = slot
        weights = article_terms(article, self.vocabulary)
        postings, df = self._postings, self._df
        for term, weight in weights.items():
            entry = postings.get(term)
            if entry is None:
                entry = postings[term] = (array("i"), array("B"))
            entry[0].append(slot)
            entry[1].append(round(weight * 100))
            df[term] += 1
        self._key_words.update(_key_words(weights))
        self._typo_choices = None

    def _drop(self, article_id: str) -> None:
        slot = self._slot_of.pop(article_id)
        article = self._slots[slot]
        assert article is not None
        self._slots[slot] = None
        self._dead += 1
        self._fuzzy_keys.pop(slot, None)
        # Postings keep the dead slot until compaction; document frequencies must be right at once.
        weights = article_terms(article, self.vocabulary)
        for term in weights:
            self._df[term] -= 1
            if self._df[term] <= 0:
                del self._df[term]
        for word in _key_words(weights):
            self._key_words[word] -= 1
            if self._key_words[word] <= 0:
                del self._key_words[word]
        self._typo_choices = None

    def _maybe_compact(self) -> None:
        if self._dead < 64 or self._dead < COMPACT_RATIO * len(self._slots):
            return
        live = [a for a in self._slots if a is not None]
        self._slots, self._slot_of, self._postings, self._df = [], {}, {}, Counter()
        self._key_words, self._fuzzy_keys, self._dead = Counter(), {}, 0
        for article in live:
            self._add(article)

    # ------------------------------------------------------------------ search

    def _idf(self, term: str) -> float:
        """Inverse document frequency scaled to (0, 1]; a term no article uses gets the full 1."""
        n = len(self._slot_of)
        df = self._df.get(term, 0)
        top = math.log(1 + (n + 0.5) / 0.5)
        return math.log(1 + (n - df + 0.5) / (df + 0.5)) / top

    def _correct_typos(self, terms: Counter[str]) -> Counter[str]:
        """Replace unknown English words with the nearest vocabulary form or article keyword ("pritner")."""
        if self._typo_choices is None:
            self._typo_choices = sorted(set(self.vocabulary.single_words) | set(self._key_words))
        fixed: Counter[str] = Counter()
        for term, count in terms.items():
            word = term[2:]
            if term.startswith("w:") and len(word) >= TYPO_MIN_LEN and term not in self._df:
                best = process.extractOne(
                    word, self._typo_choices, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF
                )
                if best is not None:
                    concepts = self.vocabulary.lookup(best[0])
                    if concepts:
                        for concept in concepts:
                            fixed["c:" + concept] += count
                        continue
                    if concepts is None:
                        fixed["w:" + best[0]] += count
                        continue
            fixed[term] += count
        return fixed

    def _fuzzy_similarity(self, slot: int, query_text: str) -> float:
        keys = self._fuzzy_keys.get(slot)
        if keys is None:
            article = self._slots[slot]
            assert article is not None
            keys = self._fuzzy_keys[slot] = [normalise(t) for t in self._key_texts(article)]
        best = process.extractOne(query_text, keys, scorer=fuzz.token_set_ratio)
        return 0.0 if best is None else best[1] / 100.0

    def _weigh(self, terms: Counter[str]) -> list[tuple[float, float, bool, str]]:
        """(weight, unmatched penalty, is topic, term) per query term, strongest first, ties by term."""
        out = []
        for term in terms:
            kind = term[0]
            weight = QUERY_WEIGHTS[kind] * self._idf(term)
            if kind == "b" and term not in self._df:
                weight = UNKNOWN_BIGRAM_WEIGHT * self._idf(term)
            topic = kind == "c" and term[2:] not in self.vocabulary.symptoms
            out.append((weight, 1.0 if kind == "c" else UNMATCHED_WEIGHT, topic, term))
        out.sort(key=lambda wpt: (-wpt[0], wpt[3]))
        return out

    def explain(self, query: str) -> dict[str, float]:
        """Query terms with their weights, for tuning and `kb search --explain`."""
        with self._lock:
            terms = self._correct_typos(analyse(query, self.vocabulary).terms)
            return {
                term: round(weight, 4)
                for weight, _, _, term in sorted(self._weigh(terms), key=lambda w: w[3])
            }

    def search(self, query: str, limit: int = 3, *, threshold: float | None = None) -> list[Hit]:
        """The best articles for a message, best first; empty when none is good enough (abstain).

        An article's confidence is the idf-weighted share of the message it covers: the weight of the terms it
        shares with the message (scaled by the field they appear in) over the weight of the message, where
        terms it does not share count at their penalty.
        """
        threshold = self.threshold if threshold is None else threshold
        with self._lock:
            analysis = analyse(query, self.vocabulary)
            terms = self._correct_typos(analysis.terms)
            if not terms or not self._slot_of:
                return []
            weighted = self._weigh(terms)
            base = sum(weight * penalty for weight, penalty, _, _ in weighted)
            has_topic = any(topic for _, _, topic, _ in weighted)
            # Terms come strongest first. Once the weight still to come cannot lift an article that has not
            # matched yet to the threshold (even with the fuzzy bonus), later terms only update the articles
            # already found: common terms ("computer", "error") then cost little even on a huge index.
            remaining = sum(weight for weight, _, _, _ in weighted)
            needed = max(MIN_EVIDENCE, threshold * base / (1.0 + FUZZY_BONUS))
            scores: dict[int, float] = {}
            extra: dict[int, float] = {}  # matched terms count fully in the denominator, not at their penalty
            on_topic: set[int] = set()
            for weight, penalty, topic, term in weighted:
                entry = self._postings.get(term)
                open_to_new = remaining >= needed
                remaining -= weight
                if entry is None:
                    continue
                ids, ws = entry
                step, gain = weight / 100.0, weight * (1.0 - penalty)
                get, eget = scores.get, extra.get
                if open_to_new:
                    for slot, w in zip(ids, ws, strict=True):
                        scores[slot] = get(slot, 0.0) + step * w
                    if gain:
                        for slot in ids:
                            extra[slot] = eget(slot, 0.0) + gain
                    if topic:
                        on_topic.update(ids)
                    continue
                if len(scores) * 16 < len(ids):
                    size = len(ids)
                    found = []
                    for slot in scores:
                        i = bisect_left(ids, slot)
                        if i < size and ids[i] == slot:
                            found.append((slot, ws[i]))
                else:
                    found = [(slot, w) for slot, w in zip(ids, ws, strict=True) if slot in scores]
                for slot, w in found:
                    scores[slot] += step * w
                    if gain:
                        extra[slot] = eget(slot, 0.0) + gain
                    if topic:
                        on_topic.add(slot)
            # Prune before ranking: articles without enough matched evidence are never suggested.
            slots = self._slots
            candidates = []
            for slot, value in scores.items():
                if value >= MIN_EVIDENCE and slots[slot] is not None:
                    confidence = value / (base + extra.get(slot, 0.0))
                    if has_topic and slot not in on_topic:
                        confidence *= OFF_TOPIC_FACTOR
                    candidates.append((confidence, slot))
            top = heapq.nlargest(RERANK_DEPTH, candidates)
            ranked: list[tuple[float, str, int]] = []
            for confidence, slot in top:
                article = slots[slot]
                assert article is not None
                bonus = FUZZY_BONUS * self._fuzzy_similarity(slot, analysis.text) * confidence
                ranked.append((confidence + bonus, article.id, slot))
            ranked.sort(key=lambda r: (-r[0], r[1]))
            if not ranked or ranked[0][0] < threshold:
                return []
            cutoff = max(threshold, ranked[0][0] * RELATIVE_CUTOFF)
            hits = []
            for score, article_id, slot in ranked[:limit]:
                if score < cutoff:
                    break
                article = self._slots[slot]
                assert article is not None
                hits.append(Hit(article_id=article_id, title=article.title, score=round(min(score, 1.0), 4)))
            return hits
