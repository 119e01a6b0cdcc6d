"""Knowledge matcher speed: index build time, memory and per-query latency on large generated knowledge bases.

Usage: python bench/kb_speed.py [KB_DIR] [QUERIES.jsonl] [--sizes 10000 100000] [--repeat 3]

Articles are generated from the sample: each copies a sample article and mixes in a paragraph of another,
a made-up product or site name and a few unique words, so the index grows a long tail of rare terms the
way a real knowledge base does. Memory is the growth of the process's resident set while the index is
built (Linux), or the tracemalloc peak with --tracemalloc (slower).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.articles import Article, load_dir  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402
from knowledge.vocabulary import default_vocabulary  # noqa: E402

DEFAULT_KB = ROOT.parent / "shared" / "kb-sample"
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ten",
    "dra",
    "vex",
    "sor",
    "pli",
    "nu",
    "zen",
    "tor",
    "qua",
    "bri",
    "el",
    "fyn",
]
HANZI = "云海星河东南西北金银华信达通远景新创恒泰瑞安宁德明光晨阳和顺嘉禾"


def made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def generate(sample: list[Article], count: int, seed: int = 7) -> list[Article]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        base = sample[i % len(sample)]
        donor = sample[rng.randrange(len(sample))]
        paragraphs = [p for p in donor.body.split("\n\n") if p.strip()]
        extra = rng.choice(paragraphs)
        if base.lang == "zh":
            site = "".join(rng.choice(HANZI) for _ in range(3)) + "园区"
        else:
            site = made_up_word(rng).capitalize() + " site"
        words = " ".join(made_up_word(rng) for _ in range(rng.randint(2, 6)))
        aliases = list(base.aliases)
        rng.shuffle(aliases)
        out.append(
            Article(
                id=f"{base.id}-{i:06d}",
                title=f"{base.title} ({site})",
                lang=base.lang,
                tags=base.tags,
                category=base.category,
                aliases=tuple(aliases[: rng.randint(1, len(aliases))]) if aliases else (),
                body=f"{base.body}\n\n{extra}\n\n{site}: {words}\n",
            )
        )
    return out


def rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench(
    articles: list[Article], queries: list[str], repeat: int, use_tracemalloc: bool
) -> dict[str, float]:
    gc.collect()
    before = rss_bytes()
    if use_tracemalloc:
        tracemalloc.start()
    start = time.perf_counter()
    matcher = Matcher(articles)
    build = time.perf_counter() - start
    if use_tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        memory = peak
    else:
        gc.collect()
        memory = rss_bytes() - before
    for query in queries:  # warm-up: typo-correction choices and fuzzy keys are built lazily
        matcher.search(query)
    timings = []
    answered = 0
    for _ in range(repeat):
        for query in queries:
            t0 = time.perf_counter()
            hits = matcher.search(query)
            timings.append((time.perf_counter() - t0) * 1000)
            answered += bool(hits)
    t0 = time.perf_counter()
    matcher.upsert(articles[0].__class__(**{**_fields(articles[0]), "body": articles[0].body + "\nupdated"}))
    upsert_ms = (time.perf_counter() - t0) * 1000
    return {
        "articles": len(articles),
        "build_s": build,
        "memory_mb": memory / 2**20,
        "p50_ms": statistics.median(timings),
        "p95_ms": percentile(timings, 95),
        "max_ms": max(timings),
        "answered": answered / max(len(timings), 1),
        "upsert_ms": upsert_ms,
    }


def _fields(article: Article) -> dict[str, object]:
    return {
        "id": article.id,
        "title": article.title,
        "lang": article.lang,
        "body": article.body,
        "tags": article.tags,
        "category": article.category,
        "aliases": article.aliases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kb_dir", type=Path, nargs="?", default=DEFAULT_KB)
    parser.add_argument("queries", type=Path, nargs="?", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tracemalloc", action="store_true", help="measure memory with tracemalloc (slower)")
    args = parser.parse_args(argv)

    sample, _ = load_dir(args.kb_dir)
    queries_path = args.queries or args.kb_dir / "queries-dev.jsonl"
    queries = [
        json.loads(line)["q"]
        for line in queries_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    t0 = time.perf_counter()
    default_vocabulary()
    print(
        f"vocabulary load: {(time.perf_counter() - t0) * 1000:.0f} ms; {len(queries)} queries x {args.repeat}\n"
    )
    print(
        f"{'articles':>9} {'build s':>8} {'memory MB':>10} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
        f" {'answered':>9} {'upsert ms':>10}"
    )
    for size in args.sizes:
        articles = generate(sample, size)
        result = bench(articles, queries, args.repeat, args.tracemalloc)
        print(
            f"{result['articles']:>9} {result['build_s']:>8.1f} {result['memory_mb']:>10.0f}"
            f" {result['p50_ms']:>7.2f} {result['p95_ms']:>7.2f} {result['max_ms']:>7.2f}"
            f" {result['answered']:>9.2f} {result['upsert_ms']:>10.2f}",
            flush=True,
        )
        del articles, result
        gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
