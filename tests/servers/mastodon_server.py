"""A local stand-in for one Mastodon account's REST API, on 127.0.0.1.

It serves what the publisher uses and holds the account's statuses in order::

    with FakeMastodon() as server:
        client = MastodonClient(MastodonCredentials(ACCESS_TOKEN), api_base=server.url)
        client.post(...)
        server.posts[0].text, server.posts[0].in_reply_to_id

What it answers (no recordings exist; bodies follow docs.joinmastodon.org, see
``tests/fixtures/mastodon/SOURCES.md``):

* ``POST /api/v1/statuses``, form-encoded as Mastodon.py sends it or JSON. It checks, in
  Mastodon's order: the ``Authorization: Bearer`` token (401), a disabled login (403), that
  ``in_reply_to_id`` exists (404), then the ``Idempotency-Key``, then ``media_ids`` (at
  most 4, each the account's own upload not yet attached to a status, each processed:
  422 with ``PostStatusService#validate_media!``'s messages), then the text: not blank
  unless a picture is attached, and at most 500 grapheme clusters with every URL counted
  as 23 (422). A key seen within the hour gets the status it made, and no new one is made:
  Mastodon looks the key up before it looks at the media, so a retry whose pictures the
  first attempt attached is answered, not refused.
* ``POST /api/v2/media`` (and the deprecated, synchronous ``/api/v1/media``), multipart
  with ``file``, ``description`` and ``focus``, as ``docs/methods/media.md`` describes: the
  file must be an image whose bytes match its type (422 with the docs' message), the
  description at most 1,500 characters (422). It answers a MediaAttachment, 200 when
  processed; with :attr:`FakeMastodon.processing_checks` set, 202 with ``url`` null, and
  ``GET /api/v1/media/:id`` answers 206 that many times before 200 (404 for an upload
  not the account's or attached already, as ``MediaController#set_media_attachment``).
  Uploads are held, bytes and description, in :attr:`FakeMastodon.media`.
* ``GET /api/v1/accounts/verify_credentials``: the account, with ``source``.
* ``GET /api/v1/accounts/:id/statuses`` with ``limit`` (at most 40), ``max_id``,
  ``since_id`` and ``min_id``: newest first, with a ``Link`` header.
* ``GET /api/v1/statuses/:id``.

Every answer carries ``X-RateLimit-Limit/Remaining/Reset``, the reset in Mastodon's
``iso8601(6)`` form, per 5-minute period of the fake's clock (periods aligned to the epoch,
as Rack::Attack counts them). The 301st request in a period gets the 429 Mastodon sends;
``rate_limit`` and ``rate_period`` change both numbers. Mastodon.py makes no request of
its own when it is built with ``version_check_mode="none"``. A request to anything else
gets a 404, which the test sees. Statuses render to HTML ``content`` as Mastodon renders
plain text: ``<p>`` paragraphs, ``<br />`` line breaks, and links whose hidden parts sit
in ``<span class="invisible">``.
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import regex

from storage.types import utcnow
from tests.servers.http_fake import FakeAPI, Request, Response

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mastodon"
ACCESS_TOKEN = "mastodon-test-token-5f2a9c0e7b1d4386"
MAX_CHARS = 500
URL_CHARS = 23
IDEMPOTENCY_TTL = timedelta(hours=1)
RATE_LIMIT = 300
RATE_PERIOD = timedelta(minutes=5)
MAX_PAGE = 40
DEFAULT_PAGE = 20
MAX_MEDIA = 4
"""Pictures per status (``Status::MEDIA_ATTACHMENTS_LIMIT``)."""
MAX_DESCRIPTION = 1500
"""Characters per media description (``MediaAttachment::MAX_DESCRIPTION_LENGTH``)."""
IMAGE_SIGNATURES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
}
FILE_INVALID = "Validation failed: File content type is invalid, File is invalid"
"""The docs' 422 body for a file Mastodon cannot take (``methods/media.md``)."""

