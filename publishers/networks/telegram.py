"""Posts to a Telegram channel or group through a bot, with the Bot API over plain HTTP.

Why ``requests`` and not python-telegram-bot or aiogram: both are asyncio frameworks built
around a long-running bot that polls for updates or takes webhooks, while this client is a
synchronous call made from one of the delivery worker's threads. The two Bot API methods
it needs (``sendMessage`` and ``sendPhoto``) are one POST each, and ``requests`` is already
what the Discord and Facebook clients speak.

Requests go to ``{api_base}/bot{token}/{method}`` (``api_base`` defaults to
``https://api.telegram.org``). The token is part of the URL path, so the URL is a secret:
it never appears in a message, a repr or a log line. requests' exceptions quote the URL,
so they never become a cause or context of our errors; answers are redacted before they
are read; and urllib3's loggers, which write the request line at DEBUG, pass through
:class:`_HideBotTokens`.

Every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...,
"description": ..., "parameters": ...}`` (Bot API, "Making requests"; ``parameters`` is a
ResponseParameters object with ``retry_after`` or ``migrate_to_chat_id``). What they mean
here:

* 429 with ``parameters.retry_after`` seconds: :class:`RateLimited` until then;
* ``parameters.migrate_to_chat_id`` (a group became a supergroup): :class:`Permanent`,
  naming the new id to put in ``telegram_chat``;
* 401 (a wrong token), 404 (a malformed one), 403 (the bot is not a member of the chat,
  was kicked, may not post) and 400 "chat not found": :class:`Permanent`, saying what a
  moderator does about it;
* 400 "can't parse entities" or "message is too long": :class:`Permanent`, and our bug;
* a 5xx: :class:`Transient`; no answer after the request was written:
  :class:`UnknownOutcome`; a connection refused before sending: :class:`Transient`.

The message is sent in the HTML parse mode (its ``rich["html"]``, rendered by
:mod:`publishers.render.telegram_html`), with link previews off: the message already has
the paper's title and TL;DR, and a preview card of the arXiv page under each summary would
say them again and bury the digest. A post with an equation card goes out as ``sendPhoto``,
the PNG uploaded as ``multipart/form-data`` and the message as its caption.

A bot cannot read a chat's history through the Bot API, so after a lost answer
:meth:`TelegramClient.find` raises :class:`LookupUnsupported`: the worker holds the part
and a moderator looks at the chat.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from publishers.networks.base import (
    LookupUnsupported,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import never_sent, redact, retry_after
from publishers.render.telegram_html import CAPTION_LIMIT, utf16_length
from publishers.settings import ChannelSettings
from storage.types import utcnow

log = logging.getLogger(__name__)

API_BASE = "https://api.telegram.org"
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=30)
"""A 429 that does not say how long: Telegram's own waits are seconds to a minute."""
MAX_ERROR_TEXT = 300
USER_AGENT = "shortscience-bot (https://github.com/shortscience/shortscience-bot, 0.1)"
NO_PREVIEW = {"is_disabled": True}
"""LinkPreviewOptions that show no preview of the message's links."""
_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+/")
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
"""urllib3's loggers that quote a request's URL or path (at DEBUG, and in a few warnings)."""


