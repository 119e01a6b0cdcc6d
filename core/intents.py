"""What a person means: commands (English and Chinese verbs), status questions, greetings, reports."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS: dict[str, tuple[str, ...]] = {
    "help": ("help", "?", "帮助", "命令"),
    "new": ("new", "create", "open", "新建", "报修", "提交"),
    "show": ("show", "view", "get", "查看", "详情"),
    "list": ("list", "ls", "列表", "工单列表"),
    "mine": ("mine", "my", "我的工单", "我的"),
    "claim": ("claim", "take", "认领", "接单"),
    "assign": ("assign", "指派", "分配"),
    "priority": ("priority", "prio", "优先级"),
    "status": ("status", "状态"),
    "comment": ("comment", "note", "reply", "评论", "备注", "回复"),
    "resolve": ("resolve", "solve", "解决"),
    "close": ("close", "关闭"),
    "reopen": ("reopen", "重开", "重新打开"),
    "link": ("link", "关联"),
    "cancel": ("cancel", "取消", "撤销"),
    "rate": ("rate", "评分", "打分"),
    "sla": ("sla", "时效"),
    "kb": ("kb", "知识", "知识库"),
    "role": ("role", "角色"),
    "report": ("report", "报表", "报告"),
}
_BY_WORD = {w.lower(): verb for verb, words in VERBS.items() for w in words}
# longest first, so "我的工单" wins over "我的"
_CHINESE_WORDS = sorted(((w, v) for w, v in _BY_WORD.items() if re.match(r"[\u4e00-\u9fff]", w)),
                        key=lambda wv: -len(wv[0]))
# bare English verbs are commands only when followed by a ticket id (or alone for these)
_BARE_ALONE = {"help", "mine", "list"}

TICKET_REF = re.compile(r"(?<![\w-])(?:(?P<prefix>[A-Za-z][A-Za-z0-9]{0,9})-(?P<num>\d{1,9})|#(?P<hash>\d{1,9}))(?![\w-])")
_ONLY_NUMBER = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True, slots=True)
class TicketRef:
    prefix: str | None
    number: int

    def __str__(self) -> str:
        return f"{self.prefix}-{self.number}" if self.prefix else f"#{self.number}"


def parse_ticket_ref(token: str) -> TicketRef | None:
    token = token.strip().rstrip("?？,，.。:：")
    if _ONLY_NUMBER.match(token):
        return TicketRef(None, int(token))
    m = TICKET_REF.fullmatch(token)
    if not m:
        return None
    if m.group("hash"):
        return TicketRef(None, int(m.group("hash")))
    return TicketRef(m.group("prefix").upper(), int(m.group("num")))


def find_ticket_ref(text: str, prefixes: set[str] | None = None) -> TicketRef | None:
    for m in TICKET_REF.finditer(text):
        if m.group("hash"):
            return TicketRef(None, int(m.group("hash")))
        prefix = m.group("prefix").upper()
        if prefixes is None or prefix in prefixes:
            return TicketRef(prefix, int(m.group("num")))
    return None


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # canonical verb, or "" when unknown
    args: tuple[str, ...]
    word: str  # what the person typed as the verb


@dataclass(frozen=True, slots=True)
class StatusQuestion:
    ref: TicketRef | None


@dataclass(frozen=True, slots=True)
class Greeting:
    thanks: bool


@dataclass(frozen=True, slots=True)
class Report:
    text: str


Intent = Command | StatusQuestion | Greeting | Report

_GREETINGS = {"hi", "hello", "hey", "yo", "morning", "good morning", "good afternoon", "你好", "您好", "在吗",
              "在不在", "早", "早上好", "下午好", "哈喽", "嗨", "hi there", "hello there"}
_THANKS = {"thanks", "thank you", "thank you so much", "thx", "ty", "ok", "okay", "ok thanks", "ok, thanks",
           "thanks a lot", "many thanks", "cheers", "great", "great thanks", "got it", "perfect", "谢谢", "多谢",
           "感谢", "好的", "好的谢谢", "收到", "好", "嗯", "ok谢谢", "好的，谢谢", "谢谢你", "非常感谢", "👍", "🙏",
           "done", "solved", "fixed", "it works", "works now", "解决了", "好了", "可以了", "已解决"}
_STATUS_Q = [
    re.compile(r"(?i)\b(status|progress|update|news)\b.*\?|\bwhere(?:'s| is) my ticket|\bany (?:update|news)\b"),
    re.compile(r"(进度|进展|状态|处理得?怎么样|到哪了|有结果了?吗)"),
]
_STATUS_WORD = re.compile(r"(?i)\b(status|progress|update)\b|进度|状态|怎么样了")
_MENTION = re.compile(r"@\S+")
_PUNCT = re.compile(r"[\s!！?？。.,，~～…:：;；]+")
_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


# "that did not help": an answer to knowledge suggestions that asks for a person
_NOT_HELPED = [
    re.compile(r"(?i)\b(did ?n[o']?t|does ?n[o']?t|do ?n[o']?t|not|no|never)\b.{0,20}\b(help|helped|helpful|work|works|"
               r"working|worked|fix|fixed|solve|solved|luck)\b|\bstill (need|broken|not|doesn|does not|can|fail)|"
               r"\bnope\b|\b(need|want|talk to) (a|an)? ?(human|person|technician|engineer|someone)\b|"
               r"\btried (that|it|this|them|all)\b"),
    re.compile(r"没用|没有用|不行|没解决|没有解决|不管用|不好使|无效|没效果|转人工|找人工|人工|还是.{0,8}(不|没)|试过了|都试了"),
]


_HELPED = re.compile(r"(?i)\b(fixed|solved|sorted|resolved|works now|working now|worked|that did it|did the trick)\b|"
                     r"解决了|好了|可以了|搞定|成功了|有用|管用")


def _short_answer(text: str) -> str:
    """The message without mentions when it is short enough to be an answer, else ""."""
    plain = _MENTION.sub(" ", text).strip()
    return plain if len(plain) <= 60 else ""


def is_helped(text: str) -> bool:
    """A short answer saying a suggested article solved it ("thanks, that fixed it", "可以了 谢谢")."""
    plain = _short_answer(text)
    if not plain or is_not_helped(plain):
        return False
    greeting = is_greeting(plain)
    return bool(_HELPED.search(plain)) or (greeting is not None and greeting.thanks)


def is_not_helped(text: str) -> bool:
    """A short answer saying the suggested articles did not solve it ("still not working", "试过了还是不行")."""
    plain = _short_answer(text)
    return bool(plain) and any(p.search(plain) for p in _NOT_HELPED)


def _plain(text: str) -> str:
    text = _MENTION.sub(" ", text)
    return _PUNCT.sub(" ", text).strip().lower()


def is_greeting(text: str) -> Greeting | None:
    plain = _plain(text)
    emoji_only = _EMOJI.sub("", plain).strip() == "" and plain != ""
    if plain in _THANKS or plain.replace(" ", "") in _THANKS or emoji_only:
        return Greeting(thanks=True)
    if plain in _GREETINGS:
        return Greeting(thanks=False)
    return None


# words that may follow a verb which takes no ticket id: "列表 等待", "帮助 认领", "报表 sla 30"
STATUS_WORDS = {
    "new": "new", "新建": "new", "assigned": "assigned", "已指派": "assigned", "in_progress": "in_progress",
    "progress": "in_progress", "inprogress": "in_progress", "working": "in_progress", "处理中": "in_progress",
    "waiting": "waiting", "wait": "waiting", "pending": "waiting", "等待": "waiting", "等待用户": "waiting",
    "resolved": "resolved", "resolve": "resolved", "已解决": "resolved", "解决": "resolved",
    "closed": "closed", "close": "closed", "关闭": "closed", "已关闭": "closed",
}
PUBLISH_WORDS = frozenset({"publish", "发布"})  # `/ticket kb publish KB-ID`
ROLE_ACTIONS = {"grant": "grant", "授予": "grant", "添加": "grant", "revoke": "revoke", "撤销": "revoke",
                "移除": "revoke"}
_SUBJECTS: dict[str, set[str]] = {
    "help": set(_BY_WORD),
    "list": set(STATUS_WORDS),
    "mine": set(STATUS_WORDS),
    "role": set(ROLE_ACTIONS),
    "kb": set(PUBLISH_WORDS),
    "report": set(VERBS["sla"]),  # `/ticket report sla 30`
}
_TRAILING = "?？!！。.~～"


def _takes(verb: str, rest: str) -> bool:
    """Whether `rest` reads as the arguments of `verb` (a ticket id, or a word that verb expects)."""
    if not rest:
        return True
    if TICKET_REF.match(rest) or rest.split()[0].isdigit():
        return True
    return rest.split()[0].lower() in _SUBJECTS.get(verb, set())


def _chinese_command(stripped: str) -> Command | None:
    """Chinese verbs need no slash; they may be glued to the id ("认领IT-12"). A verb alone gets its usage."""
    for word, verb in _CHINESE_WORDS:
        if not stripped.startswith(word):
            continue
        rest = stripped[len(word):].strip()
        glued = stripped[len(word):len(word) + 1] not in ("", " ", "\t", "\u3000")
        if glued and not TICKET_REF.match(rest):
            continue  # "新建文件夹报错" is a problem report, "认领IT-12" is a command
        if verb == "new" or _takes(verb, rest):
            return Command(verb, tuple(rest.split()), word)
        return None
    return None


def split_command(text: str, command_names: set[str]) -> Command | None:
    """`/ticket claim IT-12`, `认领 IT-12`, `claim IT-12`, `我的工单`, `列表 等待` → Command; else None."""
    stripped = _MENTION.sub(" ", text).strip() if text.lstrip().startswith("@") else text.strip()
    if not stripped:
        return None
    tokens = stripped.split()
    first = tokens[0]
    if first.startswith("/"):
        name = first[1:].lower()
        if name in command_names:
            rest = tokens[1:]
            if not rest:
                return Command("help", (), "")
            verb = _BY_WORD.get(rest[0].lower(), "")
            return Command(verb, tuple(rest[1:]), rest[0])
        alias = _BY_WORD.get(name)
        if alias:  # "/claim IT-12"
            return Command(alias, tuple(tokens[1:]), name)
        return None
    bare = stripped.rstrip(_TRAILING).strip() or stripped
    if re.match(r"[\u4e00-\u9fff]", bare):
        return _chinese_command(bare)
    tokens = bare.split()
    first = tokens[0]
    found = _BY_WORD.get(first.lower())
    if not found:
        return None
    verb = found
    # bare English words are commands only with a written ticket id: "claim IT-3", not "my 2 monitors";
    # "help", "list" and "mine" also alone or with the word they expect ("help claim", "list waiting")
    written_ref = len(tokens) > 1 and bool(TICKET_REF.fullmatch(tokens[1].rstrip(_TRAILING + ",，:：")))
    if written_ref:
        if verb == "status" and len(tokens) == 2:
            return None  # "status IT-12" is a question
        return Command(verb, tuple(tokens[1:]), first)
    if verb in _BARE_ALONE and (len(tokens) == 1 or len(tokens) == 2 and _takes(verb, tokens[1])):
        return Command(verb, tuple(tokens[1:]), first)
    return None


def classify(text: str, command_names: set[str]) -> Intent:
    command = split_command(text, command_names)
    if command is not None:
        return command
    greeting = is_greeting(text)
    if greeting is not None:
        return greeting
    plain = _MENTION.sub(" ", text).strip()
    if len(plain) <= 60:
        ref = find_ticket_ref(plain)
        if any(p.search(plain) for p in _STATUS_Q) or (ref and _STATUS_WORD.search(plain)):
            return StatusQuestion(ref)
    return Report(plain)
