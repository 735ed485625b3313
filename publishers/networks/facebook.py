"""Posts to a Facebook Page through the Graph API, spoken directly with ``requests``.

Meta maintains no Python SDK for the Pages API, so this client makes the calls it needs
itself: ``POST /{version}/{page}/feed`` to publish, ``GET /{version}/{page}/posts`` to look
a post up after an unknown outcome, and ``POST /{version}/{page}/photos`` to upload a
picture. A picture is uploaded as an unpublished Page photo (``published=false``, the
image as the multipart file ``source``, its alt text as ``alt_text_custom``; Graph API
Photo reference) and the feed post attaches it (``attached_media[0]={"media_fbid": ...}``,
the Pages API's multi-photo post). Facebook deletes an unpublished photo no post took
after about a day, within which the worker's 12 hours of reuse stay. A post with photos
has no link preview, so its link goes in the message when the text does not hold it.

The Page token travels in the ``Authorization`` header (Graph accepts ``Bearer``), never
in a URL, because proxies and request logs keep URLs. The Graph API version is pinned so
that Meta's versioned changes arrive when we choose them.

Graph errors are classified by their ``code``, not their ``type``: throttling comes back
as ``OAuthException`` just like a revoked token (see tests/fixtures/facebook/SOURCES.md).
Facebook has no threads, so a digest is always one post.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from requests.auth import AuthBase

from publishers.networks.base import (
    Duplicate,
    LookupUnsupported,
    Media,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    RepliesRefused,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import never_sent, redact, retry_after
from storage.types import utcnow

GRAPH_API_BASE = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v26.0"
"""The newest Graph API version in November 2026 (released 2026-07-29 per the Graph API
changelog). Meta keeps a version available for about two years after its successor ships."""

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
"""App, user, Page and custom throttling (Graph error-handling guide: wait and retry)."""
TRANSIENT_CODES = frozenset({1, 2})
"""Unknown error and service temporarily unavailable (same guide: retry)."""
DUPLICATE_CODE = 506
"""Duplicate post: the same text cannot be published twice in a row."""
POLICY_BLOCK_CODE = 368
"""Temporarily blocked for policy violations; one variant means "you already posted this"."""

DEFAULT_RATE_LIMIT_WAIT = timedelta(hours=1)
"""When no usage header says how long: Platform rate limits use a rolling one-hour window
(developers.facebook.com/docs/graph-api/overview/rate-limiting)."""
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")
"""Where Graph reports usage; ``estimated_time_to_regain_access`` there is in minutes."""

LOOKUP_MARGIN = timedelta(minutes=5)
"""Looked-up posts may be this much older than ``not_before``: clocks drift."""
LOOKUP_PAGE_SIZE = 100
"""Graph's largest page for an edge listing."""
LOOKUP_MAX_PAGES = 5
MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class FacebookCredentials:
    """A Page access token with ``pages_manage_posts`` and ``pages_read_engagement``."""

    page_token: str = field(repr=False)


class _PageToken(AuthBase):
    """Puts the token in the Authorization header, so it is never part of a URL.

    Given as the session's ``auth``, it also keeps a ``.netrc`` entry from replacing it.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_PageToken(<hidden>)"


def _same_text(found: object, wanted: str) -> bool:
    """Graph hands back the message as posted; only line endings and edges may differ."""
    if not isinstance(found, str):
        return False
    return found.replace("\r\n", "\n").strip() == wanted.replace("\r\n", "\n").strip()


def _message(post: OutgoingPost) -> str:
    """The message a post goes out with: its text, and its link on a line of its own when
    photos take the link preview's place and the text does not hold the link already."""
    if post.media and post.link and post.link not in post.text:
        return f"{post.text.rstrip()}\n\n{post.link}"
    return post.text