URL = re.compile(r"https?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")
"""Roughly what Mastodon linkifies and counts as 23: http(s) URLs, no trailing punctuation."""


@dataclass(frozen=True)
class MastodonStatus:
    """A status the fake account holds."""

    id: str
    text: str
    in_reply_to_id: str | None
    visibility: str
    idempotency_key: str | None
    created_at: datetime
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MastodonMedia:
    """An upload the fake account holds, as it was received."""

    id: str
    content: bytes
    content_type: str
    filename: str | None
    description: str | None
    width: int | None
    height: int | None
    created_at: datetime
    status_id: str | None = None
    """The status it is attached to; None while no status took it."""
    checks_left: int = 0
    """``GET /api/v1/media/:id`` answers 206 (still processing) this many more times."""

    @property
    def processed(self) -> bool:
        return self.checks_left == 0


@dataclass(frozen=True)
class _FilePart:
    content: bytes
    content_type: str
    filename: str | None = None


def load_fixture(name: str) -> Any:
    """A body written from the docs, from tests/fixtures/mastodon, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def png_size(content: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None when it is no PNG."""
    if not content.startswith(IMAGE_SIGNATURES["image/png"]) or content[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", content[16:24])
    return int(width), int(height)


def multipart(request: Request) -> tuple[dict[str, str], dict[str, _FilePart]]:
    """A multipart/form-data body: its text fields, and its files by field name."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}, {}
    parsed = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + request.body
    )
    fields: dict[str, str] = {}
    files: dict[str, _FilePart] = {}
    for part in parsed.iter_parts() if isinstance(parsed, EmailMessage) else []:
        name = str(part.get_param("name", header="content-disposition"))
        data = bytes(part.get_payload(decode=True) or b"")
        if part.get_filename() is not None:
            files[name] = _FilePart(data, part.get_content_type(), part.get_filename())
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def iso(moment: datetime) -> str:
    """Mastodon's timestamps: UTC with milliseconds, e.g. ``2026-11-27T09:30:00.000Z``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def countable_length(text: str) -> int:
    """Mastodon's length: grapheme clusters, each URL counting as 23."""
    return len(regex.findall(r"\X", URL.sub("x" * URL_CHARS, text)))


def _link(url: str) -> str:
    """A URL as Mastodon links it: scheme (and ``www.``) hidden, 30 characters shown."""
    prefix = re.match(r"https?://(?:www\.)?", url)
    head = prefix.group(0) if prefix else ""
    rest = url[len(head) :]
    shown, hidden = rest[:30], rest[30:]
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(head)}</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def render(text: str) -> str:
    """Plain text to the HTML ``content`` Mastodon serves for it."""
    paragraphs = [part for part in re.split(r"\n{2,}", text.strip().replace("\r\n", "\n")) if part]
    rendered = []
    for paragraph in paragraphs:
        pieces, last = [], 0
        for match in URL.finditer(paragraph):
            pieces.append(html.escape(paragraph[last : match.start()]).replace("'", "&#39;"))
            pieces.append(_link(match.group(0)))
            last = match.end()
        pieces.append(html.escape(paragraph[last:]).replace("'", "&#39;"))
        rendered.append("<p>" + "".join(pieces).replace("\n", "<br />") + "</p>")
    return "".join(rendered)


