"""Posts to a Discord channel, through a webhook or through the running bot; never pings.

Two ways in, one set of rules:

* :class:`DiscordWebhookClient` executes a channel webhook with ``requests`` when no bot
  runs in this process. The webhook URL carries its token in the path, so the URL is a
  secret: it never appears in a message, a repr or (through urllib3's loggers) a log line.
* :class:`DiscordBotClient` hands the text to the running bot through the small
  :class:`ChannelPoster` protocol, so ``publishers`` needs neither ``bot`` nor discord.py.

Every message is sent with ``allowed_mentions: {"parse": []}``: a summary quoting
``@everyone`` or ``<@123>`` must not notify anyone. :func:`discord_errors` maps Discord's
HTTP answers to the project's errors for both ways.

Pictures (equation cards) travel with the message itself (``uploads_media`` is False):
each is an attachment, a ``files[n]`` part of a ``multipart/form-data`` body whose
``payload_json`` lists it under ``attachments`` with its alt text as ``description``
(reference.mdx, "Uploading Files"). Discord shows an image attachment under the text,
its description read out by screen readers. No embed points at it: an embed's image has
no alt text of its own, and the text stays exactly what a look-up compares.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import requests

from publishers.networks.base import (
    LookupUnsupported,
    Media,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import never_sent, redact, retry_after
from storage.types import utcnow

log = logging.getLogger(__name__)

API_VERSION = 10
"""Pinned: a path without a version gets Discord's default, v6, which is deprecated and
reports ``retry_after`` in milliseconds (developers/reference.mdx, "API Versioning")."""
USER_AGENT = "DiscordBot (https://github.com/shortscience/shortscience-bot, 0.1) shortscience-bot"
"""The form Discord asks for; requests without a valid one may be blocked by Cloudflare."""
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
"""Discord's allowed-mentions object that lets the text mention no one at all."""
JUMP_URL = "https://discord.com/channels/{guild}/{channel}/{message}"

DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)
"""A 429 that says neither ``Retry-After`` nor ``retry_after``: Discord's buckets reset in
seconds to minutes (rate-limits.mdx examples)."""
CLOUDFLARE_BAN_WAIT = timedelta(hours=1)
"""A 429 without a JSON body is Cloudflare's ban page (discord.py reads it the same way),
not Discord's API. The docs give no length; retrying soon only adds invalid requests."""

LOOKUP_LIMIT = 50
"""How many of the bot's own recent messages :meth:`DiscordBotClient.find` reads."""
LOOKUP_MARGIN = timedelta(minutes=5)
"""Messages may be this much older than ``not_before``: clocks drift."""
DISCORD_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
MAX_ERROR_TEXT = 300
MAX_DESCRIPTION = 1024
"""An attachment's ``description`` (its alt text): "max 1024 characters" (message.mdx,
Attachment Object). Counted here in UTF-16 code units, never fewer than characters, so a
description within it is within Discord's count whichever unit Discord counts in."""

_WEBHOOK_PATH = re.compile(r"(?P<prefix>.*?)/webhooks/(?P<id>\d+)/(?P<token>[^/]+)/?")
_URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)
"""urllib3's loggers that quote request URLs (at DEBUG, and in a few warnings)."""


# -- errors -----------------------------------------------------------------------------------


