"""Shared fixtures for knowledge tests: the starter knowledge base, indexed once per session."""

from __future__ import annotations

import pytest

from knowledge import STARTER_DIR
from knowledge.articles import Article, load_dir
from knowledge.matcher import Matcher


@pytest.fixture(scope="session")
def starter_articles() -> list[Article]:
    articles, invalid = load_dir(STARTER_DIR)
    assert invalid == []
    return articles


@pytest.fixture(scope="session")
def starter_matcher(starter_articles: list[Article]) -> Matcher:
    return Matcher(starter_articles)
