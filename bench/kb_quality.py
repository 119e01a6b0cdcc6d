"""Knowledge matcher quality: hit@1, hit@3, MRR@5 and abstain accuracy, next to two simple baselines.

Usage: python bench/kb_quality.py KB_DIR QUERIES.jsonl [--threshold T] [--misses] [--sweep]

QUERIES.jsonl holds one {"q": "...", "expected": ["article-id", ...]} per line; an empty `expected` means no
article answers the message and the right outcome is to abstain. Each baseline is shown
answering always, and with the abstain threshold (from a small grid) that does best on the given set, an
optimistic figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.articles import Article, load_dir  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402

_CJK = re.compile(r"[\u3400-\u9fff]")

# A ranker returns (article_id, score) best first, at most `limit`.
Ranker = Callable[[str, int], list[tuple[str, float]]]


@dataclass
class Report:
    name: str
    hit1: float
    hit3: float
    mrr5: float
    abstain: float
    cross_hit3: float
    same_hit3: float
    threshold: str
    ms_per_query: float

    def row(self) -> str:
        return (
            f"{self.name:<26} {self.hit1:>6.3f} {self.hit3:>6.3f} {self.mrr5:>6.3f} {self.abstain:>8.3f}"
            f" {self.same_hit3:>9.3f} {self.cross_hit3:>10.3f} {self.ms_per_query:>7.2f}  {self.threshold}"
        )


HEADER = (
    f"{'system':<26} {'hit@1':>6} {'hit@3':>6} {'MRR@5':>6} {'abstain':>8} {'same-lang':>9} {'cross-lang':>10}"
    f" {'ms/q':>7}  threshold"
)


def load_queries(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def evaluate(
    name: str,
    results: list[list[tuple[str, float]]],
    queries: list[dict],
    langs: dict[str, str],
    threshold: str,
    ms: float,
) -> Report:
    answerable = same = cross = 0
    hit1 = hit3 = mrr = same_hit = cross_hit = 0.0
    abstain_total = abstain_ok = 0
    for query, found in zip(queries, results, strict=True):
        expected = set(query.get("expected") or [])
        ids = [article_id for article_id, _ in found]
        if not expected:
            abstain_total += 1
            abstain_ok += not ids
            continue
        answerable += 1
        rank = next((i + 1 for i, article_id in enumerate(ids[:5]) if article_id in expected), None)
        hit1 += rank == 1
        hit3 += rank is not None and rank <= 3
        mrr += 1.0 / rank if rank else 0.0
        query_lang = "zh" if _CJK.search(query["q"]) else "en"
        is_cross = all(langs.get(e) != query_lang for e in expected)
        if is_cross:
            cross += 1
            cross_hit += rank is not None and rank <= 3
        else:
            same += 1
            same_hit += rank is not None and rank <= 3
    return Report(
        name=name,
        hit1=hit1 / max(answerable, 1),
        hit3=hit3 / max(answerable, 1),
        mrr5=mrr / max(answerable, 1),
        abstain=abstain_ok / max(abstain_total, 1),
        same_hit3=same_hit / max(same, 1),
        cross_hit3=cross_hit / max(cross, 1),
        threshold=threshold,
        ms_per_query=ms,
    )


def run(ranker: Ranker, queries: list[dict], limit: int = 5) -> tuple[list[list[tuple[str, float]]], float]:
    start = time.perf_counter()
    results = [ranker(q["q"], limit) for q in queries]
    return results, (time.perf_counter() - start) * 1000 / max(len(queries), 1)


def best_cut(
    name: str,
    raw: list[list[tuple[str, float]]],
    queries: list[dict],
    langs: dict[str, str],
    grid: list[float],
    ms: float,
) -> Report:
    """Apply each abstain threshold of the grid; keep the one right most often (hit@3 or correct abstain)."""
    answerable = sum(bool(q.get("expected")) for q in queries)
    best: Report | None = None
    best_right = -1.0
    for cut in grid:
        cut_results = [[r for r in found if r[1] >= cut] for found in raw]
        report = evaluate(name, cut_results, queries, langs, f"{cut:g} (best on this set)", ms)
        right = report.hit3 * answerable + report.abstain * (len(queries) - answerable)
        if right > best_right:
            best, best_right = report, right
    assert best is not None
    return best


# ---------------------------------------------------------------------- baselines


def wratio_ranker(articles: list[Article]) -> Ranker:
    """rapidfuzz WRatio of the message against the title, each alias and the body; an article's best field."""
    from rapidfuzz import fuzz, process, utils

    fields = [(index, text) for index, a in enumerate(articles) for text in (a.title, *a.aliases, a.body)]
    choices = [text for _, text in fields]

    def rank(query: str, limit: int) -> list[tuple[str, float]]:
        found = process.extract(
            query, choices, scorer=fuzz.WRatio, processor=utils.default_process, limit=None
        )
        best: dict[str, float] = {}
        for _, score, position in found:
            article_id = articles[fields[position][0]].id
            best[article_id] = max(best.get(article_id, 0.0), score)
        return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]

    return rank


