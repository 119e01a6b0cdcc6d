"""The knowledge base in chat, through the real core: suggest first, deflect, escalate, capture, publish."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.db.uow import UnitOfWork
from core.events import ActionClicked, CommandInvoked, ConversationRef, MessageReceived, UserRef
from core.replies import Outgoing
from knowledge import STARTER_DIR
from knowledge.stats import gather
from knowledge.suggest import StoredKnowledge
from tests.harness import DeskHarness, default_settings, find_button, texts

IMPORTED_AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
BADGE = "I lost my badge and cannot get into the office"
SCANNER = "The barcode scanner at the warehouse packing station beeps but enters nothing"


def desk_knowledge(engine: Engine) -> StoredKnowledge:
    knowledge = StoredKnowledge(uow=UnitOfWork(engine), threshold=0.4)
    report = knowledge.import_dir(STARTER_DIR, now=IMPORTED_AT)
    assert report.invalid == [] and len(report.added) > 30
    return knowledge


def harness(engine: Engine, mode: str = "suggest_first") -> tuple[DeskHarness, StoredKnowledge]:
    knowledge = desk_knowledge(engine)
    h = DeskHarness(engine, default_settings(knowledge_mode=mode), knowledge=knowledge)
    h.services.on_article_published.append(knowledge.article_published)  # as bot/container.py wires it
    return h, knowledge


def feedback(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT article_id, kind FROM article_feedback ORDER BY id")).all()
    return [(r[0], r[1]) for r in rows]


def count(engine: Engine, table: str, where: str = "1=1") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar() or 0)


def offered_ids(out: list[Outgoing]) -> list[str]:
    offer = next(o.reply for o in out if o.reply.card_key and o.reply.card_key.startswith("deflect:"))
    return [line.split("(")[-1].rstrip(")") for line in offer.body_md.splitlines() if line.startswith("• ")]


def test_a_confident_match_is_offered_first_and_solved_counts_a_deflection(engine: Engine) -> None:
    h, _ = harness(engine)
    alice = h.user("alice")
    out = h.say(alice, BADGE)
    assert count(engine, "tickets") == 0
    ids = offered_ids(out)
    assert ids[0] == "access-card" and len(ids) <= 3
    offer = out[0].reply
    assert [b.action_id for b in offer.buttons] == ["kb.solved", "kb.need_help"]
    assert [b.label for b in offer.buttons] == ["This solved it", "I still need help"]
    assert feedback(engine) == [(i, "shown") for i in ids]

    out = h.click(alice, find_button(out, "kb.solved"), chat="it-help")
    assert texts(out) == ["These articles may help\nGreat, glad that helped! No ticket needed."]
    assert count(engine, "tickets") == 0
    assert feedback(engine)[len(ids):] == [(i, "helpful") for i in ids]
    with h.uow.begin() as session:
        stats = gather(session)
    assert (stats.deflected, stats.escalated, stats.pending) == (1, 0, 0)
    card = next(a for a in stats.articles if a.id == "access-card")
    assert (card.shown, card.helpful, card.not_helpful) == (1, 1, 0)


def test_still_need_help_opens_the_ticket_with_the_suggestions_on_the_card(engine: Engine) -> None:
    h, _ = harness(engine)
    alice = h.user("alice")
    out = h.say(alice, "my VPN will not connect from home")
    ids = offered_ids(out)
    assert ids == ["vpn-cannot-connect"]
    out = h.click(alice, find_button(out, "kb.need_help"), chat="it-help")
    ticket = h.ticket("IT-1")
    assert ticket.description == "my VPN will not connect from home"
    assert [s["id"] for s in json.loads(ticket.suggestions or "[]")] == ids
    team_card = next(o.reply for o in out if o.to.chat_id == "it-team" and o.reply.card_key == f"ticket:{ticket.id}")
    suggested = [f.value for f in team_card.fields if f.label == "Suggested articles"]
    assert suggested and "VPN" in suggested[0]
    assert feedback(engine) == [("vpn-cannot-connect", "shown"), ("vpn-cannot-connect", "not_helpful")]
    with h.uow.begin() as session:
        stats = gather(session)
    assert (stats.deflected, stats.escalated) == (0, 1)


def test_someone_else_cannot_answer_the_suggestions(engine: Engine) -> None:
    h, _ = harness(engine)
    out = h.say(h.user("alice"), BADGE)
    out = h.click(h.user("bob"), find_button(out, "kb.solved"), chat="it-help")
    assert texts(out) == ["Only the person who asked can answer these suggestions."]
    assert out[0].reply.only_visible_to == h.user("bob")
    with h.uow.begin() as session:
        assert gather(session).pending == 1
    assert [k for _, k in feedback(engine)] == ["shown"] * len(feedback(engine))


def test_open_and_suggest_opens_the_ticket_and_shows_the_articles(engine: Engine) -> None:
    h, _ = harness(engine, "open_and_suggest")
    out = h.say(h.user("alice"), "电脑蓝屏了怎么办")
    ticket = h.ticket("IT-1")
    assert [s["id"] for s in json.loads(ticket.suggestions or "[]")] == ["blue-screen"]
    assert any(t.startswith("以下文章可能有帮助\n• ") and "(blue-screen)" in t for t in texts(out))
    assert count(engine, "deflections") == 0
    with engine.connect() as conn:
        row = conn.execute(text("SELECT article_id, kind, ticket_id FROM article_feedback")).one()
    assert tuple(row) == ("blue-screen", "shown", ticket.id)


def test_greetings_and_chatter_get_no_suggestions(engine: Engine) -> None:
    h, _ = harness(engine)
    for n, message in enumerate(["hi there", "thanks!", "你好", "what is for lunch today?",
                                 "who won the football game last night", "@deskbot 😀"]):
        out = h.say(h.user(f"person{n}"), message)
        assert not any(o.reply.card_key and o.reply.card_key.startswith("deflect:") for o in out), message
    assert count(engine, "deflections") == 0 and count(engine, "article_feedback") == 0


def test_a_solved_ticket_becomes_an_article_that_answers_the_next_question(engine: Engine) -> None:
    h, knowledge = harness(engine)
    alice, wang, bob = h.user("alice"), h.user("wang"), h.user("bob")
    h.say(alice, SCANNER)  # nothing in the starter articles knows about scanners: a ticket at once
    assert count(engine, "deflections") == 0
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 Re-paired the scanner with its base and set it to keyboard mode")
    out = h.command(wang, "kb IT-1")
    draft = out[0].reply  # the draft to review, shown only to the technician, with [Publish]
    assert draft.only_visible_to == wang and draft.title == SCANNER[:80]
    assert "keyboard mode" in (draft.body_md or "") and "Draft article kb-it-1 from IT-1" in draft.as_text()
    assert [b.action_id for b in draft.buttons] == ["kb.publish"]
    assert knowledge.suggest("warehouse barcode scanner beeps but types nothing") == []  # a draft is not live

    out = h.command(alice, "kb publish kb-it-1")  # employees cannot publish
    assert "only technicians can publish articles" in texts(out)[0]
    assert "kb-it-1" not in knowledge.matcher

    out = h.command(wang, "kb publish kb-it-1")
    assert texts(out) == ["Article kb-it-1 is published and searchable now."]
    out = h.say(bob, "warehouse barcode scanner beeps but types nothing")
    assert offered_ids(out)[0] == "kb-it-1"
    assert count(engine, "tickets") == 1
    out = h.click(bob, find_button(out, "kb.solved"), chat="it-help")
    with h.uow.begin() as session:
        stats = gather(session)
    captured = next(a for a in stats.articles if a.id == "kb-it-1")
    assert (captured.status, captured.shown, captured.helpful) == ("published", 1, 1)
    assert stats.deflected == 1


def test_the_capture_button_on_a_resolved_card_makes_a_draft(engine: Engine) -> None:
    h, _ = harness(engine)
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, SCANNER)
    h.command(wang, "claim IT-1")
    out = h.command(wang, "resolve IT-1 set it to keyboard mode")
    out = h.click(wang, find_button(out, "kb.capture"))
    assert any("Draft article kb-it-1" in t for t in texts(out))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM articles WHERE id = 'kb-it-1'")).scalar() == "draft"
    refused = h.click(alice, find_button(out, "kb.publish"), chat="it-help")  # not a technician
    assert "only technicians can publish articles" in texts(refused)[0]
    out = h.click(wang, find_button(out, "kb.publish"))
    assert texts(out) == ["Article kb-it-1 is published and searchable now."]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM articles WHERE id = 'kb-it-1'")).scalar() == "published"


def test_capturing_a_published_article_again_updates_what_is_suggested(engine: Engine) -> None:
    h, knowledge = harness(engine)
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, SCANNER)
    h.command(wang, "claim IT-1")
    h.command(wang, "resolve IT-1 set it to keyboard mode")
    h.command(wang, "kb IT-1")
    h.command(wang, "kb publish KB-IT-1")  # the id as people type it after a ticket key
    assert "keyboard mode" in knowledge.matcher.get("kb-it-1").body  # type: ignore[union-attr]
    h.command(wang, "reopen IT-1")
    h.command(wang, "resolve IT-1 replaced the scanner cable")
    h.command(wang, "kb IT-1")
    article = knowledge.matcher.get("kb-it-1")
    assert article is not None and "replaced the scanner cable" in article.body


async def test_the_running_desk_suggests_from_the_database_and_indexes_a_publish(db_url: str) -> None:
    """bot/container.py builds the port over the stored articles and wires publishing to it."""
    from bot.startup import prepare_knowledge
    from core.settings import Desk, Roles
    from tests.desk_runtime import desk_config, running_desk

    desk = Desk(name="IT", prefix="IT", default_lang="en", knowledge_mode="suggest_first",
                roles=Roles(technicians=["webchat:wang"]))
    config = desk_config(db_url, desk=desk)
    async with running_desk(config) as running:
        prepare_knowledge(config, running.container)  # the starter articles, as `deskbot run` does
        sink = running.runtime.sink
        alice = UserRef(platform="webchat", user_id="alice", display_name="Alice")
        wang = UserRef(platform="webchat", user_id="wang", display_name="Wang")
        conv = ConversationRef(platform="webchat", chat_id="it-help")
        base = {"platform": "webchat", "received_at": running.container.clock.now(), "conversation": conv}

        res = await sink.submit(MessageReceived(**base, event_id="e1", message_id="m1", user=alice,
                                                text="wifi keeps dropping", mentions_bot=True), wait=5.0)
        offer = next(o.reply for o in res.outputs if o.reply.card_key and o.reply.card_key.startswith("deflect"))
        assert "(wifi-slow-dropping)" in offer.body_md
        solved = next(b for b in offer.buttons if b.action_id == "kb.solved")
        await sink.submit(ActionClicked(**base, event_id="e2", user=alice, action_id=solved.action_id,
                                        value=dict(solved.value)), wait=5.0)
        assert running.tickets() == []

        await sink.submit(MessageReceived(**base, event_id="e3", message_id="m3", user=alice, text=SCANNER,
                                          mentions_bot=True), wait=5.0)
        for n, line in enumerate(["claim IT-1", "resolve IT-1 keyboard mode", "kb IT-1", "kb publish kb-it-1"]):
            await sink.submit(CommandInvoked(**base, event_id=f"c{n}", user=wang, name="ticket",
                                             args=tuple(line.split())), wait=5.0)
        res = await sink.submit(MessageReceived(**base, event_id="e4", message_id="m4", user=alice,
                                                text="warehouse barcode scanner beeps but types nothing",
                                                mentions_bot=True), wait=5.0)
        offer = next(o.reply for o in res.outputs if o.reply.card_key and o.reply.card_key.startswith("deflect"))
        assert "(kb-it-1)" in offer.body_md
        with running.container.uow.begin() as session:
            stats = gather(session)
        assert stats.deflected == 1 and stats.published >= 40


def test_capture_and_publish_in_chinese(engine: Engine) -> None:
    h, knowledge = harness(engine)
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "仓库打包台的条码枪扫了以后电脑上不出字")
    ticket = h.ticket("IT-1")
    assert ticket.lang == "zh-CN"
    h.command(wang, "认领 IT-1")
    h.command(wang, "解决 IT-1 把条码枪重新设为键盘模式")
    out = h.command(wang, "知识 IT-1")
    assert any("kb-it-1" in t for t in texts(out))
    h.command(wang, "知识 发布 kb-it-1")
    article = knowledge.matcher.get("kb-it-1")
    assert article is not None and article.lang == "zh" and "## 解决方法" in article.body
    assert [s.article_id for s in knowledge.suggest("条码枪扫了不出字")][:1] == ["kb-it-1"]


def test_capture_answers_in_the_language_of_the_command(engine: Engine) -> None:
    h, _ = harness(engine)
    alice, wang = h.user("alice"), h.user("wang")
    h.say(alice, "仓库打包台的条码枪扫了以后电脑上不出字")
    h.command(wang, "认领 IT-1")
    h.command(wang, "解决 IT-1 把条码枪重新设为键盘模式")
    assert "已根据 IT-1 生成草稿文章 kb-it-1" in texts(h.command(wang, "知识 IT-1"))[0]
    assert texts(h.command(wang, "知识 发布 kb-it-1")) == ["文章 kb-it-1 已发布，可立即被搜索到。"]
