"""A local stand-in for the Facebook Graph API's Page feed, on 127.0.0.1.

It serves what a Page publisher uses and holds the Page's posts in order::

    with FakeFacebook() as graph:
        client = FacebookClient(FacebookCredentials(PAGE_TOKEN), page_id=PAGE_ID,
                                api_base=graph.url)
        client.post(...)
        graph.posts[0].message

What it answers (any ``vNN.N`` version prefix is accepted and recorded):

* ``POST /{version}/{page}/feed`` with ``message`` (and optional ``link``), form-encoded:
  200 ``{"id": "{page}_{post}"}``, the shape of the documented success body
  (``200_page_feed_post__docs_example.json``; the default Page id is the docs' one). With
  ``attached_media[N]={"media_fbid": ...}`` (or ``attached_media`` as one JSON array), the
  Pages API's multi-photo post: each photo must be this Page's own, unpublished and not
  attached yet, and such a post takes no ``link`` (the fake is stricter than Graph may be
  here, so a client sending both is caught); otherwise a code-100 error ("Invalid
  parameter" in the docs' error table; the message text is reconstructed, no recording
  exists). The photos are published with the post.
* ``POST /{version}/{page}/photos``, multipart with the image as ``source``, and
  ``published`` and ``alt_text_custom`` (Graph API Photo reference, whose return type is
  ``{id, post_id}``): 200 ``{"id": photo}`` for an unpublished photo, ``{"id": photo,
  "post_id": "{page}_{post}"}`` for a published one (also a post of the Page). No file, or
  bytes that are no image, get code 324 (reconstructed wording, as seen in public client
  logs: "Requires upload file", "Missing or invalid image file"). Photos are held, bytes
  and alt text, in :attr:`FakeFacebook.photos`; Facebook deletes an unpublished photo no
  post took after about 24 hours (page/photos reference), which the fake does not.
* ``GET /{version}/{page}/posts`` and ``.../feed`` with ``fields``, ``since`` (a Unix time),
  ``limit`` and ``after``: the Page's posts, newest first, cursor-paged. As on Graph, the
  ``paging.next`` URL carries the access token, so a client should send the cursor instead.

The token is accepted where Graph accepts it: an ``Authorization: Bearer``/``OAuth``
header, or an ``access_token`` form or query parameter. A wrong token gets the documented
code-190 body (HTTP 400). Without ``pages_manage_posts`` in :attr:`FakeFacebook.permissions`,
publishing gets the code-200 permission error (HTTP 403). Publishing the same message as
the newest post gets the code-506 duplicate error, because Graph refuses "consecutive"
duplicates. Anything else is a Graph-style 404.

Faults come from :class:`FakeAPI` (``fail``); :meth:`FakeFacebook.error` and
:meth:`FakeFacebook.throttled` build the recorded error answers to script with it.
Bodies and their sources: ``tests/fixtures/facebook/SOURCES.md``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from storage.types import utcnow
from tests.servers.http_fake import FakeAPI, Request, Response

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facebook"
PAGE_ID = "546349135390552"
"""The Page id of the documented success body."""
PAGE_TOKEN = "EAAG-test-page-token-0123456789abcdef"
PUBLISH_PERMISSIONS = frozenset({"pages_manage_posts", "pages_read_engagement"})
MAX_PAGE_SIZE = 100
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8")

_VERSION = r"/(?P<version>v\d+\.\d+)"


@dataclass(frozen=True)
class FacebookPost:
    """A post the fake Page holds."""

    id: str
    message: str
    link: str | None
    created_time: datetime
    attached_media: tuple[str, ...] = ()
    """The ids of the photos it carries."""


@dataclass(frozen=True)
class FacebookPhoto:
    """A photo uploaded to the fake Page, as it was received."""

    id: str
    content: bytes
    content_type: str
    filename: str | None
    alt_text_custom: str | None
    published: bool
    created_time: datetime
    post_id: str | None = None
    """The post that carries it: its own (published at upload) or one that attached it."""


def load_fixture(name: str) -> Any:
    """A recorded body from tests/fixtures/facebook, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _graph_time(moment: datetime) -> str:
    """Graph's ``created_time`` format, e.g. ``2026-11-27T00:15:32+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _graph_error(code: int, message: str, *, status: int = 400) -> Response:
    """A Graph error body in the documented shape (type, code, fbtrace_id)."""
    return Response(
        status,
        {
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AFakeTraceId0000000",
            }
        },
    )


def _multipart(request: Request) -> tuple[dict[str, str], dict[str, tuple[bytes, str, str | None]]]:
    """A multipart/form-data body: text fields, and files as (bytes, type, file name)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return request.form(), {}
    parsed = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + request.body
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple[bytes, str, str | None]] = {}
    for part in parsed.iter_parts() if isinstance(parsed, EmailMessage) else []:
        name = str(part.get_param("name", header="content-disposition"))
        data = bytes(part.get_payload(decode=True) or b"")
        if part.get_filename() is None:
            fields[name] = data.decode("utf-8")
        else:
            files[name] = (data, part.get_content_type(), part.get_filename())
    return fields, files