class FakeMastodon(FakeAPI):
    """One Mastodon account's API, holding its statuses (oldest first) in :attr:`posts`."""

    name = "fake Mastodon API"
    statuses_pattern = r"/api/v1/statuses"
    """For ``fail("POST", server.statuses_pattern, ...)``."""
    media_pattern = r"/api/v[12]/media"
    """For ``fail("POST", server.media_pattern, ...)``."""

    def __init__(
        self,
        *,
        access_token: str = ACCESS_TOKEN,
        clock: Callable[[], datetime] = utcnow,
        rate_limit: int = RATE_LIMIT,
        rate_period: timedelta = RATE_PERIOD,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        """Requests allowed per period (Mastodon's API: 300 per 5 minutes); a benchmark
        shrinks both to see the worker meet a limit within seconds."""
        self.disabled = False
        """True: the login is disabled by a moderator (403 on every call)."""
        self.processing_checks = 0
        """How many times a new upload is still processing when asked after (0: processed
        at once, HTTP 200, as Mastodon 4 does with images)."""
        self._clock = clock
        self._account = load_fixture("account__RECONSTRUCTED.json")
        self._status_template = load_fixture("status__RECONSTRUCTED.json")
        self._posts: list[MastodonStatus] = []
        self._media: list[MastodonMedia] = []
        self._keys: dict[str, tuple[str, datetime]] = {}
        self._sequence = itertools.count()
        self._window: tuple[datetime, int] | None = None
        self.route("POST", r"/api/v1/statuses", self._guarded(self._create))
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._guarded(self._me))
        self.route("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", self._guarded(self._list))
        self.route("GET", r"/api/v1/statuses/(?P<id>[^/]+)", self._guarded(self._show))
        self.route("POST", r"/api/v(?P<version>[12])/media", self._guarded(self._upload))
        self.route("GET", r"/api/v1/media/(?P<id>[^/]+)", self._guarded(self._media_show))

    # -- state ----------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return str(self._account["id"])

    @property
    def posts(self) -> list[MastodonStatus]:
        with self.lock:
            return list(self._posts)

    @property
    def media(self) -> list[MastodonMedia]:
        """Every upload, oldest first, attached or not."""
        with self.lock:
            return list(self._media)

    def add_status(
        self, text: str, *, at: datetime | None = None, in_reply_to_id: str | None = None
    ) -> MastodonStatus:
        """A status made some other way (by a person, or before the test), for look-ups."""
        with self.lock:
            status = self._store(text, in_reply_to_id, "public", None, at or self._clock())
            self._posts.sort(key=lambda held: int(held.id))
            return status

    def status_json(self, status: MastodonStatus) -> dict[str, Any]:
        """The Status entity the API serves for ``status``."""
        body = copy.deepcopy(self._status_template)
        account = {key: value for key, value in self._account.items() if key != "source"}
        account["url"] = f"{self.url}/@{account['username']}"
        body.update(
            id=status.id,
            created_at=iso(status.created_at),
            in_reply_to_id=status.in_reply_to_id,
            in_reply_to_account_id=self.account_id if status.in_reply_to_id else None,
            visibility=status.visibility,
            uri=f"{self.url}/users/{account['username']}/statuses/{status.id}",
            url=f"{self.url}/@{account['username']}/{status.id}",
            content=render(status.text),
            account=account,
            media_attachments=[
                self.media_json(held)
                for media_id in status.media_ids
                for held in self._media
                if held.id == media_id
            ],
        )
        return body

    def media_json(self, media: MastodonMedia) -> dict[str, Any]:
        """The MediaAttachment entity (``entities/MediaAttachment.md``) for an upload."""
        files = f"{self.url}/system/media_attachments/files/{media.id}"
        meta: dict[str, Any] = {}
        if media.width and media.height:
            meta["original"] = {
                "width": media.width,
                "height": media.height,
                "size": f"{media.width}x{media.height}",
                "aspect": media.width / media.height,
            }
        return {
            "id": media.id,
            "type": "image",
            "url": f"{files}/original/{media.id}.png" if media.processed else None,
            "preview_url": f"{files}/small/{media.id}.png",
            "remote_url": None,
            "text_url": None,
            "meta": meta,
            "description": media.description,
            "blurhash": None,
        }

    # -- scripted answers -----------------------------------------------------------------

    @staticmethod
    def error(name: str, *, status: int, headers: dict[str, str] | None = None) -> Response:
        """A body from tests/fixtures/mastodon as an answer."""
        return Response(status, load_fixture(name), headers=headers or {})

    @staticmethod
    def rate_limited(reset: datetime) -> Response:
        """The 429 Mastodon's throttle answers with, resetting at ``reset``."""
        return FakeMastodon.error(
            "429_too_many_requests.json",
            status=429,
            headers={
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        )

    # -- handlers -------------------------------------------------------------------------

    def _guarded(
        self, handler: Callable[[Request, re.Match[str]], Response]
    ) -> Callable[[Request, re.Match[str]], Response]:
        """Auth and rate limiting around a handler, and the rate-limit headers on its answer."""

        def guarded(request: Request, match: re.Match[str]) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            headers, exhausted = self._count_request()
            if exhausted:
                response = self.error("429_too_many_requests.json", status=429)
            elif scheme.lower() != "bearer" or token.strip() != self.access_token:
                response = self.error("401_invalid_token__docs_example.json", status=401)
            elif self.disabled:
                response = self.error("403_login_disabled.json", status=403)
            else:
                response = handler(request, match)
            return Response(response.status, response.body, {**response.headers, **headers})

        return guarded

    def _count_request(self) -> tuple[dict[str, str], bool]:
        now = self._clock()
        period = self.rate_period.total_seconds()
        start = datetime.fromtimestamp(math.floor(now.timestamp() / period) * period, UTC)
        with self.lock:
            if self._window is None or self._window[0] != start:
                self._window = (start, 0)
            used = self._window[1] + 1
            self._window = (start, used)
        reset = start + self.rate_period
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - used, 0)),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return headers, used > self.rate_limit

    def _create(self, request: Request, match: re.Match[str]) -> Response:
        is_json = request.headers.get("content-type", "").startswith("application/json")
        params: dict[str, Any] = (request.json() or {}) if is_json else request.form()
        if is_json:
            media_ids = [str(media_id) for media_id in params.get("media_ids") or []]
        else:  # Mastodon.py sends a list as repeated ``media_ids[]``
            media_ids = parse_qs(request.body.decode()).get("media_ids[]", [])
        text = str(params.get("status") or "")
        reply_to = str(params["in_reply_to_id"]) if params.get("in_reply_to_id") else None
        visibility = str(params.get("visibility") or "public")
        key = request.headers.get("idempotency-key")
        now = self._clock()
        with self.lock:
            if reply_to is not None and not any(held.id == reply_to for held in self._posts):
                return self.error("404_in_reply_not_found.json", status=404)
            if key is not None and key in self._keys:
                status_id, stored_at = self._keys[key]
                if now - stored_at < IDEMPOTENCY_TTL:
                    [earlier] = [held for held in self._posts if held.id == status_id]
                    return Response(200, self.status_json(earlier))
            refused = self._refused_media(media_ids)
            if refused is not None:
                return Response(422, {"error": refused})
            if not text.strip() and not media_ids:
                return Response(422, {"error": "Validation failed: Text can't be blank"})
            if countable_length(text) > MAX_CHARS:
                return self.error("422_over_character_limit.json", status=422)
            status = self._store(text, reply_to, visibility, key, now, tuple(media_ids))
            self._media = [
                replace(held, status_id=status.id) if held.id in media_ids else held
                for held in self._media
            ]
            if key is not None:
                self._keys[key] = (status.id, now)
        return Response(200, self.status_json(status))

    def _refused_media(self, media_ids: list[str]) -> str | None:
        """Why Mastodon would not attach these uploads (``validate_media!``), if it would not."""
        if len(media_ids) > MAX_MEDIA:
            return f"Cannot attach more than {MAX_MEDIA} files"
        usable = {held.id: held for held in self._media if held.status_id is None}
        missing = [media_id for media_id in media_ids if media_id not in usable]
        if missing:
            return f"Media {', '.join(missing)} not found or already attached to another post"
        if any(not usable[media_id].processed for media_id in media_ids):
            return "Cannot attach files that have not finished processing. Try again in a moment!"
        return None

    def _upload(self, request: Request, match: re.Match[str]) -> Response:
        fields, files = multipart(request)
        upload = files.get("file")
        if upload is None:
            return Response(422, {"error": "Validation failed: File can't be blank"})
        signature = IMAGE_SIGNATURES.get(upload.content_type)
        if signature is None or not upload.content.startswith(signature):
            return Response(422, {"error": FILE_INVALID})
        description = fields.get("description")
        if description is not None and len(description) > MAX_DESCRIPTION:
            return Response(
                422,
                {
                    "error": "Validation failed: Description is too long "
                    f"(maximum is {MAX_DESCRIPTION} characters)"
                },
            )
        size = png_size(upload.content)
        now = self._clock()
        synchronous = match["version"] == "1"
        with self.lock:
            media = MastodonMedia(
                id=str((int(now.timestamp() * 1000) << 16) | (next(self._sequence) & 0xFFFF)),
                content=upload.content,
                content_type=upload.content_type,
                filename=upload.filename,
                description=description,
                width=size[0] if size else None,
                height=size[1] if size else None,
                created_at=now,
                checks_left=0 if synchronous else self.processing_checks,
            )
            self._media.append(media)
        return Response(200 if media.processed else 202, self.media_json(media))

    def _media_show(self, request: Request, match: re.Match[str]) -> Response:
        with self.lock:
            found = [
                (index, held)
                for index, held in enumerate(self._media)
                if held.id == match["id"] and held.status_id is None
            ]
            if not found:
                return self.error("404_record_not_found__docs_example.json", status=404)
            [(index, media)] = found
            if media.processed:
                return Response(200, self.media_json(media))
            answer = Response(206, self.media_json(media))  # the controller renders it so
            self._media[index] = replace(media, checks_left=media.checks_left - 1)
            return answer

    def _store(
        self,
        text: str,
        reply_to: str | None,
        visibility: str,
        key: str | None,
        at: datetime,
        media_ids: tuple[str, ...] = (),
    ) -> MastodonStatus:
        """Keep a new status; ids are snowflakes: milliseconds, then a 16-bit sequence."""
        millis = int(at.timestamp() * 1000)
        status = MastodonStatus(
            id=str((millis << 16) | (next(self._sequence) & 0xFFFF)),
            text=text,
            in_reply_to_id=reply_to,
            visibility=visibility,
            idempotency_key=key,
            created_at=at,
            media_ids=media_ids,
        )
        self._posts.append(status)
        return status

    def _me(self, request: Request, match: re.Match[str]) -> Response:
        body = copy.deepcopy(self._account)
        body["url"] = f"{self.url}/@{body['username']}"
        with self.lock:
            body["statuses_count"] = len(self._posts)
            if self._posts:
                body["last_status_at"] = self._posts[-1].created_at.date().isoformat()
        return Response(200, body)

    def _list(self, request: Request, match: re.Match[str]) -> Response:
        if match["id"] != self.account_id:
            return self.error("404_record_not_found__docs_example.json", status=404)
        limit = min(int(request.param("limit") or DEFAULT_PAGE), MAX_PAGE)
        max_id, since_id, min_id = (
            request.param(name) for name in ("max_id", "since_id", "min_id")
        )
        with self.lock:
            newest_first = sorted(self._posts, key=lambda held: int(held.id), reverse=True)
        if max_id:
            newest_first = [held for held in newest_first if int(held.id) < int(max_id)]
        lower = since_id or min_id
        if lower:
            newest_first = [held for held in newest_first if int(held.id) > int(lower)]
        page = newest_first[:limit]
        headers: dict[str, str] = {}
        if page:
            base = f"{self.url}{request.path}"
            headers["Link"] = (
                f'<{base}?max_id={page[-1].id}>; rel="next", '
                f'<{base}?min_id={page[0].id}>; rel="prev"'
            )
        return Response(200, [self.status_json(held) for held in page], headers)

    def _show(self, request: Request, match: re.Match[str]) -> Response:
        with self.lock:
            found = [held for held in self._posts if held.id == match["id"]]
        if not found:
            return self.error("404_record_not_found__docs_example.json", status=404)
        return Response(200, self.status_json(found[0]))
