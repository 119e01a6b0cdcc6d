"""Article files: parsing, validation reasons, loading a directory, rendering back."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.articles import Article, ArticleError, load_dir, parse_article, render_article

VALID = """---
id: vpn-help
title: "VPN: cannot connect"
tags:
  - vpn
  - remote   # a comment
category: network
lang: en
aliases: [vpn down, 'can''t connect to vpn']
---

## Symptoms
The VPN client keeps spinning.
"""


def write(tmp: Path, name: str, text: str) -> None:
    (tmp / name).write_text(text, encoding="utf-8")


def test_parse_reads_every_field() -> None:
    article = parse_article(VALID)
    assert article.id == "vpn-help"
    assert article.title == "VPN: cannot connect"
    assert article.tags == ("vpn", "remote")
    assert article.category == "network"
    assert article.lang == "en"
    assert article.aliases == ("vpn down", "can't connect to vpn")
    assert article.body.startswith("## Symptoms")
    assert article.summary == "The VPN client keeps spinning."
    assert len(article.checksum) == 64


def test_summary_is_the_first_steps_of_the_fix() -> None:
    article = parse_article(VALID + "\n## Steps to resolve\n1. Restart the client.\n2. Sign in again.\n"
                            "3. Switch to another gateway.\n4. Call the service desk.\n")
    assert article.summary == "1. Restart the client.\n2. Sign in again.\n3. Switch to another gateway."


def test_checksum_follows_content_not_layout() -> None:
    article = parse_article(VALID)
    relaid = VALID.replace(
        "aliases: [vpn down, 'can''t connect to vpn']", 'aliases:\n  - vpn down\n  - "can\'t connect to vpn"'
    )
    assert parse_article(relaid).checksum == article.checksum
    assert parse_article(VALID.replace("keeps spinning", "spins")).checksum != article.checksum


def test_render_round_trips() -> None:
    article = parse_article(VALID)
    assert parse_article(render_article(article)) == article
    odd = Article(
        id="x1", title='say "hi": #1', lang="zh", body="正文\n", tags=("a, b",), aliases=("- dash",)
    )
    assert parse_article(render_article(odd)) == odd


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no front matter\n", "no front matter"),
        ("---\nid: a\ntitle: t\nlang: en\nbody\n", "not closed"),
        (VALID.replace("id: vpn-help\n", ""), "missing id"),
        (VALID.replace("id: vpn-help", "id: has space"), "bad id"),
        (VALID.replace('title: "VPN: cannot connect"\n', ""), "missing title"),
        (VALID.replace("lang: en", "lang: fr"), "bad lang 'fr' (must be zh or en)"),
        (VALID.replace("lang: en\n", ""), "missing lang"),
        (VALID.split("## Symptoms")[0], "empty body"),
        (
            VALID.replace("category: network", "category: network\ncategory: other"),
            "'category' appears twice",
        ),
        (VALID.replace("tags:\n", "  - stray\ntags:\n"), "list item without a list key above it"),
        (VALID.replace("category: network", "  category: network"), "unexpected indentation"),
    ],
)
def test_invalid_articles_give_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ArticleError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_article(text)


def test_load_dir_reports_invalid_files_and_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "a.md", VALID)
    write(tmp_path, "b.md", VALID.replace('title: "VPN: cannot connect"', "title: Other"))
    write(tmp_path, "c.md", VALID.replace("lang: en", "lang: de"))
    write(tmp_path, "README.md", "# not an article\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "d.md", VALID.replace("id: vpn-help", "id: nested"))
    (tmp_path / "e.md").write_bytes(b"---\nid: \xff\n---\n")
    articles, invalid = load_dir(tmp_path)
    assert [a.id for a in articles] == ["vpn-help", "nested"]
    assert invalid == [
        ("b.md", "duplicate id 'vpn-help' (already used by a.md)"),
        ("c.md", "bad lang 'de' (must be zh or en)"),
        ("e.md", "not UTF-8 text"),
    ]


def test_starter_knowledge_base_is_valid_and_bilingual(starter_articles: list[Article]) -> None:
    assert len(starter_articles) >= 30
    langs = {a.lang for a in starter_articles}
    assert langs == {"zh", "en"}
    assert len({a.id for a in starter_articles}) == len(starter_articles)
    for article in starter_articles:
        assert article.tags and article.aliases and article.category, article.id
        assert article.summary, article.id
