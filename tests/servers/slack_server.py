"""A local stand-in for one Slack workspace's Web API and an incoming webhook, on 127.0.0.1.

It answers, as Slack's documentation describes them (tests/fixtures/slack/SOURCES.md):

* ``POST /api/chat.postMessage`` (a JSON body or a form, the token as ``Authorization:
  Bearer`` or a ``token`` field): checks the token, the channel and the bot's membership,
  that there is ``text`` or ``blocks``, the blocks (at most 50; a header's text at most 150
  characters, a section's 3,000, a button's label 75 and URL 3,000: else
  ``invalid_blocks``), and ``metadata``'s shape. Answers ``{"ok": true, "channel", "ts",
  "message"}``. Errors are HTTP 200 with ``{"ok": false, "error": ...}``, as Slack sends.
* ``conversations.history`` and ``conversations.replies`` (GET query or POST form): newest
  first (replies: the parent, then oldest first), ``oldest`` exclusive, ``limit`` and
  ``cursor`` paging, ``metadata`` only with ``include_all_metadata``; a token without the
  history scope gets ``missing_scope``.
* ``auth.test``: the token's workspace, its ``url`` first (for permalinks).
* ``POST /services/T…/B…/secret``: the incoming webhook, answering ``ok`` as text, or a
  status with one word (``invalid_token``, ``no_service``, ``no_text``, ``invalid_blocks``).

Message ``ts`` values come from the clock it is given (the test's), six decimals, each one
later than the one before. Every message is kept with its text, blocks, thread_ts and
metadata, in the order received (:attr:`FakeSlack.messages`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.servers.http_fake import FakeAPI, Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
BOT_TOKEN = "xoxb-1111111111-2222222222222-Sh0rtSc1enceB0tT0kenAbC"
CHANNEL_ID = "C0SHORTSCI1"
TEAM_ID = "T0SHORTSCI"
BOT_ID = "B0SHORTBOT"
BOT_USER = "U0SHORTBOT"
WEBHOOK_PATH = "/services/T0SHORTSCI/B0HOOK1234/w3bh00kS3cr3tZq9xV7pLr0sT"
WORKSPACE_URL = "https://shortscience-lab.slack.com/"
SCOPES = ("chat:write", "channels:history", "groups:history")

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_TEXT = 40_000
_TRUE = ("1", "true", "True")


def fixture(name: str) -> Any:
    """A body from tests/fixtures/slack, parsed."""
    return json.loads((FIXTURES / name).read_text("utf-8"))


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    via: str = "bot"
    """"bot" (chat.postMessage) or "webhook"."""
    unfurl: dict[str, Any] = field(default_factory=dict)


class FakeSlack(FakeAPI):
    """One workspace with one channel the bot is in, and one incoming webhook to it."""

    name = "fake Slack"
    post_pattern = r"/api/chat\.postMessage"
    webhook_pattern = r"/services/.+"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        token: str = BOT_TOKEN,
        channel: str = CHANNEL_ID,
        scopes: tuple[str, ...] = SCOPES,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.token = token
        self.channel = channel
        self.scopes = scopes
        self.revoked = False
        """True: the token was revoked (``token_revoked``), the webhook too (``invalid_token``)."""
        self.member = True
        """False: the bot was removed from the channel (``not_in_channel``)."""
        self.archived = False
        self.webhook_removed = False
        self._messages: list[Message] = []
        self._last_ts = 0.0
        self.route("POST", self.post_pattern, self._post_message)
        for method in ("GET", "POST"):
            self.route(method, r"/api/conversations\.history", self._history)
            self.route(method, r"/api/conversations\.replies", self._replies)
        self.route("POST", r"/services/(?P<path>.+)", self._webhook)
        self.route("POST", r"/api/auth\.test", self._auth_test)

    @property
    def messages(self) -> list[Message]:
        with self.lock:
            return list(self._messages)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    def add(self, text: str, **fields: Any) -> Message:
        """A message someone else posted in the channel (the history a look-up reads)."""
        with self.lock:
            message = Message(ts=self._next_ts(), channel=self.channel, text=text, **fields)
            self._messages.append(message)
            return message

    def revoke(self) -> None:
        with self.lock:
            self.revoked = True

    # -- chat.postMessage -----------------------------------------------------------------

    def _post_message(self, request: Request, match: re.Match[str]) -> Response:
        args = _arguments(request)
        refused = self._auth(request, args)
        if refused is not None:
            return refused
        if "chat:write" not in self.scopes:
            return _error("missing_scope", needed="chat:write", provided=",".join(self.scopes))
        channel = str(args.get("channel") or "")
        if channel != self.channel:
            return _error("channel_not_found")
        if self.archived:
            return _error("is_archived")
        if not self.member:
            return _error("not_in_channel")
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return _error("invalid_blocks_format")
        if not text and not blocks:
            return _error("no_text")
        if blocks is not None and not _valid_blocks(blocks):
            return _error("invalid_blocks")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return _error("msg_too_long")
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _error("invalid_metadata_format")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return _error("invalid_metadata_format")
        thread_ts = args.get("thread_ts") or None
        with self.lock:
            message = Message(
                ts=self._next_ts(),
                channel=channel,
                text=str(text or ""),
                blocks=blocks,
                thread_ts=str(thread_ts) if thread_ts else None,
                metadata=metadata,
                unfurl={k: args[k] for k in ("unfurl_links", "unfurl_media") if k in args},
            )
            self._messages.append(message)
        return Response(
            200,
            {"ok": True, "channel": channel, "ts": message.ts, "message": _shown(message, True)},
        )

    # -- history --------------------------------------------------------------------------

    def _history(self, request: Request, match: re.Match[str]) -> Response:
        args = _arguments(request)
        refused = self._read_check(request, args)
        if refused is not None:
            return refused
        with self.lock:
            found = [m for m in self._messages if m.thread_ts is None or m.thread_ts == m.ts]
        found.reverse()  # newest first
        return self._page(found, args)

    def _replies(self, request: Request, match: re.Match[str]) -> Response:
        args = _arguments(request)
        refused = self._read_check(request, args)
        if refused is not None:
            return refused
        parent = str(args.get("ts") or "")
        with self.lock:
            root = [m for m in self._messages if m.ts == parent]
            if not root:
                return _error("thread_not_found")
            found = root + [m for m in self._messages if m.thread_ts == parent and m.ts != parent]
        return self._page(found, args)

    def _page(self, found: list[Message], args: dict[str, Any]) -> Response:
        oldest = float(args.get("oldest") or 0)
        metadata = str(args.get("include_all_metadata", "")) in _TRUE
        found = [m for m in found if float(m.ts) > oldest]
        limit = max(1, min(int(args.get("limit") or 100), 999))
        start = int(args.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        body: dict[str, Any] = {
            "ok": True,
            "messages": [_shown(m, metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
        return Response(200, body)

    def _read_check(self, request: Request, args: dict[str, Any]) -> Response | None:
        refused = self._auth(request, args)
        if refused is not None:
            return refused
        if "channels:history" not in self.scopes:
            return _error(
                "missing_scope", needed="channels:history", provided=",".join(self.scopes)
            )
        if str(args.get("channel") or "") != self.channel:
            return _error("channel_not_found")
        return None

    # -- auth.test ------------------------------------------------------------------------------

    def _auth_test(self, request: Request, match: re.Match[str]) -> Response:
        args = _arguments(request)
        refused = self._auth(request, args)
        if refused is not None:
            return refused
        return Response(
            200,
            {
                "ok": True,
                "url": WORKSPACE_URL,
                "team": "ShortScience",
                "user": "shortscience_bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
            },
        )

    # -- the incoming webhook ---------------------------------------------------------------

    def _webhook(self, request: Request, match: re.Match[str]) -> Response:
        if "/services/" + match["path"] != WEBHOOK_PATH:
            return Response(404, "no_service")
        if self.webhook_removed:
            return Response(404, "no_service")
        if self.revoked:
            return Response(403, "invalid_token")
        try:
            body = request.json()
        except ValueError:
            return Response(400, "invalid_payload")
        if not isinstance(body, dict):
            return Response(400, "invalid_payload")
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return Response(400, "no_text")
        if blocks is not None and not _valid_blocks(blocks):
            return Response(400, "invalid_blocks")
        with self.lock:
            self._messages.append(
                Message(
                    ts=self._next_ts(),
                    channel=self.channel,
                    text=str(text or ""),
                    blocks=blocks,
                    metadata=body.get("metadata"),
                    via="webhook",
                    unfurl={k: body[k] for k in ("unfurl_links", "unfurl_media") if k in body},
                )
            )
        return Response(200, "ok")

    # -- helpers ------------------------------------------------------------------------------

    def _auth(self, request: Request, args: dict[str, Any]) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header else str(args.get("token") or "")
        if not token:
            return _error("not_authed")
        if token != self.token:
            return _error("invalid_auth")
        if self.revoked:
            return _error("token_revoked")
        return None

    def _next_ts(self) -> str:
        """The clock's time in seconds, always later than the last message's."""
        now = round(self.clock().timestamp(), 6)
        self._last_ts = max(now, round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"


def _arguments(request: Request) -> dict[str, Any]:
    """A Web API call's arguments: a JSON body, a form, or the query string."""
    content_type = request.headers.get("content-type", "")
    arguments: dict[str, Any] = {key: values[-1] for key, values in request.query.items()}
    if content_type.startswith("application/json"):
        body = request.json()
        if isinstance(body, dict):
            arguments.update(body)
    elif request.body:
        arguments.update(request.form())
    return arguments


