"""Turn DingTalk Stream frames (robot messages, card callbacks) into core Inbound events."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.events import ActionClicked, CommandInvoked, ConversationRef, Inbound, MessageReceived, UserRef
from core.replies import Button

PLATFORM = "dingtalk"
TOPIC_ROBOT_MESSAGE = "/v1.0/im/bot/messages/get"
TOPIC_CARD_CALLBACK = "/v1.0/card/instances/callback"

# conversationType in robot messages: "1" = 1:1 chat with the robot, "2" = group chat
# https://open.dingtalk.com/document/orgapp/receive-message
_DIRECT = "1"


@dataclass(frozen=True, slots=True)
class SessionWebhook:
    """The reply URL a robot message carries, valid until `expires_at` (epoch seconds)."""

    chat_id: str
    url: str
    expires_at: float


def frame_data(frame: Mapping[str, Any]) -> dict[str, Any]:
    """A frame's `data` is a JSON string on the wire; accept an already decoded dict too."""
    data = frame.get("data")
    if isinstance(data, str):
        data = json.loads(data) if data else {}
    return dict(data or {})


def parse(frame: Mapping[str, Any]) -> Inbound | None:
    """A gateway frame `{"type", "headers": {"topic", "messageId", ...}, "data"}` -> Inbound or None."""
    headers = frame.get("headers") or {}
    topic = headers.get("topic")
    try:
        data = frame_data(frame)
    except ValueError:
        return None
    if topic == TOPIC_ROBOT_MESSAGE:
        return parse_robot_message(data, event_id=headers.get("messageId"), sent_at=headers.get("time"))
    if topic == TOPIC_CARD_CALLBACK:
        return parse_card_callback(data, event_id=headers.get("messageId"), sent_at=headers.get("time"))
    return None


def _when(ms: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def user_of(data: Mapping[str, Any]) -> UserRef:
    # senderStaffId is the org user id the Open API expects (userIds, atUserIds); senderId is an
    # opaque per-app id, the only one present for people outside the organisation.
    user_id = data.get("senderStaffId") or data.get("senderId") or ""
    return UserRef(platform=PLATFORM, user_id=str(user_id), display_name=data.get("senderNick") or None)


def direct_chat(user_id: str) -> str:
    """A 1:1 chat with the robot is addressed by the person (batchSend takes user ids), written
    "@<userId>" as core writes the direct messages it starts itself, so both meet in one conversation."""
    return "@" + user_id


def conversation_of(data: Mapping[str, Any]) -> ConversationRef:
    """Groups are addressed by openConversationId; a 1:1 chat by "@" + the person's user id."""
    tenant = str(data.get("chatbotCorpId") or data.get("senderCorpId") or "")
    if str(data.get("conversationType")) == _DIRECT:
        return ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=direct_chat(user_of(data).user_id),
                               is_direct=True)
    return ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=str(data.get("conversationId") or ""))


def _rich_text(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    parts = [str(i["text"]).strip() for i in items if isinstance(i, Mapping) and i.get("text")]
    return "\n".join(p for p in parts if p)


def message_text(data: Mapping[str, Any]) -> str | None:
    """Text of a `text` or `richText` robot message; None for pictures, audio, files."""
    kind = data.get("msgtype")
    if kind == "text":
        return str((data.get("text") or {}).get("content") or "").strip()
    if kind == "richText":
        return _rich_text((data.get("content") or {}).get("richText"))
    return None


def quoted_text(data: Mapping[str, Any]) -> str | None:
    """Text of the message this one quotes (引用回复), when the payload carries it.

    Quote replies arrive as `text.isReplyMsg` with `text.repliedMsg.content` holding `text`
    or `richText` (seen in DingTalk robot payloads; not in the SDK's ChatbotMessage model).
    """
    text = data.get("text") or {}
    replied = text.get("repliedMsg") if isinstance(text, Mapping) else None
    if not isinstance(replied, Mapping):
        return None
    content = replied.get("content")
    if isinstance(content, str):
        return content.strip() or None
    if isinstance(content, Mapping):
        found = content.get("text") or _rich_text(content.get("richText"))
        return (str(found).strip() or None) if found else None
    return None


def quoted_message_id(data: Mapping[str, Any]) -> str | None:
    text = data.get("text") or {}
    replied = text.get("repliedMsg") if isinstance(text, Mapping) else None
    found = replied.get("msgId") if isinstance(replied, Mapping) else None
    return str(found) if found else None


def parse_robot_message(data: Mapping[str, Any], *, event_id: str | None, sent_at: Any = None) -> Inbound | None:
    text = message_text(data)
    msg_id = data.get("msgId")
    if text is None or not msg_id:
        return None
    conversation = conversation_of(data)
    common: dict[str, Any] = dict(
        platform=PLATFORM,
        event_id=str(event_id or msg_id),
        received_at=_when(data.get("createAt") or sent_at),
        user=user_of(data),
        conversation=conversation,
        message_id=str(msg_id),
        message_key=str(msg_id),
        raw=data,
    )
    if text.startswith("/") and len(text) > 1:
        name, _, rest = text[1:].partition(" ")
        return CommandInvoked(name=name, args=tuple(rest.split()), **common)
    if not text:
        return None
    # In a group the robot only receives messages that @mention it, and DingTalk already removes
    # the @robot text from `content`; other @mentions stay as readable "@Nick".
    quoted_id = quoted_message_id(data) if not conversation.is_direct else None
    if quoted_id:
        # DingTalk has no threads; a quote reply is the nearest thing: it answers "under" the
        # quoted message, so quoting the message that opened a ticket comments on that ticket.
        common["conversation"] = conversation.in_thread(quoted_id)
    return MessageReceived(
        text=text,
        mentions_bot=not conversation.is_direct,
        is_thread_reply=bool(quoted_id),
        quoted_text=quoted_text(data),
        **common,
    )


def session_webhook(data: Mapping[str, Any]) -> SessionWebhook | None:
    """The per-conversation reply URL of a robot message (expiry is epoch milliseconds)."""
    url = data.get("sessionWebhook")
    expires = data.get("sessionWebhookExpiredTime")
    if not url or not expires:
        return None
    try:
        expires_at = int(expires) / 1000
    except (TypeError, ValueError):
        return None
    return SessionWebhook(chat_id=conversation_of(data).chat_id, url=str(url), expires_at=expires_at)


def _click_value(params: Mapping[str, Any]) -> dict[str, str]:
    raw = params.get("value")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(k): str(v) for k, v in params.items() if k != "action_id" and not isinstance(v, dict | list)}


