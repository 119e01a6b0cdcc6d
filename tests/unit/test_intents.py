"""Intents: commands in English and Chinese, ticket references, status questions, greetings, reports."""

from __future__ import annotations

import pytest

from core.help import COMMANDS, help_text
from core.i18n import EN, ZH
from core.intents import (
    VERBS,
    Command,
    Greeting,
    Report,
    StatusQuestion,
    TicketRef,
    classify,
    find_ticket_ref,
    is_helped,
    is_not_helped,
    parse_ticket_ref,
)

NAMES = {"ticket", "工单"}


def cmd(text: str) -> Command:
    intent = classify(text, NAMES)
    assert isinstance(intent, Command), f"{text!r} -> {intent}"
    return intent


@pytest.mark.parametrize("token, expected", [
    ("IT-12", TicketRef("IT", 12)), ("it-12", TicketRef("IT", 12)), ("12", TicketRef(None, 12)),
    ("#12", TicketRef(None, 12)), ("HR-3?", TicketRef("HR", 3)), ("IT-12,", TicketRef("IT", 12)),
    ("IT-12。", TicketRef("IT", 12)), (" #7 ", TicketRef(None, 7)),
])
def test_ticket_refs(token: str, expected: TicketRef) -> None:
    assert parse_ticket_ref(token) == expected


@pytest.mark.parametrize("token", ["abc", "12a", "IT-", "#", "", "IT-12-3", "-12", "1234567890"])
def test_not_ticket_refs(token: str) -> None:
    assert parse_ticket_ref(token) is None


def test_ref_rendering() -> None:
    assert str(TicketRef("IT", 12)) == "IT-12" and str(TicketRef(None, 12)) == "#12"


def test_find_ref_in_text_respects_known_prefixes() -> None:
    assert find_ticket_ref("see IT-12 and HR-3", {"HR"}) == TicketRef("HR", 3)
    assert find_ticket_ref("see IT-12 and HR-3") == TicketRef("IT", 12)
    assert find_ticket_ref("about #44 please") == TicketRef(None, 44)
    assert find_ticket_ref("my COVID-19 test") is not None  # shape only; prefixes filter real ones
    assert find_ticket_ref("my COVID-19 test", {"IT"}) is None


@pytest.mark.parametrize("text, verb, args", [
    ("/ticket claim IT-12", "claim", ("IT-12",)),
    ("/ticket CLAIM it-12", "claim", ("it-12",)),
    ("/工单 认领 IT-12", "claim", ("IT-12",)),
    ("/claim IT-3", "claim", ("IT-3",)),
    ("认领 IT-12", "claim", ("IT-12",)),
    ("认领IT-12", "claim", ("IT-12",)),
    ("claim IT-12", "claim", ("IT-12",)),
    ("claim #12", "claim", ("#12",)),
    ("take #12", "claim", ("#12",)),
    ("指派 IT-12 @张三", "assign", ("IT-12", "@张三")),
    ("优先级 IT-12 P1", "priority", ("IT-12", "P1")),
    ("解决 IT-12 换了网线", "resolve", ("IT-12", "换了网线")),
    ("关闭IT-3", "close", ("IT-3",)),
    ("重开 IT-3 又坏了", "reopen", ("IT-3", "又坏了")),
    ("查看 #5", "show", ("#5",)),
    ("备注 IT-5 已联系", "comment", ("IT-5", "已联系")),
    ("关联 IT-5 重复 IT-3", "link", ("IT-5", "重复", "IT-3")),
    ("取消 IT-5", "cancel", ("IT-5",)),
    ("新建 打印机坏了", "new", ("打印机坏了",)),
    ("我的工单", "mine", ()),
    ("帮助", "help", ()),
    ("help", "help", ()),
    ("mine", "mine", ()),
    ("list", "list", ()),
    ("/ticket", "help", ()),
    ("@DeskBot claim IT-4", "claim", ("IT-4",)),
    ("列表 等待", "list", ("等待",)),
    ("list waiting", "list", ("waiting",)),
    ("我的工单 已解决", "mine", ("已解决",)),
    ("我的工单？", "mine", ()),
    ("帮助 认领", "help", ("认领",)),
    ("help claim", "help", ("claim",)),
    ("角色 授予 webchat:li-lei technician", "role", ("授予", "webchat:li-lei", "technician")),
    ("知识 publish kb-it-12", "kb", ("publish", "kb-it-12")),
    ("知识 IT-12", "kb", ("IT-12",)),
    ("报表 sla 30", "report", ("sla", "30")),
    ("报表", "report", ()),
    ("时效 IT-12", "sla", ("IT-12",)),
])
def test_commands(text: str, verb: str, args: tuple[str, ...]) -> None:
    command = cmd(text)
    assert (command.verb, command.args) == (verb, args)


