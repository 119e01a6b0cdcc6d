"""WeCom payloads -> core Inbound events: self-built app XML callbacks and smart-robot frames (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.wecom.keys import MORE_KEY, MORE_QUESTION, decode_key
from core.events import ActionClicked, BotAdded, ConversationRef, Inbound, MessageReceived, UserRef

PLATFORM = "wecom"
ROBOT_TENANT_PREFIX = "aibot:"


def _at(create_time: Any, now: datetime | None) -> datetime:
    try:
        return datetime.fromtimestamp(int(create_time), UTC)
    except (TypeError, ValueError, OverflowError):
        return now or datetime.now(UTC)


def _clicked_key(event_key: str, selected: Sequence[Mapping[str, Any]] | None) -> tuple[str, dict[str, str]] | None:
    """A click on the overflow "confirm" button means: the option picked in the selector."""
    if event_key == MORE_KEY:
        for item in selected or ():
            if item.get("QuestionKey") == MORE_QUESTION and item.get("OptionIds"):
                return decode_key(item["OptionIds"][0])
        return None
    return decode_key(event_key)


# ---------------------------------------------------------------- self-built app (自建应用) callbacks

def parse_app(msg: Mapping[str, Any], *, now: datetime | None = None) -> Inbound | None:
    """One decrypted app callback (XML already turned into a dict by xmlmsg.parse_xml).

    An app only hears its own chat with one employee, so every conversation is direct:
    chat_id = the employee's userid, tenant = the corp id (ToUserName)."""
    user_id = (msg.get("FromUserName") or "").strip()
    if not user_id:
        return None
    corp_id = (msg.get("ToUserName") or "").strip()
    create_time = (msg.get("CreateTime") or "").strip()
    common: dict[str, Any] = dict(
        platform=PLATFORM,
        received_at=_at(create_time, now),
        user=UserRef(platform=PLATFORM, user_id=user_id),
        conversation=ConversationRef(platform=PLATFORM, tenant=corp_id, chat_id=user_id, is_direct=True),
        raw=dict(msg),
    )
    msg_type = (msg.get("MsgType") or "").strip()
    if msg_type == "text":
        msg_id = (msg.get("MsgId") or "").strip()
        text = (msg.get("Content") or "").strip()
        if not msg_id or not text:
            return None
        return MessageReceived(event_id=f"msg:{msg_id}", message_id=msg_id, message_key=f"msg:{msg_id}",
                               text=text, **common)
    if msg_type != "event":
        return None  # images, voice, location...: nothing a ticket can use yet
    event = (msg.get("Event") or "").strip()
    # WeCom doc 接收消息与事件: deduplicate events on FromUserName + CreateTime; the event name and
    # card task keep two different clicks within one second apart.
    task_id = (msg.get("TaskId") or "").strip()
    event_id = f"evt:{user_id}:{create_time}:{event}:{task_id}"
    if event == "enter_agent":
        return BotAdded(event_id=event_id, **common)
    if event == "template_card_event":
        decoded = _clicked_key((msg.get("EventKey") or "").strip(), msg.get("SelectedItems"))
        if decoded is None or not task_id:
            return None
        action_id, value = decoded
        # ResponseCode (single use, for update_template_card) stays in `raw`; the transport keeps it.
        return ActionClicked(event_id=event_id + ":" + (msg.get("EventKey") or ""), action_id=action_id,
                             value=value, card_message_id=task_id, **common)
    return None


# ---------------------------------------------------------------- smart robot (智能机器人) frames

def robot_conversation(body: Mapping[str, Any]) -> ConversationRef | None:
    user_id = str((body.get("from") or {}).get("userid") or "")
    is_group = body.get("chattype") == "group"
    chat_id = str(body.get("chatid") or "") if is_group else user_id
    if not chat_id:
        return None
    return ConversationRef(platform=PLATFORM, tenant=ROBOT_TENANT_PREFIX + str(body.get("aibotid") or ""),
                           chat_id=chat_id, is_direct=not is_group)


def _strip_mention(text: str, bot_name: str | None) -> str:
    if bot_name:
        text = re.sub(r"@" + re.escape(bot_name) + r"(?=\s|$)", " ", text)
    else:
        # the robot only hears group messages that @mention it; the mention leads the text
        text = re.sub(r"^\s*@\S+", " ", text, count=1)
    return re.sub(r"[ \t]+", " ", text).strip()


def _quoted_text(body: Mapping[str, Any]) -> str | None:
    quote = body.get("quote") or {}
    if quote.get("msgtype") == "text":
        return str((quote.get("text") or {}).get("content") or "") or None
    if quote.get("msgtype") == "mixed":
        parts = [str((i.get("text") or {}).get("content") or "")
                 for i in (quote.get("mixed") or {}).get("msg_item", ()) if i.get("msgtype") == "text"]
        return "\n".join(p for p in parts if p) or None
    return None


def parse_robot(body: Mapping[str, Any], *, now: datetime, bot_name: str | None = None) -> Inbound | None:
    """The `body` of an aibot_msg_callback / aibot_event_callback frame (WeCom doc 101463, 101027).

    `msgid` is unique per callback and is WeCom's dedup key for messages and events alike."""
    msg_id = str(body.get("msgid") or "")
    user_id = str((body.get("from") or {}).get("userid") or "")
    conversation = robot_conversation(body)
    if not msg_id or not user_id or conversation is None:
        return None
    common: dict[str, Any] = dict(
        platform=PLATFORM, event_id=f"aibot:{msg_id}", received_at=_at(body.get("create_time"), now),
        user=UserRef(platform=PLATFORM, user_id=user_id), conversation=conversation, raw=dict(body),
    )
    msg_type = body.get("msgtype")
    if msg_type in ("text", "mixed"):
        if msg_type == "text":
            text = str((body.get("text") or {}).get("content") or "")
        else:
            text = "\n".join(str((i.get("text") or {}).get("content") or "")
                             for i in (body.get("mixed") or {}).get("msg_item", ()) if i.get("msgtype") == "text")
        text = _strip_mention(text, bot_name) if not conversation.is_direct else text.strip()
        if not text:
            return None
        return MessageReceived(message_id=msg_id, message_key=f"aibot:{msg_id}", text=text,
                               mentions_bot=not conversation.is_direct, quoted_text=_quoted_text(body),
                               **common)
    if msg_type != "event":
        return None
    event = body.get("event") or {}
    event_type = event.get("eventtype")
    if event_type == "enter_chat":
        # message_id lets the welcome answer this event (aibot_respond_welcome_msg, within 5 s)
        return BotAdded(message_id=msg_id, **common)
    if event_type == "template_card_event":
        card = event.get("template_card_event") or {}
        selected = [
            {"QuestionKey": s.get("question_key", ""),
             "OptionIds": list((s.get("option_ids") or {}).get("option_id") or ())}
            for s in ((card.get("selected_items") or {}).get("selected_item") or ())
        ]
        decoded = _clicked_key(str(card.get("event_key") or ""), selected)
        task_id = str(card.get("task_id") or "")
        if decoded is None or not task_id:
            return None
        action_id, value = decoded
        return ActionClicked(action_id=action_id, value=value, card_message_id=task_id, **common)
    return None
