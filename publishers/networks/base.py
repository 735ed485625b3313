"""The one interface every network client has, and the project's own publishing errors.

Each client maps its library's errors (tweepy's ``TooManyRequests``, Mastodon.py's
``MastodonRatelimitError``, atproto's ``RequestException``, an HTTP status) to these at its
boundary, so the delivery worker decides retries, holds and fallbacks in one place and
never sees a library type. Clients are synchronous: the worker runs them in threads.
Messages never contain credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol


class PublishError(Exception):
    """A post did not go out; the message is safe to log and to show moderators."""


class Transient(PublishError):
    """Worth trying again later: a 5xx, a refused connection, a timeout before sending.

    ``retry_at`` is set when the network said when (``Retry-After``); otherwise the
    worker's own backoff decides.
    """

    def __init__(self, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class RateLimited(Transient):
    """The network asked us to wait until ``retry_at`` (from its rate-limit headers)."""

    def __init__(self, message: str, *, retry_at: datetime) -> None:
        super().__init__(message, retry_at=retry_at)


class Permanent(PublishError):
    """Trying again will not help: a revoked token, a forbidden action, a refused text.

    The worker stops the channel and tells the moderators.
    """


class CreditsExhausted(Permanent):
    """The account has no credits left to pay for posts (X answers HTTP 402).

    Only this channel stops, with this message, until a moderator resumes it."""


class RepliesRefused(Permanent):
    """The network refused a reply in a thread (X restricted programmatic replies in 2026).

    The channel falls back to single posts instead of stopping.
    """


class Duplicate(PublishError):
    """The network says this exact text was posted already (X 403, Facebook code 506).

    After an unknown outcome it is most likely our own earlier attempt: the worker looks
    the post up rather than treating this as a failure.
    """


class UnknownOutcome(PublishError):
    """The request may have created the post, but no answer came (a dropped connection,
    a timeout after the request was sent). Never send again blindly: look it up first."""


class LookupUnsupported(PublishError):
    """The network offers no way to find a post we may have made; a moderator decides."""


@dataclass(frozen=True)
class Posted:
    """Where a post landed: enough to reply to it and to show it to a person."""

    remote_id: str
    """The network's id: a tweet id, ``{page}_{post}``, a status id, an ``at://`` URI, a file."""
    cid: str | None = None
    """Bluesky's content hash of the record, needed (with the URI) to reply to it."""
    url: str | None = None


@dataclass(frozen=True)
class Media:
    """A picture attached to a post (an equation card), as stored with its part."""

    position: int
    """0-based place among the post's pictures."""
    content: bytes
    mime_type: str
    sha256: str
    width: int
    height: int
    alt: str
    """For screen readers (X allows 1,000 characters, Mastodon 1,500, Discord 1,024)."""
    remote_ref: str | None = None
    """What the network answered to its upload (a media id, a blob reference), once it is
    uploaded: the post refers to it, and a retry reuses it instead of uploading again."""

    @property
    def extension(self) -> str:
        """The file name extension its type takes (``png``)."""
        return self.mime_type.rpartition("/")[2] or "bin"


@dataclass(frozen=True)
class OutgoingPost:
    """One post, or one part of a thread, as the worker hands it to a client."""

    text: str
    key: str
    """Chosen and stored before the first try: Mastodon's ``Idempotency-Key``, Bluesky's
    record key (a TID), a file name stem for the outbox folder."""
    part: int
    """0-based position in its digest."""
    parts: int
    reply_to: Posted | None = None
    """The part before this one in a thread; None for a first part or a single post."""
    root: Posted | None = None
    """The first part of the thread (Bluesky's ``reply.root``); None for a first part."""
    link: str | None = None
    """The post's main link, for networks that attach one (a Facebook link preview)."""
    not_before: datetime | None = None
    """When the first attempt began: a look-up only considers posts made since then."""
    digest_id: int | None = None
    """The digest it belongs to: with ``post`` and ``position``, what a person reads the post
    by (the outbox folder's file names), whatever form the network's key takes."""
    post: int | None = None
    """0-based number of its post in the digest (a thread is one post)."""
    position: int | None = None
    """0-based place in its post: 0 for a post of its own or a thread's first part."""
    built_at: datetime | None = None
    """When its digest was built: it leads the outbox folder's names, so the files of a
    database started afresh (digest numbers from 1 again) never meet the old ones."""
    rich: Mapping[str, Any] | None = None
    """The post in the other forms its network takes beside ``text``, as rendered with the
    digest: Slack's ``blocks``, Matrix's and email's ``html``, an email's ``subject``."""
    media: tuple[Media, ...] = ()
    """Its pictures in order. On a network that uploads first (``uploads_media``) each
    has its ``remote_ref`` by the time ``post`` is called."""


class Network(Protocol):
    """A client of one network account. Synchronous; run in a worker thread.

    Clients subclass it for its defaults: what differs between networks (how a post's key
    looks, whether a digest also gets a page) is said here, never by the worker asking
    which network it talks to.
    """

    kind: str
    keeps_pages: ClassVar[bool] = False
    """True where a digest is also kept whole as one page (the outbox folder's HTML)."""
    uploads_media: ClassVar[bool] = False
    """True where a picture is uploaded on its own first (:meth:`upload`) and the post refers
    to it; False where the pictures travel with the post itself (Discord, the folder)."""
    media_reuse: ClassVar[timedelta] = timedelta(hours=12)
    """How long an uploaded picture may be referred to by a post: networks forget uploads
    no post took (X after 24 hours), so an older one is uploaded again."""

    @staticmethod
    def new_key(hint: str, post: int, position: int) -> str:
        """The key of a post part, chosen when the digest is built and stored with it, so
        every retry sends the same one: an ``Idempotency-Key`` by default. ``hint`` names
        the digest (channel and time), for networks whose keys people read."""
        return secrets.token_hex(16)

    def post(self, post: OutgoingPost) -> Posted:
        """Create the post. Raises one of the errors above, never a library's own."""
        ...

    def upload(self, media: Media, post: OutgoingPost) -> str:
        """Upload a picture of ``post``; what the network answered, for the post to refer to.

        Only called where ``uploads_media`` is True. Raises the errors above: an
        ``UnknownOutcome`` here is harmless (a picture no post refers to is forgotten by
        the network), so the worker uploads again."""
        raise Permanent(f"{self.kind} takes no pictures")

    def find(self, post: OutgoingPost) -> Posted | None:
        """The post if an earlier attempt created it, else None.

        Raises ``LookupUnsupported`` where the API has no way to tell.
        """
        ...

    def close(self) -> None:
        """Let go of sessions and connections; the client may be used again after."""

    def write_page(self, digest_id: int, html: str, built_at: datetime | None = None) -> None:
        """Keep a sent digest as one page; a network that shows posts only keeps none."""
        return None