def test_every_verb_has_help_and_every_chinese_word_is_reachable() -> None:
    assert set(VERBS) == set(COMMANDS)
    for verb, words in VERBS.items():
        for word in words:
            command = cmd(f"/ticket {word} IT-1")
            assert command.verb == verb, word


def test_unknown_and_malformed_commands() -> None:
    unknown = cmd("/ticket frobnicate IT-1")
    assert unknown.verb == "" and unknown.word == "frobnicate"
    missing = cmd("/ticket claim")
    assert missing.verb == "claim" and missing.args == ()


@pytest.mark.parametrize("word, verb", [("认领", "claim"), ("解决", "resolve"), ("重开", "reopen"), ("指派", "assign"),
                                        ("报修", "new")])
def test_a_chinese_verb_alone_is_a_malformed_command(word: str, verb: str) -> None:
    assert cmd(word) == Command(verb, (), word)  # dispatch answers with that command's usage


@pytest.mark.parametrize("text", ["列表里的文件打不开", "我的 电脑蓝屏了", "关闭 弹窗一直出现怎么办", "帮助 我看看打印机",
                                  "list of printers is empty", "help me please"])
def test_verbs_followed_by_a_problem_are_reports(text: str) -> None:
    assert isinstance(classify(text, NAMES), Report), text


def test_help_text_per_verb_and_overall() -> None:
    assert help_text(EN, "claim").startswith("Usage: /ticket claim IT-12")
    assert "认领 IT-12" in help_text(ZH, "claim")
    full = help_text(EN)
    assert all(COMMANDS[v][0] in full for v in COMMANDS)
    assert help_text(EN, "nonsense") == full


@pytest.mark.parametrize("text, ref", [
    ("我的工单进度？", None),
    ("status of IT-12?", TicketRef("IT", 12)),
    ("status IT-12", TicketRef("IT", 12)),
    ("IT-12 进度?", TicketRef("IT", 12)),
    ("what is the status?", None),
    ("any update on my ticket", None),
    ("where is my ticket", None),
    ("我的报修处理得怎么样", None),
    ("@bot progress on #3?", TicketRef(None, 3)),
])
def test_status_questions(text: str, ref: TicketRef | None) -> None:
    assert classify(text, NAMES) == StatusQuestion(ref)


@pytest.mark.parametrize("text", ["hi", "Hello!", "你好", "在吗？", "@bot hi", "good morning"])
def test_greetings(text: str) -> None:
    assert classify(text, NAMES) == Greeting(thanks=False)


@pytest.mark.parametrize("text", ["thanks", "Thank you!", "ok thanks", "ok, thanks!", "谢谢", "好的，谢谢", "👍",
                                  "解决了", "works now", "收到"])
def test_thanks(text: str) -> None:
    assert classify(text, NAMES) == Greeting(thanks=True)


@pytest.mark.parametrize("text", [
    "My VPN is down", "help me with my printer", "close the door of the server room, it beeps",
    "I need to reopen my account", "我的电脑蓝屏了", "打印机卡纸", "Outlook keeps asking for a password",
    "hi, my laptop will not boot", "thanks in advance, the wifi in room 3 is down",
])
def test_problem_reports(text: str) -> None:
    intent = classify(text, NAMES)
    assert isinstance(intent, Report), f"{text!r} -> {intent}"
    assert intent.text == text


def test_mentions_are_stripped_from_reports() -> None:
    assert classify("@DeskBot printer jammed", NAMES) == Report("printer jammed")


@pytest.mark.parametrize("text", ["My 2 monitors are flickering", "Take 5 minutes to log in, very slow",
                                  "Open 3 tabs and Chrome crashes"])
def test_numbers_after_everyday_words_are_reports(text: str) -> None:
    assert isinstance(classify(text, NAMES), Report)


def test_glued_new_verb_keeps_the_whole_problem() -> None:
    intent = classify("新建文件夹报错", NAMES)
    text = " ".join(intent.args) if isinstance(intent, Command) else getattr(intent, "text", "")
    assert "新建文件夹" in text


@pytest.mark.parametrize("text", ["still not working", "didn't help", "that does not work for me", "tried that already",
                                  "no luck", "I need a human", "没用", "试过了还是不行", "还是连不上", "转人工"])
def test_answers_that_the_suggestions_did_not_help(text: str) -> None:
    assert is_not_helped(text) and not is_helped(text)


@pytest.mark.parametrize("text", ["thanks, that fixed it", "works now", "解决了 谢谢", "可以了", "thanks!", "搞定了"])
def test_answers_that_a_suggestion_helped(text: str) -> None:
    assert is_helped(text) and not is_not_helped(text)


@pytest.mark.parametrize("text", ["my printer is also broken", "打印机也坏了", ""])
def test_other_messages_are_neither(text: str) -> None:
    assert not is_helped(text) and not is_not_helped(text)