def _error(code: str, **more: str) -> Response:
    return Response(200, {"ok": False, "error": code, **more})


def _shown(message: Message, with_metadata: bool) -> dict[str, Any]:
    """A message as the Web API shows it (shape: chat.postMessage's example answer)."""
    shown: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": message.text,
        "ts": message.ts,
        "bot_id": BOT_ID,
        "user": BOT_USER,
        "team": TEAM_ID,
    }
    if message.blocks is not None:
        shown["blocks"] = message.blocks
    if message.thread_ts is not None:
        shown["thread_ts"] = message.thread_ts
    if with_metadata and message.metadata is not None:
        shown["metadata"] = message.metadata
    return shown


def _valid_blocks(blocks: object) -> bool:
    """The checks of Block Kit that a digest's messages could fail."""
    if not isinstance(blocks, list) or not blocks or len(blocks) > MAX_BLOCKS:
        return False
    for block in blocks:
        if not isinstance(block, dict):
            return False
        kind = block.get("type")
        if kind == "header":
            if not _text_object(block.get("text"), MAX_HEADER, plain_only=True):
                return False
        elif kind == "section":
            if not _text_object(block.get("text"), MAX_SECTION):
                return False
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements or len(elements) > 25:
                return False
            for element in elements:
                if not isinstance(element, dict) or element.get("type") != "button":
                    return False
                if not _text_object(element.get("text"), MAX_BUTTON_TEXT, plain_only=True):
                    return False
                url = element.get("url")
                if url is not None and (not isinstance(url, str) or len(url) > MAX_BUTTON_URL):
                    return False
        elif kind not in ("divider", "context", "image", "rich_text"):
            return False
    return True


def _text_object(value: object, limit: int, *, plain_only: bool = False) -> bool:
    if not isinstance(value, dict):
        return False
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    text = value.get("text")
    return value.get("type") in kinds and isinstance(text, str) and 1 <= len(text) <= limit
