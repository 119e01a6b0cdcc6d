"""Knowledge articles: Markdown files with a small front matter block, parsed and validated."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LANGS = ("zh", "en")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(.*)$")
_LIST_KEYS = ("tags", "aliases")
_TEXT_KEYS = ("id", "title", "category", "lang")


class ArticleError(ValueError):
    """An article file that cannot be used; the message is the reason shown to whoever imports it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    id: str
    title: str
    lang: str
    body: str
    tags: tuple[str, ...] = ()
    category: str = ""
    aliases: tuple[str, ...] = ()
    checksum: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # A checksum over the content (not the file bytes) so re-importing a reformatted file is "unchanged".
        if not self.checksum:
            object.__setattr__(self, "checksum", content_checksum(self))

    @property
    def summary(self) -> str:
        """What a suggestion card shows: the first steps of the fix (up to three numbered lines), else the
        first prose line of the body."""
        steps = [m.group(1).strip() for m in _STEP_RE.finditer(self.body)][:SUMMARY_STEPS]
        if steps:
            return "\n".join(f"{n}. {_clip(step, 160)}" for n, step in enumerate(steps, start=1))
        for line in self.body.splitlines():
            text = line.strip().lstrip("#>-*0123456789. ").strip()
            if text and not line.lstrip().startswith("#"):
                return _clip(text, 140)
        return ""


SUMMARY_STEPS = 3
_STEP_RE = re.compile(r"^\s*\d{1,2}[.)、]\s+(\S.*)$", re.MULTILINE)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def content_checksum(article: Article) -> str:
    payload = {
        "id": article.id,
        "title": article.title,
        "lang": article.lang,
        "tags": list(article.tags),
        "category": article.category,
        "aliases": list(article.aliases),
        "body": article.body.strip(),
    }
    data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _scalar(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        if value[0] == "'":
            return value[1:-1].replace("''", "'")
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    # An unquoted " #" starts a comment, as in YAML.
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _inline_list(raw: str) -> list[str]:
    inner = raw.strip()[1:-1]
    return [_scalar(part) for part in inner.split(",") if part.strip()]


def parse_front_matter(text: str) -> tuple[dict[str, object], str]:
    """Split a file into (fields, body). Accepts the YAML subset articles use: scalars and string lists."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleError("no front matter (the file must start with a '---' line)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ArticleError("front matter is not closed by a '---' line") from None
    fields: dict[str, object] = {}
    current: str | None = None
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- "):
            if current is None or not isinstance(fields.get(current), list):
                raise ArticleError(f"line {number}: list item without a list key above it")
            fields[current].append(_scalar(line.lstrip()[2:]))  # type: ignore[union-attr]
            continue
        if line[0].isspace():
            raise ArticleError(f"line {number}: unexpected indentation")
        match = _KEY_RE.match(line)
        if not match:
            raise ArticleError(f"line {number}: expected 'key: value'")
        key, raw = match.group(1).lower(), match.group(2).strip()
        if key in fields:
            raise ArticleError(f"line {number}: '{key}' appears twice")
        current = key
        if not raw:
            fields[key] = []
        elif raw.startswith("[") and raw.endswith("]"):
            fields[key] = _inline_list(raw)
        else:
            fields[key] = _scalar(raw)
    return fields, "\n".join(lines[end + 1 :]).strip() + "\n"


def parse_article(text: str) -> Article:
    """Build an Article from file text, or raise ArticleError with a reason a person can act on."""
    fields, body = parse_front_matter(text)
    values: dict[str, object] = {}
    for key in _TEXT_KEYS:
        value = fields.get(key, "")
        if isinstance(value, list):
            if value:
                raise ArticleError(f"'{key}' must be a single value, not a list")
            value = ""
        values[key] = str(value).strip()
    for key in _LIST_KEYS:
        value = fields.get(key, [])
        items = [value] if isinstance(value, str) else value
        values[key] = tuple(str(item).strip() for item in items if str(item).strip())  # type: ignore[union-attr]
    if not values["id"]:
        raise ArticleError("missing id")
    if not _ID_RE.match(str(values["id"])):
        raise ArticleError(f"bad id {values['id']!r} (use letters, digits, '-', '_' or '.')")
    if not values["title"]:
        raise ArticleError("missing title")
    lang = str(values["lang"]).lower()
    if not lang:
        raise ArticleError("missing lang (zh or en)")
    if lang not in LANGS:
        raise ArticleError(f"bad lang {values['lang']!r} (must be zh or en)")
    if not body.strip():
        raise ArticleError("empty body")
    return Article(
        id=str(values["id"]),
        title=str(values["title"]),
        lang=lang,
        body=body,
        tags=values["tags"],  # type: ignore[arg-type]
        category=str(values["category"]),
        aliases=values["aliases"],  # type: ignore[arg-type]
    )


def load_file(path: str | Path) -> Article:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ArticleError("not UTF-8 text") from None
    return parse_article(text)


def article_files(path: str | Path) -> list[Path]:
    """The article files under `path`: every *.md except README.md, sorted by path."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    return [f for f in sorted(root.rglob("*.md")) if f.name.lower() != "readme.md"]


def load_dir(
    path: str | Path, *, on_file: Callable[[str], None] | None = None
) -> tuple[list[Article], list[tuple[str, str]]]:
    """Load every *.md article under `path` (README.md excepted), sorted by file name.

    Returns (articles, invalid) where invalid lists (file, reason); a duplicate id keeps the first file.
    `on_file` is called with each file name as it is read (for a progress bar).
    """
    root = Path(path)
    articles: list[Article] = []
    invalid: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for file in article_files(root):
        name = str(file.relative_to(root))
        if on_file is not None:
            on_file(name)
        try:
            article = load_file(file)
        except ArticleError as exc:
            invalid.append((name, str(exc)))
            continue
        except OSError as exc:
            invalid.append((name, f"cannot read: {exc.strerror or exc}"))
            continue
        if article.id in seen:
            invalid.append((name, f"duplicate id {article.id!r} (already used by {seen[article.id]})"))
            continue
        seen[article.id] = name
        articles.append(article)
    return articles, invalid


def _quote(value: str) -> str:
    if value and not re.search(r"[:#\[\],'\"]|^\s|\s$|^[-!&*?|>%@`{}]", value):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_article(article: Article) -> str:
    """The file text for an article (used when a draft captured from a ticket is published)."""
    lines = ["---", f"id: {article.id}", f"title: {_quote(article.title)}"]
    lines.append("tags:")
    lines += [f"  - {_quote(tag)}" for tag in article.tags]
    lines += [f"category: {_quote(article.category)}", f"lang: {article.lang}", "aliases:"]
    lines += [f"  - {_quote(alias)}" for alias in article.aliases]
    lines += ["---", "", article.body.strip(), ""]
    return "\n".join(lines)
