"""A local stand-in for the Telegram Bot API's sending methods, on 127.0.0.1.

It answers ``POST /bot{token}/sendMessage`` and ``/bot{token}/sendPhoto`` (any method
name is routed; others get 404 "Not Found" as the Bot API does) as
core.telegram.org/bots/api documents them, and keeps what the chats received::

    with FakeTelegram() as server:
        client = TelegramClient(server.token, chat="@shortscience_digest", api_base=server.url)
        client.post(...)
        server.messages[0].text, server.messages[0].html, server.messages[0].photo

Parameters are read from a JSON body, a form (``application/x-www-form-urlencoded``) or
``multipart/form-data`` (a photo upload), the three ways the Bot API takes them. What it
checks, in this order, each refusal in the Bot API's error shape ``{"ok": false,
"error_code": n, "description": "..."}`` (descriptions as Telegram words them; see
tests/fixtures/telegram/SOURCES.md):

* the token: 401 "Unauthorized" (after :meth:`FakeTelegram.revoke`, or a wrong token);
* the chat (``@username`` or numeric id): 400 "Bad Request: chat not found"; a group
  upgraded to a supergroup: 400 with ``parameters.migrate_to_chat_id``; a bot that is no
  member or was kicked: 403;
* the text in the ``parse_mode`` "HTML": parsed with :mod:`html.parser` into text and
  entities; an unsupported tag, a tag closed that is not open, or one left open is 400
  "Bad Request: can't parse entities: ...";
* the length after parsing, in UTF-16 code units: a message of 1-4096 (400 "Bad Request:
  message text is empty" / "message is too long"), a caption of at most 1024 (400 "Bad
  Request: message caption is too long");
* ``sendPhoto``: an uploaded file in ``photo`` (a file id or URL string is not served
  here: 400).

A message gets ``message_id`` counting up from 1 in each chat, ``date`` from the clock,
``chat``, and ``text`` + ``entities`` or ``photo`` + ``caption`` + ``caption_entities``.
Rate limits and server errors are scripted with :meth:`FakeAPI.fail` and
:meth:`FakeTelegram.flood` / :meth:`FakeTelegram.error`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.servers.http_fake import FakeAPI, Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
BOT_TOKEN = "7012345678:AAF-fake_Token_only4Tests-ZqX9vLr0sT7uY"
CHANNEL_ID = -1001234567890
CHANNEL_USERNAME = "shortscience_digest"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

_ENTITY_OF_TAG = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
"""The tags of the Bot API's "HTML style", and the entity each makes."""
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
"""The named entities the HTML style decodes; numeric ones all are."""


