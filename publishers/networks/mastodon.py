"""Posts to a Mastodon account with Mastodon.py; a digest's parts become a reply thread.

Every post carries its delivery key as ``Idempotency-Key``. Mastodon keeps a key for an
hour (docs.joinmastodon.org, "Post a new status") and answers a repeated key with the
status it already made. That makes a retry safe, and it is how :meth:`MastodonClient.find`
looks a post up within the hour.

Pictures are uploaded first (``POST /api/v2/media`` with a description) and the status
refers to their ids (``media_ids``). Mastodon keeps an upload no status took for a while,
so a retry reuses it; an image is usually processed at once (HTTP 200), and when the
server answers 202 instead, :meth:`MastodonClient.upload` asks after it a bounded number
of times, because a status cannot take a picture that is still processing.

Mastodon.py runs with ``ratelimit_method="throw"``, so it never sleeps in the worker's
thread, and is told the server's version (``MASTODON_VERSION``) instead of asking for
it, so constructing it makes no request and media go to the v2 endpoint. It
turns every requests failure into ``MastodonNetworkError("Could not complete request:
...")``, raised while it handles the requests exception. That original exception stays
on ``__context__``, and it tells a refused connection (nothing sent) from a dropped one
or a read timeout (the status may exist). The answer Mastodon.py saw last (status and
headers) is remembered through a requests response hook, because its errors carry
neither, and ``X-RateLimit-Reset`` is needed exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from html.parser import HTMLParser
from typing import Any, TypeVar

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

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
from publishers.networks.transport import epoch_time, never_sent, redact, retry_after
from storage.types import utcnow

VISIBILITIES = ("public", "unlisted", "private", "direct")
USER_AGENT = "shortscience-bot"
MASTODON_VERSION = "4.0.0"
"""The oldest server this client is written for. Mastodon.py picks endpoints by version:
from 3.1.4 on it uploads to ``/api/v2/media``, and from 4.0 images are processed at once.
Left to ask, Mastodon.py 2.3 would read ``/api/v1/instance`` on the first upload, and when
that read fails it recurses until Python's limit (seen against a server without it)."""

MAX_DESCRIPTION = 1500
"""Characters a media description may have (MediaAttachment's validation; LIMITS.md)."""
MEDIA_CHECKS = 10
"""How often a picture still processing (HTTP 202) is asked after before giving up."""
MEDIA_CHECK_INTERVAL = 1.0
"""Seconds between those checks: ten seconds in all, well inside the worker's lease."""

IDEMPOTENCY_WINDOW = timedelta(hours=1)
"""How long Mastodon keeps an Idempotency-Key (the statuses API docs)."""
IDEMPOTENCY_MARGIN = timedelta(minutes=10)
"""Left unused at the end of the window: clocks drift, and a key must not expire mid-look."""
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=5)
"""When a 429 has no usable ``X-RateLimit-Reset``: the API limits count 5-minute periods
(docs.joinmastodon.org/api/rate-limits)."""

LOOKUP_MARGIN = timedelta(minutes=5)
LOOKUP_PAGE_SIZE = 40
"""The largest page ``GET /api/v1/accounts/:id/statuses`` serves."""
LOOKUP_MAX_PAGES = 5
MAX_ERROR_TEXT = 300

T = TypeVar("T")


@dataclass(frozen=True)
class MastodonCredentials:
    """A user access token with the ``write:statuses`` and ``read:statuses`` scopes."""

    access_token: str = field(repr=False)


class _LastAnswer(threading.local):
    """What the server answered last in this thread, before Mastodon.py judged it."""

    status: int | None = None
    headers: Mapping[str, str] | None = None