def _attached_media(form: dict[str, str]) -> list[str] | None:
    """The photo ids of ``attached_media``, in order; None when it cannot be read."""
    try:
        if "attached_media" in form:
            entries = json.loads(form["attached_media"])
        else:
            indexed = {
                int(key[len("attached_media[") : -1]): value
                for key, value in form.items()
                if re.fullmatch(r"attached_media\[\d+\]", key)
            }
            entries = [json.loads(indexed[place]) for place in sorted(indexed)]
        return [str(entry["media_fbid"]) for entry in entries]
    except (ValueError, KeyError, TypeError):
        return None


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"position:{index}".encode()).decode()


def _position(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        return None
    _, _, number = text.partition(":")
    return int(number) if number.isdigit() else None


class FakeFacebook(FakeAPI):
    """The Graph API of one Page, holding its posts (oldest first) in :attr:`posts`."""

    name = "fake Facebook Graph API"

    def __init__(
        self,
        *,
        page_id: str = PAGE_ID,
        page_token: str = PAGE_TOKEN,
        clock: Callable[[], datetime] = utcnow,
        max_page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        super().__init__()
        self.page_id = page_id
        self.page_token = page_token
        self.permissions: set[str] = set(PUBLISH_PERMISSIONS)
        self.max_page_size = max_page_size
        self._clock = clock
        self._posts: list[FacebookPost] = []
        self._photos: list[FacebookPhoto] = []
        # Post ids of the documented example's magnitude, unique per fake.
        self._ids = itertools.count(1116689038356556)
        page = re.escape(page_id)
        self.route("POST", rf"{_VERSION}/(?P<page>[^/]+)/feed", self._publish)
        self.route("POST", rf"{_VERSION}/(?P<page>[^/]+)/photos", self._upload)
        self.route("GET", rf"{_VERSION}/(?P<page>[^/]+)/(?:posts|feed)", self._list)
        self.feed_pattern = rf"/v\d+\.\d+/{page}/feed"
        """For ``fail("POST", graph.feed_pattern, ...)``."""
        self.posts_pattern = rf"/v\d+\.\d+/{page}/posts"
        self.photos_pattern = rf"/v\d+\.\d+/{page}/photos"
        """For ``fail("POST", graph.photos_pattern, ...)``."""

    # -- state ----------------------------------------------------------------------------

    @property
    def posts(self) -> list[FacebookPost]:
        with self.lock:
            return list(self._posts)

    @property
    def photos(self) -> list[FacebookPhoto]:
        """Every photo uploaded, oldest first, published or not."""
        with self.lock:
            return list(self._photos)

    def add_post(self, message: str, *, at: datetime | None = None) -> FacebookPost:
        """A post made some other way (by a person, or before the test), for look-ups."""
        with self.lock:
            post = FacebookPost(
                id=f"{self.page_id}_{next(self._ids)}",
                message=message,
                link=None,
                created_time=at or self._clock(),
            )
            self._posts.append(post)
            self._posts.sort(key=lambda held: held.created_time)
            return post

    # -- scripted answers -----------------------------------------------------------------

    @staticmethod
    def error(name: str, *, status: int = 400, headers: dict[str, str] | None = None) -> Response:
        """A recorded error body (a file name in tests/fixtures/facebook) as an answer."""
        return Response(status, load_fixture(name), headers=headers or {})

    def throttled(
        self,
        fixture: str = "32_page_request_limit__docs_example.json",
        *,
        regain_minutes: int | None = None,
        header: str = "X-Business-Use-Case-Usage",
    ) -> Response:
        """A throttling error with a usage header saying when access comes back.

        ``X-Business-Use-Case-Usage`` is keyed by business object (the Page) and holds a
        list; ``X-Page-Usage`` and ``X-App-Usage`` are one flat object.
        """
        usage: dict[str, Any] = {"call_count": 100, "total_cputime": 12, "total_time": 15}
        if regain_minutes is not None:
            usage["estimated_time_to_regain_access"] = regain_minutes
        if header == "X-Business-Use-Case-Usage":
            value: Any = {self.page_id: [{"type": "pages", **usage}]}
        else:
            value = usage
        return self.error(fixture, headers={header: json.dumps(value)})

    # -- handlers -------------------------------------------------------------------------

    def _token(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in {"bearer", "oauth"} and token:
            return token.strip()
        return request.form().get("access_token") or request.param("access_token")

    def _refusal(self, request: Request, page: str) -> Response | None:
        """The answer Graph gives before looking at the request itself, if any."""
        if self._token(request) != self.page_token:
            return self.error("190_oauth_error__docs_example.json")
        if page != self.page_id:
            return Response(
                404,
                {
                    "error": {
                        "message": f"(#803) Some of the aliases you requested do not exist: {page}",
                        "type": "OAuthException",
                        "code": 803,
                    }
                },
            )
        return None

    def _publish(self, request: Request, match: re.Match[str]) -> Response:
        refusal = self._refusal(request, match["page"])
        if refusal is not None:
            return refusal
        if not self.permissions.issuperset(PUBLISH_PERMISSIONS):
            return self.error("200_permission_error__RECONSTRUCTED.json", status=403)
        form = request.form()
        message = form.get("message", "")
        media: list[str] = []
        if any(key.startswith("attached_media") for key in form):
            read = _attached_media(form)
            if read is None:
                return _graph_error(100, "Invalid parameter: attached_media")
            media = read
        if media and form.get("link"):
            return _graph_error(100, "Invalid parameter: link cannot be used with attached_media")
        with self.lock:
            for place, photo_id in enumerate(media):
                if not any(
                    photo.id == photo_id and not photo.published and photo.post_id is None
                    for photo in self._photos
                ):
                    return _graph_error(
                        100,
                        f"Invalid parameter: attached_media[{place}] is not an unpublished "
                        "photo of this Page",
                    )
            if self._posts and self._posts[-1].message == message:
                return self.error("506_duplicate_post__RECONSTRUCTED.json")
            post = FacebookPost(
                id=f"{self.page_id}_{next(self._ids)}",
                message=message,
                link=form.get("link") or None,
                created_time=self._clock(),
                attached_media=tuple(media),
            )
            self._posts.append(post)
            self._photos = [
                replace(photo, published=True, post_id=post.id) if photo.id in media else photo
                for photo in self._photos
            ]
        return Response(200, {"id": post.id})

    def _upload(self, request: Request, match: re.Match[str]) -> Response:
        refusal = self._refusal(request, match["page"])
        if refusal is not None:
            return refusal
        if not self.permissions.issuperset(PUBLISH_PERMISSIONS):
            return self.error("200_permission_error__RECONSTRUCTED.json", status=403)
        fields, files = _multipart(request)
        if "source" not in files:
            return _graph_error(324, "Requires upload file")
        content, content_type, filename = files["source"]
        if not content.startswith(IMAGE_SIGNATURES):
            return _graph_error(324, "Missing or invalid image file")
        published = fields.get("published", "true").lower() != "false"
        now = self._clock()
        with self.lock:
            photo = FacebookPhoto(
                id=str(next(self._ids)),
                content=content,
                content_type=content_type,
                filename=filename,
                alt_text_custom=fields.get("alt_text_custom"),
                published=published,
                created_time=now,
            )
            if not published:
                self._photos.append(photo)
                return Response(200, {"id": photo.id})
            post = FacebookPost(
                id=f"{self.page_id}_{next(self._ids)}",
                message=fields.get("caption") or fields.get("message") or "",
                link=None,
                created_time=now,
                attached_media=(photo.id,),
            )
            self._posts.append(post)
            self._photos.append(replace(photo, post_id=post.id))
        return Response(200, {"id": photo.id, "post_id": post.id})

    def _list(self, request: Request, match: re.Match[str]) -> Response:
        refusal = self._refusal(request, match["page"])
        if refusal is not None:
            return refusal
        since = request.param("since")
        limit = min(int(request.param("limit") or 25), self.max_page_size)
        start = _position(request.param("after") or "") or 0
        with self.lock:
            newest_first: Iterable[FacebookPost] = reversed(self._posts)
            if since is not None:
                moment = datetime.fromtimestamp(int(since), UTC)
                newest_first = [post for post in newest_first if post.created_time >= moment]
            matching = list(newest_first)
        page = matching[start : start + limit]
        fields = (request.param("fields") or "id,message,created_time").split(",")
        data = [self._fields(post, fields) for post in page]
        body: dict[str, Any] = {"data": data}
        if page:
            body["paging"] = {
                "cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}
            }
            if start + len(page) < len(matching):
                body["paging"]["next"] = (
                    f"{self.url}{request.path}?limit={limit}&after={_cursor(start + len(page))}"
                    f"&access_token={self.page_token}"
                )
        return Response(200, body)

    @staticmethod
    def _fields(post: FacebookPost, fields: list[str]) -> dict[str, Any]:
        values = {
            "id": post.id,
            "message": post.message,
            "created_time": _graph_time(post.created_time),
        }
        return {name: values[name] for name in fields if name in values}