def discord_errors(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    now: datetime,
    *,
    subject: str = "Discord",
) -> PublishError:
    """The project's error for an error answer from Discord's HTTP API.

    ``body`` is the decoded JSON object (None when the answer was not JSON), ``headers``
    the answer's headers in any case. From discord.py's ``HTTPException`` pass
    ``error.status``, ``{"code": error.code, "message": error.text}`` and
    ``error.response.headers``. ``subject`` starts the message (``"Discord webhook 123"``).

    429 is RateLimited until ``Retry-After`` (whole seconds, rounded up, whatever the API
    version), else the body's ``retry_after`` (seconds, a float in v8 and later); 5xx is
    Transient; any other status is Permanent: a 401 bad token, a 403 missing permission,
    a 404 gone channel or webhook, a 400 refused text (50035, 50006).
    """
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    said = f"{subject} answered HTTP {status}{_detail(body)}"
    if status == 429:
        return RateLimited(
            said + _scope(body, lowered), retry_at=_rate_limited_until(body, lowered, now)
        )
    if status >= 500:
        return Transient(said, retry_at=retry_after(lowered, now))
    if status == 401:
        return Permanent(f"{said}: the token is invalid or was reset")
    if status == 403:
        return Permanent(f"{said}: not allowed to post in this channel")
    if status == 404:
        return Permanent(f"{said}: the channel, webhook or message replied to is gone")
    if 300 <= status < 400:
        return Permanent(f"{said}: a redirect, which is not followed; check the address")
    return Permanent(said)


def _detail(body: Mapping[str, Any] | None) -> str:
    """`` (code 50035: Invalid Form Body; content: Must be 2000 or fewer in length.)``."""
    if not body:
        return ""
    code, message = body.get("code"), str(body.get("message") or "")
    head = message
    if code not in (None, 0):
        head = f"code {code}: {message}" if message else f"code {code}"
    fields = _form_errors(body.get("errors"))
    text = "; ".join(part for part in (head, *fields) if part)[:MAX_ERROR_TEXT]
    return f" ({text})" if text else ""


def _form_errors(errors: object, path: str = "") -> list[str]:
    """Discord's nested ``errors`` (``{"content": {"_errors": [...]}}``) as ``field: message``."""
    if not isinstance(errors, Mapping):
        return []
    found: list[str] = []
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping) and item.get("message"):
                    found.append(f"{path or 'request'}: {item['message']}")
        else:
            found += _form_errors(value, f"{path}.{key}" if path else str(key))
    return found