class _PlainText(HTMLParser):
    """The text a reader sees in a status's HTML ``content``.

    Mastodon wraps paragraphs in ``<p>``, turns newlines into ``<br />``, and linkifies
    URLs, hiding parts of them in ``<span class="invisible">``. The hidden parts are still
    text, so dropping the tags gives back the full URL.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or (tag == "p" and self.parts):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _comparable(text: str) -> str:
    """Whitespace collapsed: paragraph and line breaks differ between source and HTML."""
    return " ".join(text.split())


def _content_text(html: str) -> str:
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _description(alt: str) -> str:
    """Alt text as Mastodon takes it: at most ``MAX_DESCRIPTION`` characters (code points,
    as Rails counts them), cut with an ellipsis rather than refused."""
    if len(alt) <= MAX_DESCRIPTION:
        return alt
    return alt[: MAX_DESCRIPTION - 1].rstrip() + "…"


def _aware(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


class MastodonClient(Network):
    """Posts to one Mastodon account. Synchronous: the delivery worker runs it in a thread."""

    kind = "mastodon"
    uploads_media = True

    def __init__(
        self,
        credentials: MastodonCredentials,
        *,
        api_base: str,
        visibility: str = "public",
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        self.api_base = api_base.rstrip("/")
        self.visibility = visibility
        self.timeout = timeout
        self._token = credentials.access_token
        self._clock = clock
        self._sleep = sleep
        self._last = _LastAnswer()
        self._session = requests.Session()
        self._session.hooks["response"].append(self._remember)
        self._api = Mastodon(
            access_token=credentials.access_token,
            api_base_url=self.api_base,
            request_timeout=timeout,
            ratelimit_method="throw",
            mastodon_version=MASTODON_VERSION,
            version_check_mode="created",
            session=self._session,
            user_agent=USER_AGENT,
        )

    def __repr__(self) -> str:
        return f"MastodonClient(api_base={self.api_base!r}, visibility={self.visibility!r})"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Create the status with its Idempotency-Key, so a resend within the hour is no double."""
        return self._create(post, creating=True)

    def upload(self, media: Media, post: OutgoingPost) -> str:
        """Upload a picture with its description; its media id, once Mastodon has processed
        it (a status refuses a picture still processing)."""
        attachment = self._call(
            lambda: self._api.media_post(
                media.content,
                mime_type=media.mime_type,
                description=_description(media.alt),
                file_name=f"{media.sha256[:16]}.{media.extension}",
            ),
            creating=True,
            what="picture",
        )
        media_id = str(attachment["id"])
        checks = 0
        while attachment.get("url") is None:  # HTTP 202: the full-size file is processing
            if checks == MEDIA_CHECKS:
                raise Transient(
                    f"Mastodon was still processing picture {media_id} after {checks} checks"
                )
            self._sleep(MEDIA_CHECK_INTERVAL)
            checks += 1
            attachment = self._call(partial(self._api.media, media_id), creating=False)
        return media_id

    def find(self, post: OutgoingPost) -> Posted | None:
        """The status an earlier attempt made, or None.

        Within the hour after ``not_before`` (less a margin) this is a look-up by
        idempotency: the same request is sent again with the same key, and Mastodon
        answers with the status the key already made. If no earlier attempt got through,
        this makes the status now, once, which is what the worker would do next anyway.
        So within the hour this never returns None. Except for a post whose pictures are
        not all uploaded (an upload's answer was lost): sent again, it would go out
        without them, so its status is searched for instead.

        Later, it reads the account's own recent statuses and matches the text (as the
        HTML ``content`` reads, whitespace collapsed) and the status replied to. Without
        ``not_before``, only the newest page is read.
        """
        not_before = post.not_before
        uploaded = all(media.remote_ref is not None for media in post.media)
        if (
            uploaded
            and not_before is not None
            and self._clock() - not_before < IDEMPOTENCY_WINDOW - IDEMPOTENCY_MARGIN
        ):
            return self._create(post, creating=False)
        return self._search_own_statuses(post)

    def close(self) -> None:
        """Drop the HTTP session; the access token stays with the client."""
        self._session.close()

    # -- calls ---------------------------------------------------------------------------

    def _create(self, post: OutgoingPost, *, creating: bool) -> Posted:
        reply_to = post.reply_to.remote_id if post.reply_to is not None else None
        media_ids = [media.remote_ref for media in post.media]
        if None in media_ids:
            raise Permanent("a picture of this post was not uploaded before the post")
        status = self._call(
            lambda: self._api.status_post(
                post.text,
                in_reply_to_id=reply_to,
                media_ids=media_ids or None,
                visibility=self.visibility,
                idempotency_key=post.key,
            ),
            creating=creating,
        )
        return self._posted(status)

    def _search_own_statuses(self, post: OutgoingPost) -> Posted | None:
        since = post.not_before - LOOKUP_MARGIN if post.not_before is not None else None
        wanted = _comparable(post.text)
        reply_to = post.reply_to.remote_id if post.reply_to is not None else None
        me = self._call(self._api.account_verify_credentials, creating=False)
        max_id: str | None = None
        for _ in range(LOOKUP_MAX_PAGES if since is not None else 1):
            statuses = self._call(
                partial(
                    self._api.account_statuses,
                    me["id"],
                    exclude_reblogs=True,
                    max_id=max_id,
                    limit=LOOKUP_PAGE_SIZE,
                ),
                creating=False,
            )
            if not statuses:
                return None
            for status in statuses:
                created = _aware(status.get("created_at"))
                if since is not None and (created is None or created < since):
                    return None  # newest first: everything after this is older still
                in_reply_to = status.get("in_reply_to_id")
                if (
                    _comparable(_content_text(str(status.get("content") or ""))) == wanted
                    and (str(in_reply_to) if in_reply_to is not None else None) == reply_to
                ):
                    return self._posted(status)
            max_id = str(statuses[-1]["id"])
        if since is None:
            return None
        raise LookupUnsupported(
            f"more than {LOOKUP_PAGE_SIZE * LOOKUP_MAX_PAGES} statuses since the first "
            "attempt; a moderator should check the account"
        )

    def _call(self, call: Callable[[], T], *, creating: bool, what: str = "status") -> T:
        """Run one Mastodon.py call; its errors become the project's at this boundary.

        ``what`` names what a call that ``creating`` may have made when no answer came."""
        self._last.status = None
        self._last.headers = None
        try:
            return call()
        except (MastodonError, ValueError) as error:
            raise self._translate(error, creating=creating, what=what) from error

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.status = response.status_code
        self._last.headers = response.headers

    # -- errors ---------------------------------------------------------------------------

    def _translate(self, error: Exception, *, creating: bool, what: str = "status") -> PublishError:
        """The project's error for a Mastodon.py error.

        ``creating`` is true for a first post or an upload. There, an answer that never came
        may hide a new status or picture (UnknownOutcome). For reads and idempotent look-ups
        it is Transient.
        """
        seen = self._last.status
        if isinstance(error, MastodonRatelimitError):
            if seen == 429:
                return RateLimited(
                    "Mastodon rate limit reached (HTTP 429)", retry_at=self._reset_at()
                )
            # Mastodon.py also raises this when it cannot read an answer's rate-limit headers.
            if creating and seen is not None and 200 <= seen < 300:
                return UnknownOutcome(
                    f"Mastodon answered HTTP {seen}, but Mastodon.py could not read it; "
                    f"the {what} may exist"
                )
            return Transient("Mastodon.py could not read the server's rate-limit headers")
        if isinstance(error, MastodonNetworkError):
            cause = error.__context__
            reason = type(cause).__name__ if cause is not None else "network error"
            if never_sent(cause):
                return Transient(f"Mastodon: could not connect ({reason})")
            if creating:
                return UnknownOutcome(
                    f"Mastodon: request sent, but no answer came ({reason}); the {what} may exist"
                )
            return Transient(f"Mastodon: no answer ({reason})")
        if isinstance(error, MastodonAPIError):
            return self._api_error(error, creating=creating)
        if isinstance(error, MastodonIllegalArgumentError | ValueError):
            return Permanent(f"Mastodon.py refused the request: {self._scrub(str(error))}")
        if creating:
            return UnknownOutcome(f"Mastodon.py failed after sending ({type(error).__name__})")
        return Transient(f"Mastodon.py failed ({type(error).__name__})")

    def _api_error(self, error: MastodonAPIError, *, creating: bool) -> PublishError:
        # Mastodon.py's args: ("Mastodon API returned error", status, reason, error text).
        args = error.args
        status = args[1] if len(args) > 1 and isinstance(args[1], int) else self._last.status
        detail = self._scrub(str(args[3]))[:MAX_ERROR_TEXT] if len(args) > 3 and args[3] else ""
        said = f"Mastodon answered HTTP {status}" + (f": {detail}" if detail else "")
        if isinstance(error, MastodonServerError) or (status is not None and status >= 500):
            return Transient(said, retry_at=self._retry_after())
        if status == 429:
            return RateLimited(said, retry_at=self._reset_at())
        if status is None or 200 <= status < 300:
            # Answered, but the body was unreadable: the status may well exist.
            if creating:
                return UnknownOutcome(f"Mastodon answered HTTP {status} with an unreadable body")
            return Transient(f"Mastodon answered HTTP {status} with an unreadable body")
        if isinstance(error, MastodonUnauthorizedError):
            return Permanent(f"{said} (the access token is invalid or revoked)")
        if isinstance(error, MastodonNotFoundError):
            return Permanent(f"{said} (the status replied to is gone, or api_base is wrong)")
        return Permanent(said)  # 403 login disabled, 422 validation failed, ...

    def _scrub(self, text: str) -> str:
        return redact(text, [self._token])

    def _reset_at(self) -> datetime:
        """``X-RateLimit-Reset``: an ISO 8601 time on Mastodon (epoch seconds elsewhere)."""
        now = self._clock()
        raw = (self._last.headers or {}).get("X-RateLimit-Reset", "").strip()
        reset: datetime | None = None
        if raw.isdigit():
            reset = epoch_time(raw)
        elif raw:
            reset = _aware(raw.replace("Z", "+00:00"))
        if reset is None:
            return now + DEFAULT_RATE_LIMIT_WAIT
        return max(reset, now)

    def _retry_after(self) -> datetime | None:
        return retry_after(self._last.headers or {}, self._clock())

    @staticmethod
    def _posted(status: Any) -> Posted:
        return Posted(remote_id=str(status["id"]), url=status.get("url") or status.get("uri"))