def bm25_ranker(articles: list[Article], k1: float = 1.5, b: float = 0.75) -> Ranker:
    import jieba

    jieba.setLogLevel(logging.WARNING)

    def tokens(text: str) -> list[str]:
        return [t for t in jieba.lcut(text.lower()) if t.strip() and re.search(r"\w", t)]

    docs = [Counter(tokens(" ".join([a.title, *a.aliases, *a.tags, a.body]))) for a in articles]
    lengths = [sum(d.values()) for d in docs]
    avg = sum(lengths) / max(len(lengths), 1)
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(doc.keys())
    n = len(docs)

    def rank(query: str, limit: int) -> list[tuple[str, float]]:
        scores = []
        q = set(tokens(query))
        for index, doc in enumerate(docs):
            score = 0.0
            for term in q:
                tf = doc.get(term, 0)
                if tf:
                    idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                    score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[index] / avg))
            if score > 0:
                scores.append((articles[index].id, score))
        scores.sort(key=lambda s: (-s[1], s[0]))
        return scores[:limit]

    return rank


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kb_dir", type=Path)
    parser.add_argument("queries", type=Path)
    parser.add_argument("--threshold", type=float, default=None, help="matcher abstain threshold")
    parser.add_argument("--misses", action="store_true", help="list the queries the matcher gets wrong")
    parser.add_argument("--sweep", action="store_true", help="show the matcher at several thresholds")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args(argv)

    articles, invalid = load_dir(args.kb_dir)
    for name, reason in invalid:
        print(f"invalid article {name}: {reason}", file=sys.stderr)
    queries = load_queries(args.queries)
    langs = {a.id: a.lang for a in articles}
    answerable = sum(bool(q.get("expected")) for q in queries)
    print(
        f"{len(articles)} articles, {len(queries)} queries ({answerable} answerable, "
        f"{len(queries) - answerable} to abstain on)\n"
    )

    start = time.perf_counter()
    matcher = Matcher(articles)
    build_ms = (time.perf_counter() - start) * 1000
    threshold = matcher.threshold if args.threshold is None else args.threshold

    def deskbot(query: str, limit: int) -> list[tuple[str, float]]:
        return [(h.article_id, h.score) for h in matcher.search(query, limit=limit, threshold=threshold)]

    results, ms = run(deskbot, queries)
    reports = [
        evaluate(
            "deskbot matcher",
            results,
            queries,
            langs,
            f"{threshold:g} (default)" if args.threshold is None else f"{threshold:g}",
            ms,
        )
    ]
    if not args.no_baselines:
        for name, ranker, grid in (
            ("rapidfuzz WRatio", wratio_ranker(articles), [50, 55, 60, 65, 70, 75, 80, 86, 90]),
            ("BM25 (jieba tokens)", bm25_ranker(articles), [1, 2, 3, 4, 5, 6, 8, 10, 12, 15]),
        ):
            raw, ms = run(ranker, queries)
            reports.append(evaluate(name, raw, queries, langs, "none (always answers)", ms))
            reports.append(best_cut(name, raw, queries, langs, grid, ms))
    print(HEADER)
    for report in reports:
        print(report.row())
    print(f"\nmatcher index build: {build_ms:.0f} ms")

    if args.sweep:
        print("\nmatcher threshold sweep")
        print(HEADER)
        for cut in [0.2, 0.25, 0.3, 0.33, 0.36, 0.4, 0.45, 0.5, 0.55, 0.6]:

            def at(query: str, limit: int, cut: float = cut) -> list[tuple[str, float]]:
                return [(h.article_id, h.score) for h in matcher.search(query, limit=limit, threshold=cut)]

            results_at, ms_at = run(at, queries)
            print(evaluate("deskbot matcher", results_at, queries, langs, f"{cut:g}", ms_at).row())

    if args.misses:
        print("\nmisses (query -> expected | got)")
        for query, found in zip(queries, results, strict=True):
            expected = set(query.get("expected") or [])
            ids = [a for a, _ in found]
            ok = (not ids) if not expected else bool(expected & set(ids[:3]))
            if not ok:
                got = ", ".join(f"{a} {s:.2f}" for a, s in found[:3]) or "(abstain)"
                print(f"  {query['q']}\n      -> {', '.join(sorted(expected)) or '(abstain)'} | {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