@dataclass
class Chat:
    """A chat the bot can post in."""

    id: int
    username: str | None = CHANNEL_USERNAME
    type: str = "channel"
    title: str = "ShortScience digest"
    member: bool = True
    """False: the bot was never added (403 "bot is not a member of the channel chat")."""
    kicked: bool = False
    migrated_to: int | None = None
    """A group upgraded to a supergroup with this id (400, ``migrate_to_chat_id``)."""

    def object(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            shown["username"] = self.username
        return shown


@dataclass(frozen=True)
class Held:
    """A message as the chat holds it."""

    message_id: int
    chat_id: int
    text: str
    """The visible text or caption, entities parsed."""
    html: str | None
    """What was sent, when it was sent in the HTML parse mode."""
    entities: list[dict[str, Any]]
    photo: bytes | None = None
    link_preview_options: Mapping[str, Any] | None = None
    message: dict[str, Any] = field(default_factory=dict)
    """The Message object answered."""


class EntityError(ValueError):
    """The HTML is not what Telegram's HTML style takes; the message is Telegram's wording."""


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """``markup`` as Telegram parses it: its visible text and entities (offsets and lengths
    in UTF-16 code units). Raises EntityError as Telegram refuses it."""
    parser = _EntityParser()
    parser.feed(markup)
    parser.close()
    if parser.open:
        tag, _, at = parser.open[-1]
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{tag}" at {at}')
    return "".join(parser.text), parser.entities


class _EntityParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.text: list[str] = []
        self.units = 0
        self.open: list[tuple[str, dict[str, Any], int]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _ENTITY_OF_TAG.get(tag)
        attributes = dict(attrs)
        if kind is None or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise EntityError(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        entity: dict[str, Any] = {"type": kind}
        if tag == "a":
            href = attributes.get("href") or ""
            if not re.match(r"(https?|tg)://", href):
                raise EntityError(f'Wrong URL "{href}" in the "a" tag')
            entity["url"] = href
        self.open.append((tag, entity, self.units))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityError(f'Unsupported start tag "{tag}/" at byte offset {self._offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise EntityError(f"Unmatched end tag at byte offset {self._offset()}")
        _, entity, start = self.open.pop()
        if self.units > start:
            self.entities.append({**entity, "offset": start, "length": self.units - start})

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise EntityError(f"Unsupported start tag at byte offset {self._offset()}")
        if "&" in data:
            raise EntityError(
                f"Can't find end of the entity starting at byte offset {self._offset()}"
            )
        self._add(data)

    def handle_entityref(self, name: str) -> None:
        self._add(_NAMED.get(name, f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self._add(html.unescape(f"&#{name};"))

    def _add(self, text: str) -> None:
        self.text.append(text)
        self.units += utf16(text)

    def _offset(self) -> int:
        line, column = self.getpos()
        return column if line == 1 else -1


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def recorded(name: str) -> Response:
    """An error answer from tests/fixtures/telegram (its HTTP status is its ``error_code``)."""
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return Response(int(body.get("error_code", 200)), body)


class FakeTelegram(FakeAPI):
    """One bot in its chats; what each received, oldest first, in :attr:`messages`."""

    name = "fake Telegram Bot API"
    send_pattern = r"/bot[^/]+/send(?:Message|Photo)"
    """For ``fail("POST", server.send_pattern, ...)``."""

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        chats: list[Chat] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.token = token
        self.chats = chats if chats is not None else [Chat(CHANNEL_ID)]
        self.clock = clock
        self.revoked = False
        self._messages: list[Held] = []
        self._next_id: dict[int, int] = {}
        self.route("POST", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._call)
        self.route("GET", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._call)

    @property
    def messages(self) -> list[Held]:
        with self.lock:
            return list(self._messages)

    def revoke(self) -> None:
        """The token is revoked in @BotFather: every call is 401 from now on."""
        self.revoked = True

    @staticmethod
    def flood(seconds: int) -> Response:
        """A flood-control refusal, as Telegram words it."""
        return Response(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            },
        )

    @staticmethod
    def error(status: int = 500, description: str = "Internal Server Error") -> Response:
        return Response(status, {"ok": False, "error_code": status, "description": description})

    # -- the route -------------------------------------------------------------------------

    def _call(self, request: Request, match: re.Match[str]) -> Response:
        if self.revoked or match["token"] != self.token:
            return self.error(401, "Unauthorized")
        method = match["method"]
        if method not in ("sendMessage", "sendPhoto"):
            return self.error(404, "Not Found")
        try:
            fields, photo = _parameters(request)
        except ValueError:
            return self.error(400, "Bad Request: can't parse request")
        chat = self._chat(str(fields.get("chat_id", "")))
        if chat is None:
            return self.error(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            return Response(
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": chat.migrated_to},
                },
            )
        if chat.kicked:
            return self.error(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if not chat.member:
            return self.error(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        source = str(fields.get("caption" if method == "sendPhoto" else "text") or "")
        html_mode = str(fields.get("parse_mode", "")).lower() == "html"
        try:
            text, entities = parse_html(source) if html_mode else (source, [])
        except EntityError as error:
            return self.error(400, f"Bad Request: can't parse entities: {error}")
        stripped = text.strip()
        if method == "sendMessage":
            if not stripped:
                return self.error(400, "Bad Request: message text is empty")
            if utf16(text) > MESSAGE_LIMIT:
                return self.error(400, "Bad Request: message is too long")
        else:
            if photo is None:
                return self.error(400, "Bad Request: there is no photo in the request")
            if utf16(text) > CAPTION_LIMIT:
                return self.error(400, "Bad Request: message caption is too long")
        kept = self._keep(chat, method, fields, text, entities, photo, html_mode, source)
        return Response(200, {"ok": True, "result": kept})

    def _chat(self, chat_id: str) -> Chat | None:
        for chat in self.chats:
            if chat_id == str(chat.id) or (chat.username and chat_id == f"@{chat.username}"):
                return chat
        return None

    def _keep(
        self,
        chat: Chat,
        method: str,
        fields: Mapping[str, Any],
        text: str,
        entities: list[dict[str, Any]],
        photo: bytes | None,
        html_mode: bool,
        source: str,
    ) -> dict[str, Any]:
        with self.lock:
            message_id = self._next_id.get(chat.id, 0) + 1
            self._next_id[chat.id] = message_id
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(self.clock().timestamp()),
                "chat": chat.object(),
            }
            if chat.type == "channel":
                message["sender_chat"] = chat.object()
            if method == "sendPhoto":
                message["photo"] = [
                    {
                        "file_id": f"AgACAgQAAx0C{chat.id}{message_id}",
                        "file_unique_id": f"AQAD{message_id}",
                        "width": 320,
                        "height": 90,
                        "file_size": len(photo or b""),
                    }
                ]
                if text:
                    message["caption"] = text
                    message["caption_entities"] = entities
            else:
                message["text"] = text
                if entities:
                    message["entities"] = entities
            preview = fields.get("link_preview_options")
            if isinstance(preview, str):
                preview = json.loads(preview)
            self._messages.append(
                Held(
                    message_id=message_id,
                    chat_id=chat.id,
                    text=text,
                    html=source if html_mode else None,
                    entities=entities,
                    photo=photo,
                    link_preview_options=preview,
                    message=message,
                )
            )
            return message


def _parameters(request: Request) -> tuple[dict[str, Any], bytes | None]:
    """The call's parameters and its uploaded ``photo``, from whichever body it came in."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = request.json()
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body, None
    if content_type.startswith("multipart/form-data"):
        parsed = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        fields: dict[str, Any] = {}
        photo = None
        for part in parsed.iter_parts() if isinstance(parsed, EmailMessage) else []:
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                if name == "photo":
                    photo = bytes(data)
            else:
                fields[str(name)] = bytes(data).decode("utf-8")
        return fields, photo
    fields = request.form() if request.body else {k: v[-1] for k, v in request.query.items()}
    return dict(fields), None