class _HideBotTokens(logging.Filter):
    """Writes ``/bot<token>/`` for any Bot API token in urllib3's log records.

    urllib3 logs each request line (``"POST /bot123:ABC/sendMessage HTTP/1.1" 200``). A
    filter sees only its own logger's records, so it is added to each of them, once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            hidden = _TOKEN_IN_PATH.sub("/bot<token>/", message)
            if hidden != message:
                record.msg, record.args = hidden, None
        return True


_install_lock = threading.Lock()
_installed = False


def _hide_tokens_in_logs() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            for name in _URLLIB3_LOGGERS:
                logging.getLogger(name).addFilter(_HideBotTokens())
            _installed = True


class TelegramClient(Network):
    """Posts into one chat (a channel or a group) as one bot. Synchronous."""

    kind = "telegram"
    uploads_media = False  # the equation card travels with its message (sendPhoto)

    def __init__(
        self,
        token: str,
        *,
        chat: str,
        api_base: str | None = None,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._token = token.strip()
        self.chat = chat
        self.api_base = (api_base or API_BASE).rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        _hide_tokens_in_logs()

    @classmethod
    def from_settings(
        cls, channel: ChannelSettings, *, timeout: float, clock: Callable[[], datetime]
    ) -> TelegramClient:
        """The client of a ``kind = "telegram"`` channel: its bot token and ``telegram_chat``
        (which the settings require for this kind)."""
        return cls(
            channel.credentials["bot_token"],
            chat=channel.telegram_chat or "",
            api_base=channel.api_base,
            timeout=timeout,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"TelegramClient(chat={self.chat!r}, api_base={self.api_base!r})"

    @property
    def _subject(self) -> str:
        return f"Telegram chat {self.chat}"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Send the message in the HTML parse mode, as the caption of its equation card
        when it has one. A part without HTML (made before it had one) goes as plain text."""
        markup = (post.rich or {}).get("html")
        fields: dict[str, Any] = {"chat_id": self.chat}
        if isinstance(markup, str) and markup:
            fields["parse_mode"] = "HTML"
        else:
            markup = post.text
        card = post.media[0] if post.media else None
        if card is not None and utf16_length(post.text) > CAPTION_LIMIT:
            # Rendered for a message, not a caption: the text matters more than the picture.
            log.warning(
                "%s: digest %s part %s is too long for a caption; sent without its picture",
                self._subject,
                post.digest_id,
                post.part + 1,
            )
            card = None
        if card is None:
            payload = {**fields, "text": markup, "link_preview_options": NO_PREVIEW}
            response = self._send("sendMessage", json_body=payload)
        else:
            form = {**fields, "caption": markup}
            photo = (f"card.{card.extension}", card.content, card.mime_type)
            response = self._send("sendPhoto", form=form, photo=photo)
        body = self._json(response)
        if not 200 <= response.status_code < 300:
            raise self._refusal(response, body)
        result = body.get("result") if body is not None and body.get("ok") is True else None
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        if not isinstance(result, Mapping) or not isinstance(message_id, int):
            # A 2xx means the message exists; without its id we cannot say which it is.
            raise UnknownOutcome(
                f"{self._subject}: the Bot API answered HTTP {response.status_code} without "
                "a message id; the message was probably posted"
            )
        return Posted(remote_id=str(message_id), url=self._link(result, message_id))

    def find(self, post: OutgoingPost) -> Posted | None:
        """Always LookupUnsupported: the Bot API lets a bot send into a chat, not read
        its history, so only a person can see whether the message went out."""
        raise LookupUnsupported(
            f"{self._subject}: a Telegram bot cannot read the chat's history to see whether "
            "the message was posted; a moderator should look at the chat"
        )

    def close(self) -> None:
        """Drop the HTTP session; the token stays with the client."""
        self._session.close()

    # -- HTTP ----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        photo: tuple[str, bytes, str] | None = None,
    ) -> requests.Response:
        """One POST; a failure without an answer becomes Transient or UnknownOutcome.

        The project's error is raised outside the ``except`` block: requests' messages
        quote the URL, token and all, and a chained context would carry it into logs.
        """
        url = f"{self.api_base}/bot{self._token}/{method}"
        try:
            if photo is None:
                return self._session.post(
                    url, json=json_body, timeout=self.timeout, allow_redirects=False
                )
            return self._session.post(
                url,
                data=form,
                files={"photo": photo},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            reason, nothing_sent = type(error).__name__, never_sent(error)
        if nothing_sent:
            raise Transient(f"{self._subject}: could not connect to the Bot API ({reason})")
        raise UnknownOutcome(
            f"{self._subject}: sent, but no answer came ({reason}); the message may exist"
        )

    def _json(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The answer's JSON object, the token removed, or None if it is not one."""
        try:
            body = json.loads(redact(response.text, [self._token]))
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _refusal(
        self, response: requests.Response, body: Mapping[str, Any] | None
    ) -> Transient | Permanent:
        """The project's error for an answer that is not ``ok``."""
        status = response.status_code
        code = body.get("error_code") if body is not None else None
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        description = _description(body)
        said = f"HTTP {status}" + (f": {description}" if description else "")
        parameters = body.get("parameters") if body is not None else None
        parameters = parameters if isinstance(parameters, Mapping) else {}
        migrated = parameters.get("migrate_to_chat_id")
        if migrated is not None:
            return Permanent(
                f"{self._subject} was upgraded to a supergroup, whose id is {migrated} "
                f'({said}): set telegram_chat = "{migrated}" in the channel\'s settings'
            )
        if status == 429:
            wait = parameters.get("retry_after")
            now = self._clock()
            when = retry_after(response.headers, now) or now + DEFAULT_RATE_LIMIT_WAIT
            if isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0:
                when = now + timedelta(seconds=wait)
            return RateLimited(f"{self._subject}: Telegram's flood control ({said})", retry_at=when)
        if status >= 500:
            later = retry_after(response.headers, self._clock())
            return Transient(f"{self._subject}: the Bot API failed ({said})", retry_at=later)
        lowered = description.lower()
        if status == 401:
            return Permanent(
                f"Telegram refused the bot token ({said}): set TELEGRAM_BOT_TOKEN to the "
                "token @BotFather gave the bot (a revoked token needs the new one)"
            )
        if status == 404:
            return Permanent(
                f"Telegram does not know this bot ({said}): TELEGRAM_BOT_TOKEN is not a "
                "bot token (it looks like 123456789:AA...; @BotFather shows it)"
            )
        if status == 403:
            return Permanent(
                f"{self._subject} refused the bot ({said}): add the bot to the chat, as an "
                "administrator allowed to post messages in a channel"
            )
        if "chat not found" in lowered:
            return Permanent(
                f"{self._subject} was not found ({said}): check telegram_chat (the "
                'channel\'s "@username" or its numeric id "-100...") and that the bot '
                "was added to the chat"
            )
        if "can't parse entities" in lowered or "too long" in lowered:
            return Permanent(
                f"{self._subject} refused the message ({said}): this is a bug in "
                "shortscience-bot's Telegram rendering, please report it with this message"
            )
        return Permanent(f"{self._subject} refused the message ({said})")

    def _link(self, result: Mapping[str, Any], message_id: int) -> str | None:
        """The message's public link, for a chat with a username (``t.me/name/id``)."""
        chat = result.get("chat")
        username = chat.get("username") if isinstance(chat, Mapping) else None
        if not isinstance(username, str) and self.chat.startswith("@"):
            username = self.chat[1:]
        return f"https://t.me/{username}/{message_id}" if isinstance(username, str) else None


def _description(body: Mapping[str, Any] | None) -> str:
    """The answer's ``description``, on one line and short (it goes to moderators)."""
    text = body.get("description") if body is not None else None
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