def parse_card_callback(data: Mapping[str, Any], *, event_id: str | None, sent_at: Any = None) -> Inbound | None:
    """A button click on an interactive card (callbackType STREAM).

    `content` is a JSON string `{"cardPrivateData": {"actionIds": [...], "params": {...}}}`; the
    params are whatever the card template binds to the button (our template contract:
    `action_id` and `value`, a JSON object of ids). Falls back to actionIds[0].
    https://open.dingtalk.com/document/orgapp/event-callback-card
    """
    try:
        content = data.get("content") or {}
        if isinstance(content, str):
            content = json.loads(content)
    except ValueError:
        return None
    private = content.get("cardPrivateData") or {}
    params = private.get("params") or {}
    if not isinstance(params, Mapping):
        params = {}
    action_ids = private.get("actionIds") or []
    action_id = params.get("action_id") or (action_ids[0] if action_ids else None)
    user_id = str(data.get("userId") or "")
    out_track_id = data.get("outTrackId")
    if not action_id or not user_id or not out_track_id:
        return None
    tenant = str(data.get("corpId") or "")
    if data.get("spaceType") == "IM_GROUP" and data.get("spaceId"):
        conversation = ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=str(data["spaceId"]))
    else:
        # IM_ROBOT: the card lives in the person's 1:1 chat with the robot, addressed by user id
        conversation = ConversationRef(platform=PLATFORM, tenant=tenant, chat_id=direct_chat(user_id),
                                       is_direct=True)
    return ActionClicked(
        platform=PLATFORM,
        event_id=str(event_id or f"{out_track_id}:{user_id}:{action_id}"),
        received_at=_when(sent_at),
        user=UserRef(platform=PLATFORM, user_id=user_id),
        conversation=conversation,
        action_id=str(action_id),
        value=_click_value(params),
        card_message_id=str(out_track_id),
        raw=data,
    )


# "3", "[3]", "［３］", "3." — the ways people answer a numbered choice
_CHOICE = re.compile(r"^\[?\s*(\d{1,2})\s*[\].。]?$")


def choice_number(text: str) -> str | None:
    """The number a message answers with, when the whole message is just a number."""
    found = _CHOICE.match(unicodedata.normalize("NFKC", text).strip())
    return str(int(found.group(1))) if found else None


def clicked_choice(message: MessageReceived, button: Button, *, card_message_id: str | None) -> ActionClicked:
    """A numbered answer to a Markdown card, as the click the card could not carry itself.
    Same event id and message key as the message, so a redelivery still dedups."""
    return ActionClicked(
        platform=message.platform,
        event_id=message.event_id,
        received_at=message.received_at,
        user=message.user,
        conversation=message.conversation,
        message_id=message.message_id,
        message_key=message.message_key,
        action_id=button.action_id,
        value={str(k): str(v) for k, v in button.value.items()},
        card_message_id=card_message_id,
        raw=message.raw,
    )