def _scope(body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> str:
    scope = headers.get("x-ratelimit-scope")
    if not scope and body is not None and body.get("global") is True:
        scope = "global"
    return f" [{scope} rate limit]" if scope else ""


def _rate_limited_until(
    body: Mapping[str, Any] | None, headers: Mapping[str, str], now: datetime
) -> datetime:
    when = retry_after(headers, now)
    if when is None and body is not None:
        seconds = body.get("retry_after")
        if isinstance(seconds, int | float) and 0 <= seconds < 10**7:
            when = now + timedelta(seconds=seconds)
    if when is None:
        when = now + (DEFAULT_RATE_LIMIT_WAIT if body is not None else CLOUDFLARE_BAN_WAIT)
    return max(when, now)


def snowflake_time(snowflake: int) -> datetime:
    """When a Discord id was made: its top 42 bits count milliseconds since 2015."""
    return DISCORD_EPOCH + timedelta(milliseconds=snowflake >> 22)


def jump_url(guild_id: object, channel_id: object, message_id: object) -> str:
    """The link Discord's "Copy Message Link" gives."""
    return JUMP_URL.format(guild=guild_id, channel=channel_id, message=message_id)


# -- pictures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A picture sent with a message: one ``files[n]`` part and its ``attachments`` entry."""

    filename: str
    content: bytes
    content_type: str
    description: str
    """Its alt text, within :data:`MAX_DESCRIPTION`."""

    def entry(self, index: int) -> dict[str, Any]:
        """Its ``attachments`` entry in ``payload_json``; ``index`` is the ``n`` of its part."""
        return {"id": index, "filename": self.filename, "description": self.description}


def attachments_of(post: OutgoingPost) -> tuple[Attachment, ...]:
    """The post's pictures as attachments, in order: ``equation-1.png``, ``equation-2.png``."""
    return tuple(_attachment(media, number) for number, media in enumerate(post.media, start=1))


def _attachment(media: Media, number: int) -> Attachment:
    return Attachment(
        filename=f"equation-{number}.{media.extension}",
        content=media.content,
        content_type=media.mime_type,
        description=clip_description(media.alt),
    )


def clip_description(alt: str) -> str:
    """``alt`` within :data:`MAX_DESCRIPTION`, ending in "…" where it was cut."""
    if _utf16_units(alt) <= MAX_DESCRIPTION:
        return alt
    room = MAX_DESCRIPTION - 1
    kept: list[str] = []
    for character in alt:
        room -= _utf16_units(character)
        if room < 0:
            break
        kept.append(character)
    return "".join(kept).rstrip() + "…"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- the webhook ------------------------------------------------------------------------------


class _HideTokens(logging.Filter):
    """Rewrites urllib3's log records that quote a webhook URL, token and all.

    urllib3 logs every request line at DEBUG (``"POST /api/v10/webhooks/ID/TOKEN"``).
    Filters on a logger see only that logger's own records, so it sits on each of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._tokens: set[str] = set()

    def hide(self, *tokens: str) -> None:
        with self._lock:
            self._tokens.update(token for token in tokens if token)

    def filter(self, record: logging.LogRecord) -> bool:
        tokens = self._tokens
        if tokens:
            message = record.getMessage()
            if any(token in message for token in tokens):
                record.msg, record.args = redact(message, tokens), None
        return True


_hide_tokens = _HideTokens()
_installed = False
_install_lock = threading.Lock()


def _hide_in_logs(*tokens: str) -> None:
    global _installed
    with _install_lock:
        if not _installed:
            for name in _URLLIB3_LOGGERS:
                logging.getLogger(name).addFilter(_hide_tokens)
            _installed = True
    _hide_tokens.hide(*tokens)


def _endpoint(webhook_url: str) -> tuple[str, str, str]:
    """``(execute URL with ?wait=true and a pinned version, webhook id, token)``.

    Any host is accepted (discord.com, discordapp.com, a proxy, a local fake); the path
    must end in ``/webhooks/ID/TOKEN``. Other query parameters (``thread_id``) are kept.
    """
    parts = urlsplit(webhook_url.strip())
    match = _WEBHOOK_PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
        # Not the URL itself: a mistyped webhook URL still holds a token.
        raise ValueError(
            "not a Discord webhook URL (expected https://discord.com/api/webhooks/ID/TOKEN)"
        )
    prefix, webhook_id, token = match["prefix"], match["id"], match["token"]
    if prefix.endswith("/api"):
        prefix += f"/v{API_VERSION}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    query.append(("wait", "true"))
    path = f"{prefix}/webhooks/{webhook_id}/{token}"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")), webhook_id, token


class DiscordWebhookClient(Network):
    """Posts to the one channel (or thread) a webhook belongs to. Synchronous.

    Webhooks cannot reply, and ``message_reference`` is not among Execute Webhook's
    parameters (webhook.mdx), so a thread's parts are consecutive messages, in order.
    """

    kind = "discord"
    uploads_media = False  # pictures are attachments of the message itself

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._url, self.webhook_id, self._token = _endpoint(webhook_url)
        self.host = urlsplit(self._url).hostname or ""
        self.timeout = timeout
        self._clock = clock
        self._secrets = (webhook_url, self._url, self._token, unquote(self._token))
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        _hide_in_logs(self._token, unquote(self._token))

    def __repr__(self) -> str:
        return f"DiscordWebhookClient(host={self.host!r}, webhook_id={self.webhook_id!r})"

    @property
    def _subject(self) -> str:
        return f"Discord webhook {self.webhook_id}"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Send through the webhook, mentions off: a summary never pings anyone. Its
        pictures go with it as attachments; without any, the body is plain JSON."""
        files = attachments_of(post)
        payload: dict[str, Any] = {"content": post.text, "allowed_mentions": NO_MENTIONS}
        if files:
            payload["attachments"] = [file.entry(n) for n, file in enumerate(files)]
        response = self._send(payload, files)
        status = response.status_code
        body = self._json(response)
        if status == 404:
            raise Permanent(
                f"{self._subject} is gone: HTTP 404{_detail(body)}. Discord says not to reuse "
                "a webhook that returned 404: create a new one for the channel's settings"
            )
        if not 200 <= status < 300:
            raise discord_errors(
                status, body, response.headers, self._clock(), subject=self._subject
            )
        message_id = body.get("id") if body is not None else None
        if body is None or not str(message_id).isdigit():
            # A 2xx means the message exists; without its id we cannot say which it is.
            raise UnknownOutcome(
                f"{self._subject} answered HTTP {status} without a message id; "
                "the message was probably posted"
            )
        guild_id, channel_id = body.get("guild_id"), body.get("channel_id")
        url = jump_url(guild_id, channel_id, message_id) if guild_id and channel_id else None
        return Posted(remote_id=str(message_id), url=url)

    def find(self, post: OutgoingPost) -> Posted | None:
        """Always LookupUnsupported: a webhook cannot read its channel.

        Its token only fetches a message by id (``GET .../messages/{id}``), and the id is
        what a lost answer never told us. Reading the channel needs a bot; without one a
        moderator looks at the channel and decides.
        """
        raise LookupUnsupported(
            f"{self._subject} cannot read the channel to see whether the message was "
            "posted; a moderator should check the channel"
        )

    def close(self) -> None:
        """Drop the HTTP session; the webhook URL stays with the client."""
        self._session.close()

    # -- HTTP ----------------------------------------------------------------------------

    def _send(
        self, payload: Mapping[str, Any], files: Sequence[Attachment] = ()
    ) -> requests.Response:
        """One POST; a failure without an answer becomes Transient or UnknownOutcome.

        With files, the body is ``multipart/form-data``: ``payload_json`` first, then each
        file as ``files[n]`` with its file name and type. The project's error is raised
        outside the ``except`` block: requests' messages quote the URL with its token, and
        a chained cause or context would carry it into logs.
        """
        try:
            if not files:
                return self._session.post(
                    self._url, json=payload, timeout=self.timeout, allow_redirects=False
                )
            parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
                ("payload_json", (None, json.dumps(payload).encode(), "application/json"))
            ]
            parts += [
                (f"files[{n}]", (file.filename, file.content, file.content_type))
                for n, file in enumerate(files)
            ]
            return self._session.post(
                self._url, files=parts, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as error:
            reason, nothing_sent = type(error).__name__, never_sent(error)
        if nothing_sent:
            raise Transient(f"{self._subject}: could not connect ({reason})")
        raise UnknownOutcome(
            f"{self._subject}: sent, but no answer came ({reason}); the message may exist"
        )

    def _json(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The answer's JSON object, credentials removed, or None if it is not one."""
        try:
            body = json.loads(redact(response.text, self._secrets))
        except ValueError:
            return None
        return body if isinstance(body, dict) else None


# -- through the running bot ------------------------------------------------------------------


class ChannelPoster(Protocol):
    """The running bot, seen from a worker thread: sends to and reads its own channels.

    The bot side (discord.py) runs each call on the bot's event loop and waits at most
    ``timeout`` seconds. It must:

    * send with ``allowed_mentions=AllowedMentions.none()``, and reply (``reply_to``) with
      ``MessageReference(..., fail_if_not_exists=False)`` and ``mention_author=False``;
    * raise only the project's errors: ``Transient`` when nothing can have been sent,
      ``UnknownOutcome`` when the request may have gone out (a timeout after sending), and
      for an ``HTTPException`` the error :func:`discord_errors` gives.

    A poster that can also attach files is a :class:`PicturePoster`.
    """

    def send(self, channel_id: int, text: str, reply_to: int | None, timeout: float) -> int:
        """Post ``text`` in the channel; the new message's id."""
        ...

    def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
        """``(id, content)`` of the bot's own latest ``limit`` messages there, newest first."""
        ...


@runtime_checkable
class PicturePoster(ChannelPoster, Protocol):
    """A :class:`ChannelPoster` that also sends a message with files attached, by the same
    rules: each attachment a file of that one message, in order, with its file name and
    ``description`` (discord.py: ``discord.File(io.BytesIO(content), filename,
    description=...)`` in ``files=``)."""

    def send_with_files(
        self,
        channel_id: int,
        text: str,
        reply_to: int | None,
        timeout: float,
        attachments: Sequence[Attachment],
    ) -> int:
        """Post ``text`` with ``attachments`` in the channel; the new message's id."""
        ...


class DiscordBotClient(Network):
    """Posts through the running bot into one channel; a thread's parts are replies."""

    kind = "discord"
    uploads_media = False  # pictures are attachments of the message itself

    def __init__(
        self,
        poster: ChannelPoster,
        *,
        channel_id: int,
        guild_id: int | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.timeout = timeout
        self._poster = poster

    def __repr__(self) -> str:
        return f"DiscordBotClient(channel_id={self.channel_id!r})"

    def post(self, post: OutgoingPost) -> Posted:
        """Send through the running bot, as a reply to the part before in a thread, its
        pictures attached to the same message."""
        reply_to = _message_id(post.reply_to) if post.reply_to is not None else None
        files = attachments_of(post)
        if files and not isinstance(self._poster, PicturePoster):
            # As a card that failed to render: the text goes out, the digest goes on.
            log.warning(
                "Discord channel %s: the running bot cannot attach files; digest %s part "
                "%s is posted without its %d picture(s)",
                self.channel_id,
                post.digest_id,
                post.part + 1,
                len(files),
            )
            files = ()
        try:
            if files and isinstance(self._poster, PicturePoster):
                message_id = self._poster.send_with_files(
                    self.channel_id, post.text, reply_to, self.timeout, files
                )
            else:
                message_id = self._poster.send(self.channel_id, post.text, reply_to, self.timeout)
        except PublishError:
            raise
        except Exception as error:
            # The poster should have said; unsaid, the message may exist: look it up.
            raise UnknownOutcome(
                f"Discord channel {self.channel_id}: the bot failed while sending "
                f"({type(error).__name__}); the message may exist"
            ) from error
        return self._posted(message_id)

    def find(self, post: OutgoingPost) -> Posted | None:
        """The bot's own message with this text since ``not_before`` (less a margin), or None.

        Pictures change nothing here: they are attachments of the very message whose text
        is compared, so a message found is one that went out with them.

        Reads the bot's latest :data:`LOOKUP_LIMIT` messages in the channel; message ids
        carry their creation time, so older ones end the search. When all of them are
        newer and none matches, the message may be further back: LookupUnsupported.
        """
        try:
            messages = self._poster.recent(self.channel_id, LOOKUP_LIMIT, self.timeout)
        except PublishError:
            raise
        except Exception as error:
            raise Transient(
                f"Discord channel {self.channel_id}: the bot could not read its messages "
                f"({type(error).__name__})"
            ) from error
        since = post.not_before - LOOKUP_MARGIN if post.not_before is not None else None
        wanted = _comparable(post.text)
        for message_id, content in messages:
            if since is not None and snowflake_time(message_id) < since:
                return None  # newest first: the rest are older still
            if _comparable(content) == wanted:
                return self._posted(message_id)
        if since is None or len(messages) < LOOKUP_LIMIT:
            return None
        raise LookupUnsupported(
            f"more than {LOOKUP_LIMIT} of the bot's messages in Discord channel "
            f"{self.channel_id} since the first attempt; a moderator should check the channel"
        )

    def close(self) -> None:
        """Nothing to release: the bot owns the connection."""

    def _posted(self, message_id: int) -> Posted:
        url = jump_url(self.guild_id, self.channel_id, message_id) if self.guild_id else None
        return Posted(remote_id=str(message_id), url=url)


def _message_id(posted: Posted) -> int:
    if not posted.remote_id.isdigit():
        raise Permanent(f"cannot reply on Discord to {posted.remote_id!r}: not a message id")
    return int(posted.remote_id)


def _comparable(text: str) -> str:
    """Discord trims a message's leading and trailing whitespace; line endings may differ."""
    return text.replace("\r\n", "\n").strip()