def _regain_minutes(headers: Mapping[str, str]) -> float | None:
    """The longest ``estimated_time_to_regain_access`` in Graph's usage headers, if any.

    ``X-Business-Use-Case-Usage`` maps business ids to lists of usage objects;
    ``X-Page-Usage`` and ``X-App-Usage`` are one flat object.
    """
    longest: float | None = None
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict):
            for value in usage.values():
                if isinstance(value, list):
                    entries.extend(value)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            minutes = entry.get("estimated_time_to_regain_access")
            if isinstance(minutes, int | float) and minutes > 0:
                longest = max(longest or 0.0, float(minutes))
    return longest


class FacebookClient(Network):
    """Publishes to one Facebook Page. Synchronous: the delivery worker runs it in a thread.

    ``post`` refuses a reply (``RepliesRefused``, without a request): Pages have no threads,
    and a refused reply makes the worker fall back to single posts instead of stopping.
    """

    kind = "facebook"
    uploads_media = True

    def __init__(
        self,
        credentials: FacebookCredentials,
        *,
        page_id: str,
        api_base: str = GRAPH_API_BASE,
        graph_version: str = DEFAULT_GRAPH_VERSION,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.page_id = page_id
        self.api_base = api_base.rstrip("/")
        self.graph_version = graph_version
        self.timeout = timeout
        self._token = credentials.page_token
        self._clock = clock
        self._session = requests.Session()
        self._session.auth = _PageToken(credentials.page_token)

    def __repr__(self) -> str:
        return (
            f"FacebookClient(page_id={self.page_id!r}, api_base={self.api_base!r}, "
            f"graph_version={self.graph_version!r})"
        )

    def _url(self, edge: str) -> str:
        return f"{self.api_base}/{self.graph_version}/{self.page_id}/{edge}"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Publish on the Page, with its uploaded photos or else the link as its preview; a
        Page has no threads to reply in."""
        if post.reply_to is not None:
            raise RepliesRefused("Facebook Pages have no threads; send the digest as one post")
        data = {"message": _message(post)}
        for place, media in enumerate(post.media):
            if media.remote_ref is None:
                raise Permanent("a picture of this post was not uploaded before the post")
            data[f"attached_media[{place}]"] = json.dumps({"media_fbid": media.remote_ref})
        if post.link and not post.media:
            data["link"] = post.link
        response = self._request("POST", self._url("feed"), data=data)
        body = self._body(response)
        if not response.ok or (isinstance(body, dict) and "error" in body):
            raise self._error_for(response, body)
        post_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(post_id, str) or not post_id:
            # A 2xx means the post exists; without its id we cannot say where.
            raise UnknownOutcome(f"Facebook answered HTTP {response.status_code} without a post id")
        return self._posted(post_id)

    def upload(self, media: Media, post: OutgoingPost) -> str:
        """Upload a picture as an unpublished Page photo with its alt text; the photo id,
        for the post to attach."""
        response = self._request(
            "POST",
            self._url("photos"),
            data={"published": "false", "alt_text_custom": media.alt},
            files={
                "source": (f"{media.sha256[:16]}.{media.extension}", media.content, media.mime_type)
            },
            what="photo",
        )
        body = self._body(response)
        if not response.ok or (isinstance(body, dict) and "error" in body):
            raise self._error_for(response, body)
        photo_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(photo_id, str) or not photo_id:
            raise UnknownOutcome(
                f"Facebook answered HTTP {response.status_code} without a photo id"
            )
        return photo_id

    def find(self, post: OutgoingPost) -> Posted | None:
        """The Page's own post with exactly this text since ``not_before`` (less a margin).

        Reads ``/posts`` (only what the Page itself published), newest first. Without
        ``not_before`` only the newest page of posts is searched.
        """
        params = {"fields": "id,message,created_time", "limit": str(LOOKUP_PAGE_SIZE)}
        if post.not_before is not None:
            params["since"] = str(int((post.not_before - LOOKUP_MARGIN).timestamp()))
        pages = LOOKUP_MAX_PAGES if post.not_before is not None else 1
        for _ in range(pages):
            response = self._request("GET", self._url("posts"), params=params)
            body = self._body(response)
            if not response.ok or not isinstance(body, dict) or "error" in body:
                raise self._error_for(response, body, looking_up=True)
            for item in body.get("data") or []:
                if isinstance(item, dict) and _same_text(item.get("message"), _message(post)):
                    return self._posted(str(item["id"]))
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return None
            params["after"] = after
        if post.not_before is None:
            return None
        raise LookupUnsupported(
            f"more than {LOOKUP_PAGE_SIZE * LOOKUP_MAX_PAGES} Page posts since the first "
            "attempt; a moderator should check the Page"
        )

    def close(self) -> None:
        """Drop the HTTP session; the Page token stays with the client."""
        self._session.close()

    # -- HTTP and errors -----------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        what: str = "post",
    ) -> requests.Response:
        """One request; a failure without an answer becomes Transient or UnknownOutcome.

        ``what`` names what a POST may have made when no answer came."""
        try:
            return self._session.request(
                method, url, data=data, params=params, files=files, timeout=self.timeout
            )
        except requests.RequestException as error:
            request = f"Facebook {method} {url.removeprefix(self.api_base)}"
            if never_sent(error):
                raise Transient(f"{request}: could not connect ({type(error).__name__})") from error
            if method == "GET":  # a read creates nothing: simply try again later
                raise Transient(f"{request}: no answer ({type(error).__name__})") from error
            raise UnknownOutcome(
                f"{request}: sent, but no answer came ({type(error).__name__}); "
                f"the {what} may exist"
            ) from error

    @staticmethod
    def _body(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _error_for(
        self, response: requests.Response, body: Any, *, looking_up: bool = False
    ) -> PublishError:
        """The project's error for a Graph error answer."""
        status = response.status_code
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            if status == 429:
                return RateLimited(
                    f"Facebook answered HTTP {status}", retry_at=self._regain_at(response)
                )
            if status >= 500 or (looking_up and response.ok):
                return Transient(
                    f"Facebook answered HTTP {status} without a Graph error",
                    retry_at=self._retry_after(response),
                )
            return Permanent(f"Facebook answered HTTP {status} without a Graph error")
        code = error.get("code")
        subcode = error.get("error_subcode")
        # Graph sometimes quotes what it was sent; the token must not reach a log.
        message = redact(str(error.get("message") or ""), [self._token])[:MAX_ERROR_TEXT]
        trace = error.get("fbtrace_id")
        summary = (
            f"Facebook error {code}{f'/{subcode}' if subcode else ''} (HTTP {status}): {message}"
            + (f" [fbtrace_id {trace}]" if trace else "")
        )
        if code in RATE_LIMIT_CODES:
            return RateLimited(summary, retry_at=self._regain_at(response))
        if code == DUPLICATE_CODE and not looking_up:
            return Duplicate(summary)
        if code == POLICY_BLOCK_CODE and "already posted" in message.lower() and not looking_up:
            return Duplicate(summary)
        if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
            return Transient(summary, retry_at=self._retry_after(response))
        # 190 token, 10 and 200-299 permissions, 100 bad parameter, 368 policy block, ...
        return Permanent(summary)

    def _regain_at(self, response: requests.Response) -> datetime:
        """Graph's own estimate if it gave one, else ``Retry-After``, else the hour."""
        now = self._clock()
        minutes = _regain_minutes(response.headers)
        if minutes is not None:
            return now + timedelta(minutes=minutes)
        return retry_after(response.headers, now) or now + DEFAULT_RATE_LIMIT_WAIT

    def _retry_after(self, response: requests.Response) -> datetime | None:
        return retry_after(response.headers, self._clock())

    @staticmethod
    def _posted(post_id: str) -> Posted:
        return Posted(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")
