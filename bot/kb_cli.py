"""`deskbot kb`: import, list, show, search the knowledge base, and see how often it helps."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bot.cli_common import load, open_uow, table

# Folders with at least this many article files get a progress bar.
PROGRESS_MIN_FILES = 200
# Longer lists of added/updated ids are cut short (invalid files are always listed: someone must fix them).
LIST_AT_MOST = 20


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _knowledge_uow(ctx: click.Context, cfg: Any) -> Any:
    """The knowledge base as `deskbot run` sees it: an empty one gets the starter articles first."""
    from bot.startup import wants_starter
    from core.clock import SystemClock
    from knowledge import STARTER_DIR
    from knowledge.store import import_dir

    uow = open_uow(ctx, cfg)
    with uow.begin() as session:
        if wants_starter(cfg, session):
            import_dir(session, STARTER_DIR, now=SystemClock().now(), author="import")
    return uow


@click.group("kb")
def kb() -> None:
    """Knowledge base: import articles, search them, see what helps."""


@kb.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def kb_import(ctx: click.Context, directory: str, as_json: bool) -> None:
    """Import the Markdown articles in DIRECTORY (again and again: unchanged files change nothing).

    Exits with status 1 when some files are invalid (the valid ones are imported)."""
    from core.clock import SystemClock
    from knowledge.articles import article_files
    from knowledge.store import import_dir

    cfg = load(ctx)
    uow = open_uow(ctx, cfg)
    total = len(article_files(directory))
    with uow.begin() as session:
        if total >= PROGRESS_MIN_FILES and not as_json:
            with click.progressbar(length=total, label="Reading articles", file=sys.stderr) as bar:
                report = import_dir(session, directory, now=SystemClock().now(), author="import",
                                    on_file=lambda _name: bar.update(1))
        else:
            report = import_dir(session, directory, now=SystemClock().now(), author="import")
    if as_json:
        click.echo(json.dumps(report.counts() | {
            "added_ids": report.added, "updated_ids": report.updated,
            "invalid_files": [{"file": f, "reason": r} for f, r in report.invalid]}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{directory}: {report.summary()}")
        for kind, ids in (("added", report.added), ("updated", report.updated)):
            for article_id in ids[:LIST_AT_MOST]:
                click.echo(f"  {kind:<10} {article_id}")
            if len(ids) > LIST_AT_MOST:
                click.echo(f"  {kind:<10} … and {len(ids) - LIST_AT_MOST} more")
        for file, reason in report.invalid:
            click.echo(f"  invalid    {file}: {reason}", err=True)
        if report.changed:
            click.echo("A deskbot that is already running suggests these changes within a minute.")
    if report.invalid:
        ctx.exit(1)


@kb.command("list")
@click.option("--status", type=click.Choice(["published", "draft", "retired", "all"]), default="all",
              show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def kb_list(ctx: click.Context, status: str, lang: str | None, as_json: bool) -> None:
    """List articles."""
    from knowledge.store import list_rows

    cfg = load(ctx)
    with _knowledge_uow(ctx, cfg).begin() as session:
        rows = list_rows(session, status=None if status == "all" else status, lang=lang)
        items = [{"id": r.id, "status": r.status, "lang": r.lang, "category": r.category or "", "title": r.title,
                  "updated_at": r.updated_at.isoformat()} for r in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table(["ID", "STATUS", "LANG", "CATEGORY", "TITLE"],
           [[i["id"], i["status"], i["lang"], i["category"] or "-", i["title"][:70]] for i in items])
    click.echo(f"{len(items)} article(s)")


@kb.command("show")
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", is_flag=True, help="Print the article as a file `deskbot kb import` reads back.")
@click.pass_context
def kb_show(ctx: click.Context, article_id: str, as_json: bool, markdown: bool) -> None:
    """Show one article with its feedback."""
    from knowledge.stats import feedback_counts
    from knowledge.store import article_from_row, get_row

    cfg = load(ctx)
    with _knowledge_uow(ctx, cfg).begin() as session:
        row = get_row(session, article_id)
        if row is None:
            click.echo(f"article {article_id} not found", err=True)
            ctx.exit(1)
            return
        article = article_from_row(row)
        meta = {"status": row.status, "source_ticket_id": row.source_ticket_id, "author": row.author,
                "updated_at": row.updated_at.isoformat()}
        counts = feedback_counts(session, article_id)
    if markdown:
        from knowledge.articles import render_article

        click.echo(render_article(article), nl=False)
        return
    if as_json:
        click.echo(json.dumps({"id": article.id, "title": article.title, "lang": article.lang,
                               "category": article.category, "tags": list(article.tags),
                               "aliases": list(article.aliases), "body": article.body, **meta,
                               "feedback": counts}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{article.id}  [{row.status}]  {article.title}")
    click.echo(f"  lang: {article.lang}   category: {article.category or '-'}   updated: {meta['updated_at']}")
    if article.tags:
        click.echo(f"  tags: {', '.join(article.tags)}")
    for alias in article.aliases:
        click.echo(f"  also asked as: {alias}")
    if row.source_ticket_id:
        click.echo(f"  captured from ticket #{row.source_ticket_id} by {row.author or '-'}")
    click.echo(f"  shown {counts['shown']}, helpful {counts['helpful']}, not helpful {counts['not_helpful']}")
    click.echo("")
    click.echo(article.body.rstrip())


@kb.command("stats")
@click.option("--all", "include_unused", is_flag=True, help="Also list articles never suggested.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def kb_stats(ctx: click.Context, include_unused: bool, as_json: bool) -> None:
    """Suggestions shown, helpful and not helpful per article; questions deflected."""
    from knowledge.stats import gather

    cfg = load(ctx)
    with _knowledge_uow(ctx, cfg).begin() as session:
        stats = gather(session, include_unused=include_unused)
    if as_json:
        click.echo(json.dumps(stats.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"articles: {stats.published} published, {stats.drafts} draft")
    click.echo(f"deflections: {stats.deflected} solved by an article, {stats.escalated} still needed help, "
               f"{stats.pending} unanswered (deflection rate {_rate(stats.deflection_rate)})")
    if not stats.articles:
        click.echo("no suggestions shown yet")
        return
    table(["ID", "SHOWN", "HELPFUL", "NOT HELPFUL", "RATE", "TITLE"],
           [[a.id, a.shown, a.helpful, a.not_helpful, _rate(a.helpful_rate), a.title[:50]] for a in stats.articles])


def _results(knowledge: Any, query: str, limit: int) -> list[dict[str, Any]]:
    return [{"id": s.article_id, "title": s.title, "score": s.score}
            for s in knowledge.suggest(query, limit=limit)]


@kb.command("search")
@click.argument("query", required=False)
@click.option("--limit", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print {\"q\", \"results\"} as JSON.")
@click.pass_context
def kb_search(ctx: click.Context, query: str | None, limit: int, as_json: bool) -> None:
    """Find the published articles that answer QUERY, as the bot would suggest them.

    Without QUERY, reads one query per line from stdin and writes one JSON object per line:
    {"q": ..., "results": [{"id", "title", "score"}]} (results empty when nothing is good enough)."""
    from knowledge.suggest import StoredKnowledge

    cfg = load(ctx)
    knowledge = StoredKnowledge(uow=_knowledge_uow(ctx, cfg), threshold=cfg.knowledge.threshold)
    knowledge.load()
    if query is None:
        for line in sys.stdin:
            q = line.rstrip("\r\n")
            click.echo(json.dumps({"q": q, "results": _results(knowledge, q, limit)}, ensure_ascii=False))
            sys.stdout.flush()  # answer each line at once when driven line by line from another program
        return
    results = _results(knowledge, query, limit)
    if as_json:
        click.echo(json.dumps({"q": query, "results": results}, ensure_ascii=False))
        return
    if not results:
        click.echo("no article is a confident match")
        return
    table(["SCORE", "ID", "TITLE"], [[f"{r['score']:.2f}", r["id"], r["title"]] for r in results])
