"""The web chat adapter: /chat page and static files, the websocket hub that fans messages out to open
pages, intake of browser frames into the event sink, and send() for the bot's replies and cards."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from adapters.base import EventSink
from adapters.webchat import strings
from adapters.webchat.history import ChatMessage, History, new_id
from adapters.webchat.page import pick_lang, render_page, unauthorized_page
from adapters.webchat.parse import PLATFORM, BadFrame, check_text, parse
from adapters.webchat.people import ROLES, Directory, Person, PersonRefused, Room, person_slug
from adapters.webchat.render import render
from core.events import CommandInvoked, ConversationRef, Inbound
from core.replies import DeliveryError, Reply, SendResult

if TYPE_CHECKING:
    from bot.config import WebChatConfig

log = logging.getLogger(__name__)

COOKIE = "deskbot_webchat"
MAX_FRAME_CHARS = 256 * 1024  # a 10,000-character message fits many times over; anything bigger is abuse
HELLO_TIMEOUT = 30.0
PAGE_QUEUE = 1000  # frames waiting for one slow page before we drop it (it reconnects and reloads history)
REACTIONS = ("👍", "✅", "👀", "🙏")
STATIC_TYPES = {"chat.js": "text/javascript; charset=utf-8", "chat.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # the first link may carry ?token=..., never leak it to other sites
    "Referrer-Policy": "no-referrer",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(eq=False, slots=True)
class OpenPage:
    """One browser tab, as one person, subscribed to the rooms that person sees."""

    ws: WebSocket
    person: Person
    rooms: dict[str, Room]
    lang: str
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(PAGE_QUEUE))


class WebChatAdapter:
    platform: ClassVar[str] = PLATFORM
    # No platform quota: the outbox only needs to stay polite to browsers.
    send_rate: ClassVar[tuple[int, float]] = (50, 1.0)

    def __init__(self, *, cfg: WebChatConfig, server_host: str, bot_name: str = "deskbot", lang: str = "en",
                 clock: Callable[[], str] = _now_iso) -> None:
        if not is_loopback(server_host) and not cfg.access_token:
            raise ValueError("webchat.access_token is required when server.host is not a loopback address")
        self._cfg = cfg
        self._token = cfg.access_token or None
        # the cookie proves the token was shown once without being the token itself
        self._cookie_value = (hmac.new(self._token.encode(), b"deskbot-webchat-cookie", hashlib.sha256)
                              .hexdigest() if self._token else "")
        self._clock = clock
        self._default_lang = lang if lang in strings.LANGS else "en"
        self.bot_name = bot_name
        self._bot_author = {"slug": person_slug(bot_name), "name": bot_name, "bot": True}
        self.directory = Directory(
            rooms=cfg.rooms, team_rooms=cfg.team_rooms, intake_rooms=cfg.intake_rooms,
            people=[(p.name, p.roles) for p in cfg.people], bot_name=bot_name,
        )
        self.history = History(per_room=cfg.history_per_room)
        self._pages: set[OpenPage] = set()
        self._sink: EventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._static: dict[str, bytes] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def routes(self) -> list[Any]:
        return [
            Route("/chat", self._page, methods=["GET"]),
            Route("/chat/static/{name}", self._static_file, methods=["GET"]),
            WebSocketRoute("/chat/ws", self._socket),
        ]

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self._sink = None
        await self._on_hub_loop(self._close_all)

    async def _close_all(self) -> None:
        for page in list(self._pages):
            with contextlib.suppress(Exception):
                await page.ws.close(code=1001)
            with contextlib.suppress(asyncio.QueueFull):
                page.queue.put_nowait(None)
        self._pages.clear()

    async def _on_hub_loop(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Pages, their queues and the history belong to the loop that serves the websockets; callers
        on another loop (a delivery worker, a test thread) hand their work over to it."""
        running = asyncio.get_running_loop()
        loop = self._loop
        if loop is None or loop is running or not loop.is_running():
            return await make()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))

    # -- HTTP ------------------------------------------------------------------------------------

    def _authorized(self, conn: HTTPConnection) -> bool:
        if self._token is None:
            return True
        cookie = conn.cookies.get(COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), self._cookie_value.encode()):
            return True
        offered = conn.query_params.get("token")
        return offered is not None and hmac.compare_digest(offered.encode(), self._token.encode())

    def _denied(self) -> Response:
        return HTMLResponse(unauthorized_page(), status_code=401, headers=SECURITY_HEADERS)

    async def _page(self, request: Request) -> Response:
        if not self._authorized(request):
            log.info("webchat page refused: no valid access token", extra={"client": _client(request)})
            return self._denied()
        base = request.url.path.rstrip("/")
        if self._token is not None and "token" in request.query_params:
            # Swap the token in the address bar for a cookie, so it is not bookmarked or shared.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = base + ("?" + urlencode(rest) if rest else "")
            response: Response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
            response.set_cookie(COOKIE, self._cookie_value, path=base or "/", httponly=True,
                                samesite="strict", secure=request.url.scheme == "https", max_age=7 * 86400)
            return response
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"),
                         self._default_lang)
        boot = {
            "lang": lang,
            "bot_name": self.bot_name,
            "ws_path": base + "/ws",
            "roles": list(ROLES),
            "people": self.directory.known_people(),
            "reactions": [*REACTIONS, self._cfg.ticket_emoji],
            "ticket_emoji": self._cfg.ticket_emoji,
            "max_message_chars": self._cfg.max_message_chars,
            "strings": {code: strings.table(code) for code in strings.LANGS},
        }
        return HTMLResponse(render_page(base=base, lang=lang, boot=boot), headers=SECURITY_HEADERS)

    async def _static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_TYPES:
            return Response(status_code=404)
        if not self._authorized(request):
            return self._denied()
        if name not in self._static:
            self._static[name] = (Path(__file__).parent / "static" / name).read_bytes()
        return Response(self._static[name], media_type=STATIC_TYPES[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    # -- websocket -------------------------------------------------------------------------------

    def _same_origin(self, ws: WebSocket) -> bool:
        # Browsers let any site open a websocket to 127.0.0.1; the Origin header is what tells a
        # page of ours from someone else's (RFC 6455 §10.2).
        origin = ws.headers.get("origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc.lower() == (ws.headers.get("host") or "").lower()

    async def _socket(self, ws: WebSocket) -> None:
        if not self._authorized(ws) or not self._same_origin(ws):
            log.info("webchat socket refused", extra={"client": _client(ws)})
            if "websocket.http.response" in ws.scope.get("extensions", {}):
                status = 401 if not self._authorized(ws) else 403
                await ws.send_denial_response(Response(status_code=status))
            else:
                await ws.close(code=1008)
            return
        await ws.accept()
        self._loop = asyncio.get_running_loop()
        page: OpenPage | None = None
        writer: asyncio.Task[None] | None = None
        try:
            page = await self._hello(ws)
            if page is None:
                return
            writer = asyncio.create_task(self._write(page))
            self._pages.add(page)
            log.info("webchat page opened", extra={"person": page.person.slug, "role": page.person.role})
            self._enqueue(page, self._welcome(page))
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                reply = await self._on_frame(page, message.get("text"))
                self._enqueue(page, reply)
        except (WebSocketDisconnect, TimeoutError):
            pass
        finally:
            if page is not None:
                self._pages.discard(page)
                log.info("webchat page closed", extra={"person": page.person.slug})
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer

    async def _hello(self, ws: WebSocket) -> OpenPage | None:
        """The first frame names the person; a refused name/role gets its reason and a close."""
        message = await asyncio.wait_for(ws.receive(), timeout=HELLO_TIMEOUT)
        if message["type"] == "websocket.disconnect":
            return None
        frame = _load(message.get("text"))
        if frame is None or frame.get("type") != "hello":
            await ws.send_text(json.dumps({"type": "refused", "code": "bad_frame"}))
            await ws.close(code=1008)
            return None
        try:
            person = self.directory.admit(frame.get("name"), frame.get("role"))
        except PersonRefused as exc:
            log.info("webchat person refused", extra={"reason": exc.code})
            await ws.send_text(json.dumps({"type": "refused", "code": exc.code}))
            await ws.close(code=1008)
            return None
        lang = str(frame["lang"]) if frame.get("lang") in strings.LANGS else self._default_lang
        rooms = {r.id: r for r in self.directory.rooms_for(person)}
        return OpenPage(ws=ws, person=person, rooms=rooms, lang=lang)

    async def _write(self, page: OpenPage) -> None:
        while True:
            text = await page.queue.get()
            if text is None or page.ws.client_state != WebSocketState.CONNECTED:
                return
            try:
                await page.ws.send_text(text)
            except Exception:  # the page went away mid-send; its reader loop ends the session
                return

    def _enqueue(self, page: OpenPage, frame: dict[str, Any]) -> None:
        try:
            page.queue.put_nowait(json.dumps(frame, ensure_ascii=False))
        except asyncio.QueueFull:
            log.warning("webchat page too slow, dropping it", extra={"person": page.person.slug})
            self._pages.discard(page)
            asyncio.get_running_loop().create_task(page.ws.close(code=1013))

    def _push(self, room: str, frame: dict[str, Any], *, visible_to: str | None) -> int:
        """Send a frame to every open page in `room` (only the addressed person's for private ones)."""
        sent = 0
        for page in list(self._pages):
            if room in page.rooms and (visible_to is None or page.person.slug == visible_to):
                self._enqueue(page, frame)
                sent += 1
        return sent

    def _welcome(self, page: OpenPage) -> dict[str, Any]:
        return {
            "type": "welcome",
            "person": {"slug": page.person.slug, "name": page.person.name, "role": page.person.role},
            "bot": self._bot_author,
            "rooms": [{"id": r.id, "kind": r.kind, "intake": r.intake} for r in page.rooms.values()],
            "history": {rid: self.history.room(rid, viewer=page.person.slug) for rid in page.rooms},
            "max_message_chars": self._cfg.max_message_chars,
        }

    async def _on_frame(self, page: OpenPage, text: str | None) -> dict[str, Any]:
        """Handle one frame from a page; the answer is an ack or an error the page can show."""
        if text is not None and len(text) > MAX_FRAME_CHARS:
            return {"type": "error", "code": "too_large"}
        frame = _load(text)
        if frame is None:
            return {"type": "error", "code": "bad_frame"}
        ref = frame.get("ref")
        ref = ref if isinstance(ref, str | int) and len(str(ref)) <= 64 else None
        handlers = {"message": self._on_message, "reaction": self._on_reaction,
                    "action": self._on_action, "lang": self._on_lang, "ping": self._on_ping}
        handler = handlers.get(str(frame.get("type")))
        try:
            if handler is None:
                raise BadFrame("bad_frame")
            extra = await handler(page, frame)
        except BadFrame as exc:
            return {"type": "error", "ref": ref, "code": exc.code, "params": exc.params}
        return {"type": "ack", "ref": ref, **extra}

    def _room_of(self, page: OpenPage, frame: dict[str, Any]) -> Room:
        room = page.rooms.get(frame.get("room"))  # type: ignore[arg-type]
        if room is None:
            raise BadFrame("unknown_room")
        return room

    def _envelope(self, page: OpenPage, frame: dict[str, Any], room: Room, *, event_id: str,
                  message_id: str | None = None, thread_root: str | None = None,
                  target: ChatMessage | None = None) -> dict[str, Any]:
        lang = frame.get("lang") if frame.get("lang") in strings.LANGS else page.lang
        return {
            "frame": {**frame, "lang": lang},
            "person": {"slug": page.person.slug, "name": page.person.name, "role": page.person.role},
            "room": {"id": room.id, "kind": room.kind, "intake": room.intake},
            "event_id": event_id,
            "received_at": self._clock(),
            "message_id": message_id,
            "thread_root": thread_root,
            "target": None if target is None else {
                "id": target.id, "thread_id": target.thread_id, "author": target.author,
                "text": target.text if target.text is not None else _card_text(target.card),
            },
        }

    async def _submit(self, event: Inbound) -> None:
        sink = self._sink
        if sink is None:
            raise BadFrame("not_ready")
        try:
            await sink.submit(event)
        except Exception as exc:
            log.warning("webchat event not stored", extra={"event_id": event.event_id, "error": repr(exc)})
            raise BadFrame("not_stored") from exc

    async def _on_message(self, page: OpenPage, frame: dict[str, Any]) -> dict[str, Any]:
        room = self._room_of(page, frame)
        text, cut = check_text(frame.get("text"), limit=self._cfg.max_message_chars)
        thread_root = None
        if frame.get("thread_id") is not None:
            parent = self.history.get(str(frame["thread_id"]), room=room.id)
            if parent is None or not parent.visible(page.person.slug):
                raise BadFrame("message_gone")
            thread_root = parent.thread_id or parent.id
        message_id = new_id()
        envelope = self._envelope(page, {**frame, "text": text}, room, event_id=f"msg-{message_id}",
                                  message_id=message_id, thread_root=thread_root)
        event = parse(envelope, bot_name=self.bot_name, ticket_emoji=self._cfg.ticket_emoji)
        assert event is not None  # a message frame always becomes an event
        message = ChatMessage(
            id=message_id, room=room.id, thread_id=thread_root, at=envelope["received_at"],
            author={"slug": page.person.slug, "name": page.person.name, "bot": False}, text=text,
            # a slash command is for the bot, like on Slack: only its sender sees it
            visible_to=page.person.slug if isinstance(event, CommandInvoked) else None,
            note={"code": "message_cut", "limit": self._cfg.max_message_chars} if cut else None,
        )
        self.history.add(message)  # before submit: the bot may answer in its thread at once
        try:
            await self._submit(event)
        except BadFrame:
            self.history.remove(message.id)
            raise
        self._push(room.id, {"type": "message", "message": message.to_json()}, visible_to=message.visible_to)
        return {"message_id": message.id, "cut": cut}

    async def _on_reaction(self, page: OpenPage, frame: dict[str, Any]) -> dict[str, Any]:
        room = self._room_of(page, frame)
        emoji = frame.get("emoji")
        if not isinstance(emoji, str) or not 0 < len(emoji) <= 16:
            raise BadFrame("bad_frame")
        target = self.history.get(frame.get("message_id"), room=room.id)  # type: ignore[arg-type]
        if target is None or not target.visible(page.person.slug):
            raise BadFrame("message_gone")
        slug = page.person.slug
        if not self.history.has_reaction(target, emoji, slug):
            envelope = self._envelope(page, frame, room, event_id=new_id("rx"),
                                      thread_root=target.thread_id, target=target)
            event = parse(envelope, bot_name=self.bot_name, ticket_emoji=self._cfg.ticket_emoji)
            if event is not None:
                await self._submit(event)
        self.history.toggle_reaction(target, emoji, slug=slug, name=page.person.name)
        reactions = target.to_json()["reactions"]
        self._push(room.id, {"type": "reaction", "room": room.id, "message_id": target.id,
                             "reactions": reactions}, visible_to=target.visible_to)
        return {}

    async def _on_action(self, page: OpenPage, frame: dict[str, Any]) -> dict[str, Any]:
        room = self._room_of(page, frame)
        card_id = frame.get("card_message_id")
        # A stale or forgotten card still reaches core: the database decides, and core answers.
        card = self.history.get(card_id, room=room.id) if isinstance(card_id, str) else None
        envelope = self._envelope(page, frame, room, event_id=new_id("act"),
                                  thread_root=card.thread_id if card else None, target=card)
        event = parse(envelope, bot_name=self.bot_name, ticket_emoji=self._cfg.ticket_emoji)
        assert event is not None
        await self._submit(event)
        return {}

    async def _on_lang(self, page: OpenPage, frame: dict[str, Any]) -> dict[str, Any]:
        if frame.get("lang") not in strings.LANGS:
            raise BadFrame("bad_frame")
        page.lang = frame["lang"]
        return {}

    async def _on_ping(self, page: OpenPage, frame: dict[str, Any]) -> dict[str, Any]:
        return {}

    # -- outbound --------------------------------------------------------------------------------

    async def send(self, to: ConversationRef, reply: Reply, *, update_message_id: str | None = None,
                   reply_to_message_id: str | None = None) -> SendResult:
        return await self._on_hub_loop(lambda: self._post(to, reply, update_message_id, reply_to_message_id))

    async def _post(self, to: ConversationRef, reply: Reply, update_message_id: str | None,
                    reply_to_message_id: str | None) -> SendResult:
        # core writes a direct message to a person as chat_id "@<user_id>": that is their DM room
        chat_id = f"dm:{to.chat_id[1:]}" if to.chat_id.startswith("@") else to.chat_id
        room = self.directory.room(chat_id)
        if room is None:
            raise DeliveryError(f"unknown web chat room {to.chat_id!r}", retryable=False)
        card = render(reply)
        if update_message_id:
            existing = self.history.get(update_message_id, room=room.id)
            if existing is not None and existing.author.get("bot"):
                existing.card = card
                existing.updated = True
                self._push(room.id, {"type": "update", "message": existing.to_json()},
                           visible_to=existing.visible_to)
                return SendResult(message_id=existing.id, updated_in_place=True)
            # Forgotten (restart, history limit) or not ours: post a fresh copy, as the contract allows.
        root = self.history.root_of(to.thread_id or reply_to_message_id)
        visible_to = None
        if reply.only_visible_to is not None and reply.only_visible_to.platform == PLATFORM:
            visible_to = reply.only_visible_to.user_id
        message = ChatMessage(id=new_id("b"), room=room.id, thread_id=root, author=self._bot_author,
                              at=self._clock(), card=card, visible_to=visible_to)
        self.history.add(message)
        self._push(room.id, {"type": "message", "message": message.to_json()}, visible_to=visible_to)
        return SendResult(message_id=message.id, updated_in_place=False)


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def _card_text(card: dict[str, Any] | None) -> str | None:
    if not card:
        return None
    return card.get("text") or card.get("title") or card.get("fallback_text")


def _client(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "?"
