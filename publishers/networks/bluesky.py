"""Posting to Bluesky through the ``atproto`` SDK, with the project's errors at the boundary.

A post is an ``app.bsky.feed.post`` record made with ``com.atproto.repo.createRecord``.
Its record key is a TID chosen before the first try (``OutgoingPost.key``). When an
answer is lost, the worker can then look the record up by that key and avoid posting it
twice. A PDS that already holds the key answers HTTP 500 (bluesky-social/atproto#3718),
so a 5xx on createRecord means "unknown", not "failed". A thread is a reply chain: every
later part names the first part as ``reply.root`` and the part before it as
``reply.parent``. Bluesky shows a URL in plain text as plain text, so every URL gets a
``#link`` facet over its exact UTF-8 byte range.

A post with pictures (equation cards) is made in two steps. Each picture's bytes go up first
with ``com.atproto.repo.uploadBlob``, which answers a blob reference (``$type: blob``, the
CID of the bytes as ``ref.$link``, ``mimeType``, ``size``); the worker stores it as JSON.
The post then embeds them all as ``app.bsky.embed.images``, each with its ``alt`` text and
``aspectRatio``. A PDS forgets a blob no record took after a while; a post that is told so
(``BlobNotFound``) uploads its pictures again (same bytes, same CID) and is made once more.

The session is opened on first use (``createSession``) and kept, because logins are rate
limited (30 per 5 minutes, 300 per day, per handle). The SDK refreshes the access token
early when its ``exp`` is near. A token the server calls expired anyway (``ExpiredToken``,
400 from a PDS, 401 from the entryway) is refreshed here, and the request is tried once
more. If the refresh token has expired too, the client logs in again once.

Facts relied on are listed, with their sources, in ``tests/fixtures/bluesky/SOURCES.md``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pydantic
from atproto import Client, Request, Session, SessionEvent
from atproto_client import models
from atproto_client.exceptions import (
    BadRequestError,
    LoginRequiredError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.blob_ref import BlobRef
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_response_model
from atproto_core.exceptions import AtProtocolError

from publishers.networks.base import (
    Duplicate,
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
from publishers.networks.transport import epoch_time, retry_after
from storage.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_BASE = "https://bsky.social"
WEB_APP = "https://bsky.app"
POST_COLLECTION = "app.bsky.feed.post"
LINK_FEATURE = "app.bsky.richtext.facet#link"
CREATE_RECORD = "com.atproto.repo.createRecord"
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
IMAGES_EMBED = "app.bsky.embed.images"
MAX_IMAGES = 4
"""``app.bsky.embed.images``: ``images`` has ``maxLength: 4`` (LIMITS.md)."""
MAX_IMAGE_BYTES = 2_000_000
"""The lexicon's ``maxSize`` for an embedded image ("May be up to 2 MB, formerly limited to
1 MB", lexicons/app/bsky/embed/images.json as generated into atproto SDK 0.0.73); a PDS
refuses a bigger blob with ``BlobTooLarge`` when a record refers to it."""
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
"""How long to wait after a 429 that says neither ``ratelimit-reset`` nor ``Retry-After``."""

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MESSAGE = 200

_LIBRARY_ERRORS = (AtProtocolError, httpx.HTTPError, pydantic.ValidationError)
_NOTHING_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
"""Transport failures that happen before a request leaves: retrying cannot post twice."""
_STALE_TOKEN = frozenset({"ExpiredToken", "InvalidToken"})

# A URL runs from its scheme to whitespace, an angle bracket, a double quote or CJK
# punctuation. Sentence punctuation and unbalanced closing brackets at its end are then
# trimmed, as the Bluesky app does when it detects links.
_URL = re.compile(
    r"(?<![\w/])https?://[^\s<>\"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff5b-\uff65]+",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\"\u2019\u201d\u00bb\u2026"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class BlueskyCredentials:
    """An account's handle and an app password (never the account's own password)."""

    handle: str
    app_password: str = field(repr=False)


def new_record_key(now: datetime | None = None, *, clock_id: int | None = None) -> str:
    """A TID for a new record: 53 bits of microseconds since the epoch, 10 bits of clock id.

    The atproto SDK checks TIDs but does not make them. The random clock id keeps two keys
    made in the same microsecond apart (they collide 1 time in 1024).
    """
    moment = now if now is not None else utcnow()
    if moment.tzinfo is None:
        raise ValueError("new_record_key needs an aware datetime")
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"{moment.isoformat()} is outside the range a TID can hold")
    clock = secrets.randbelow(1024) if clock_id is None else clock_id
    if not 0 <= clock < 1024:
        raise ValueError(f"clock id {clock} does not fit in 10 bits")
    value = (micros << 10) | clock
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def link_facets(text: str) -> list[dict[str, Any]]:
    """A ``#link`` facet for every http(s) URL in ``text``, indexed by UTF-8 bytes.

    Bluesky counts facet offsets in bytes of the UTF-8 text, so an emoji or a CJK
    character before a URL moves the URL's range by 4 or 3 bytes, not by 1.
    """
    facets: list[dict[str, Any]] = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        if not urlsplit(url).netloc:
            continue
        start = len(text[: match.start()].encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(url.encode("utf-8"))},
                "features": [{"$type": LINK_FEATURE, "uri": url}],
            }
        )
    return facets


def _trim(url: str) -> str:
    """Drop what ends the sentence, not the URL: '.', '?', a closing quote, an unmatched ')'."""
    while url:
        last = url[-1]
        opener = _CLOSERS.get(last)
        if last in _TRAILING or (opener is not None and url.count(last) > url.count(opener)):
            url = url[:-1]
        else:
            break
    return url


def post_record(post: OutgoingPost, created_at: datetime) -> dict[str, Any]:
    """The ``app.bsky.feed.post`` record for one post or thread part, as sent."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": post.text,
        "createdAt": created_at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    facets = link_facets(post.text)
    if facets:
        record["facets"] = facets
    if post.reply_to is not None:
        root = post.root if post.root is not None else post.reply_to
        record["reply"] = {"root": _strong_ref(root), "parent": _strong_ref(post.reply_to)}
    if post.media:
        record["embed"] = images_embed(post.media)
    return record


def images_embed(media: tuple[Media, ...]) -> dict[str, Any]:
    """The ``app.bsky.embed.images`` embed of uploaded pictures, in their order.

    Each image carries its blob reference as uploadBlob answered it, its alt text for screen
    readers and its ``aspectRatio`` (the app lays the image out by it before it loads).
    """
    _check_count(media)
    images = []
    for picture in media:
        if picture.remote_ref is None:
            raise Permanent(f"Bluesky: picture {picture.position + 1} was never uploaded")
        images.append(
            {
                "alt": picture.alt,
                "image": _blob(picture.remote_ref),
                "aspectRatio": {"width": picture.width, "height": picture.height},
            }
        )
    return {"$type": IMAGES_EMBED, "images": images}


def _check_count(media: tuple[Media, ...]) -> None:
    if len(media) > MAX_IMAGES:
        raise Permanent(f"Bluesky takes at most {MAX_IMAGES} pictures a post, not {len(media)}")


def _check_picture(media: Media) -> None:
    """Refuse what a PDS would refuse only once the post refers to it, before any upload."""
    if not media.mime_type.startswith("image/"):
        raise Permanent(f"Bluesky embeds images only, not {media.mime_type}")
    size = len(media.content)
    if size > MAX_IMAGE_BYTES:
        raise Permanent(
            f"Bluesky refuses a picture of {size:,} bytes: an embedded image may have at "
            f"most {MAX_IMAGE_BYTES:,}"
        )


def _blob(remote_ref: str) -> dict[str, Any]:
    """The blob reference stored after the upload, as the record embeds it."""
    try:
        blob = json.loads(remote_ref)
    except ValueError:
        blob = None
    if not isinstance(blob, dict) or blob.get("$type") != "blob":
        raise Permanent("Bluesky: a stored picture reference is not a blob reference")
    return blob


def _blob_json(blob: BlobRef) -> str:
    """A blob reference as its JSON form (``ref`` as ``{"$link": cid}``), for storing."""
    return json.dumps(blob.to_json_representation().model_dump(mode="json", by_alias=True))


def _create_data(
    account: _Account, post: OutgoingPost, record: dict[str, Any]
) -> models.ComAtprotoRepoCreateRecord.Data:
    try:
        return models.ComAtprotoRepoCreateRecord.Data(
            repo=account.did, collection=POST_COLLECTION, rkey=post.key, record=record
        )
    except pydantic.ValidationError as error:
        raise Permanent(f"Bluesky createRecord: the request is malformed ({error})") from error


def _strong_ref(posted: Posted) -> dict[str, str]:
    if posted.cid is None:
        raise Permanent(f"cannot reply to {posted.remote_id} on Bluesky: its cid is unknown")
    return {"uri": posted.remote_id, "cid": posted.cid}


@dataclass(frozen=True)
class _Account:
    did: str
    handle: str


class BlueskyClient(Network):
    """One Bluesky account, as the delivery worker uses it. Safe to share between threads."""

    kind = "bluesky"
    uploads_media = True
    media_reuse = timedelta(hours=1)
    """The uploadBlob lexicon says an unreferenced blob is deleted "within a time window (eg,
    minutes)"; bsky.social keeps it long enough for requests typed by hand (atproto#1781).
    A retry past an hour uploads again; one sooner that finds its blob gone re-uploads it."""

    @staticmethod
    def new_key(hint: str, post: int, position: int) -> str:
        """A post's record key must be a TID; made at build time, so a retry writes the
        same record (``createRecord`` refuses a second one under that key)."""
        return new_record_key()

    def __init__(
        self,
        credentials: BlueskyCredentials,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._credentials = credentials
        self._api_base = api_base
        self._clock = clock
        self._client = Client(base_url=api_base, request=Request(timeout=timeout))
        self._client.on_session_change(self._remember)
        self._session: Session | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BlueskyClient(handle={self._credentials.handle!r}, api_base={self._api_base!r})"

    # -- the Network interface ---------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Create the record under ``post.key``; a lost answer raises UnknownOutcome."""
        created_at = self._clock()
        record = post_record(post, created_at)
        with self._lock:
            account = self._account()
            data = _create_data(account, post, record)

            def create() -> models.ComAtprotoRepoCreateRecord.Response:
                try:
                    return self._client.com.atproto.repo.create_record(data)
                except BadRequestError as error:
                    if not post.media or _error_name(error) != "BlobNotFound":
                        raise
                # Refused (400), so nothing was made: the PDS forgot an upload no record
                # took yet. The same bytes give the same blob; the post refers to the new one.
                log.info("Bluesky forgot a picture of %s: uploading it again", post.key)
                again = replace(post, media=tuple(self._reupload(post.media)))
                retried = _create_data(account, again, post_record(again, created_at))
                return self._client.com.atproto.repo.create_record(retried)

            created = self._call(create, action="createRecord", creates=True)
        log.info("posted to Bluesky as %s: %s", account.handle, created.uri)
        return self._posted(account, created.uri, created.cid)

    def upload(self, media: Media, post: OutgoingPost) -> str:
        """Send a picture's bytes with uploadBlob; its blob reference as JSON, which the post
        embeds (and a retry reuses). Nothing is posted, so every failure is at worst Transient."""
        _check_count(post.media)
        _check_picture(media)
        with self._lock:
            self._account()
            blob = self._call(lambda: self._upload_blob(media), action="uploadBlob", creates=False)
        log.info("uploaded picture %d of %s to Bluesky", media.position + 1, post.key)
        return _blob_json(blob)

    def find(self, post: OutgoingPost) -> Posted | None:
        """The record under ``post.key`` if an earlier attempt made it, else None."""
        with self._lock:
            account = self._account()
            params = models.ComAtprotoRepoGetRecord.Params(
                repo=account.did, collection=POST_COLLECTION, rkey=post.key
            )

            def fetch() -> models.ComAtprotoRepoGetRecord.Response | None:
                try:
                    return self._client.com.atproto.repo.get_record(params)
                except BadRequestError as error:
                    if _error_name(error) == "RecordNotFound":
                        return None
                    raise

            found = self._call(fetch, action="getRecord", creates=False)
        if found is None:
            return None
        return self._posted(account, found.uri, found.cid)

    def close(self) -> None:
        """Drop the HTTP session; the next call logs in again."""
        self._client.request.close()

    # -- pictures -----------------------------------------------------------------------

    def _upload_blob(self, media: Media) -> BlobRef:
        """One uploadBlob request, as the SDK's ``com.atproto.repo.upload_blob`` makes it,
        with two differences: the bytes go as httpx ``content`` (``upload_blob`` hands them
        over as ``data``, which httpx deprecates), and the Content-Type is the picture's
        own rather than ``*/*`` (the PDS sniffs the type and falls back to it)."""
        response = self._client.invoke_procedure(
            UPLOAD_BLOB,
            content=media.content,
            input_encoding=media.mime_type,
            output_encoding="application/json",
        )
        return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response).blob

    def _reupload(self, media: tuple[Media, ...]) -> list[Media]:
        return [
            replace(picture, remote_ref=_blob_json(self._upload_blob(picture))) for picture in media
        ]

    # -- the session ------------------------------------------------------------------

    def _remember(self, _event: SessionEvent, session: Session) -> None:
        """Keep the SDK's session: its refresh token and the PDS it lives on."""
        self._session = session

    def _account(self) -> _Account:
        """The logged-in account, logging in on first use."""
        session = self._session or self._login()
        return _Account(did=session.did, handle=session.handle)

    def _login(self) -> Session:
        log.info("logging in to Bluesky as %s", self._credentials.handle)
        try:
            self._client.login(
                self._credentials.handle,
                self._credentials.app_password,
                fetch_bsky_profile=False,
            )
        except _LIBRARY_ERRORS as error:
            raise self._translate(error, action="createSession", creates=False) from error
        if self._session is None:  # the SDK reports every new session to _remember
            raise Permanent("Bluesky createSession: the SDK kept no session")
        return self._session

    def _refresh(self) -> None:
        """New tokens for an expired access token; a new login if the refresh token is gone too."""
        session = self._session
        if session is None:
            self._login()
            return
        try:
            fresh = self._client.com.atproto.server.refresh_session(
                headers={"Authorization": f"Bearer {session.refresh_jwt}"},
                ignore_session_check=True,
            )
        except (BadRequestError, UnauthorizedError) as error:
            if _error_name(error) not in _STALE_TOKEN:
                raise self._translate(error, action="refreshSession", creates=False) from error
            log.info("the Bluesky refresh token is no longer valid: logging in again")
            self._login()
            return
        except _LIBRARY_ERRORS as error:
            raise self._translate(error, action="refreshSession", creates=False) from error
        renewed = Session(
            handle=fresh.handle,
            did=fresh.did,
            access_jwt=fresh.access_jwt,
            refresh_jwt=fresh.refresh_jwt,
            pds_endpoint=session.pds_endpoint,
        )
        self._client.login(session_string=renewed.encode(), fetch_bsky_profile=False)

    def _call(self, request: Callable[[], T], *, action: str, creates: bool) -> T:
        """Run an authenticated request; on ExpiredToken refresh and run it once more."""
        try:
            return request()
        except _LIBRARY_ERRORS as error:
            if not _is_expired_token(error):
                raise self._translate(error, action=action, creates=creates) from error
        log.info("the Bluesky access token expired: refreshing the session")
        self._refresh()
        try:
            return request()
        except _LIBRARY_ERRORS as error:
            raise self._translate(error, action=action, creates=creates) from error

    def _posted(self, account: _Account, uri: str, cid: str | None) -> Posted:
        rkey = uri.rsplit("/", 1)[-1]
        return Posted(remote_id=uri, cid=cid, url=f"{WEB_APP}/profile/{account.handle}/post/{rkey}")

    # -- errors -----------------------------------------------------------------------

    def _translate(self, error: Exception, *, action: str, creates: bool) -> PublishError:
        """The project's error for a library error. ``creates``: the request may make a post."""
        transport = _transport_error(error)
        if transport is not None:
            return _from_transport(transport, action=action, creates=creates)
        if isinstance(error, RequestErrorBase) and error.response is not None:
            response = error.response
            return self._from_answer(
                response.status_code,
                response.headers,
                response.content,
                action=action,
                creates=creates,
            )
        if isinstance(error, LoginRequiredError):
            return Permanent(f"Bluesky {action}: the session could not be used ({error})")
        what = f"Bluesky {action}: an answer that could not be read ({type(error).__name__})"
        return UnknownOutcome(what) if creates else Transient(what)

    def _from_answer(
        self,
        status: int,
        headers: Mapping[str, Any],
        content: object,
        *,
        action: str,
        creates: bool,
    ) -> PublishError:
        name, message = _xrpc_error(content)
        what = f"Bluesky {action} answered HTTP {status}"
        what += f" {name}" if name else ""
        what += f": {message}" if message else ""
        if status == 429:
            return RateLimited(what, retry_at=self._retry_at(headers))
        if creates and (status == 409 or "AlreadyExists" in name):
            return Duplicate(what)
        if status >= 500:
            return UnknownOutcome(what) if creates else Transient(what)
        if status == 408:
            return Transient(what)
        return Permanent(what)

    def _retry_at(self, headers: Mapping[str, Any]) -> datetime:
        """When a 429 ends: ``ratelimit-reset`` (epoch seconds), else ``Retry-After``."""
        reset = epoch_time(headers.get("ratelimit-reset"))
        if reset is not None:
            return reset
        now = self._clock()
        return retry_after(headers, now) or now + DEFAULT_RATE_LIMIT_WAIT


def _from_transport(transport: httpx.TransportError, *, action: str, creates: bool) -> PublishError:
    """No answer came. Unknown if a createRecord may have reached the PDS, else transient."""
    what = f"Bluesky {action}: no answer ({type(transport).__name__}: {transport})"
    if isinstance(transport, _NOTHING_SENT):
        return Transient(what)
    if creates and _method_of(transport) in (None, CREATE_RECORD):
        return UnknownOutcome(what)
    return Transient(what)


def _transport_error(error: BaseException) -> httpx.TransportError | None:
    """The httpx failure behind an error: the SDK wraps some and lets others through."""
    if isinstance(error, httpx.TransportError):
        return error
    cause = error.__cause__
    return cause if isinstance(cause, httpx.TransportError) else None


def _method_of(transport: httpx.TransportError) -> str | None:
    """The XRPC method that failed. The SDK may refresh the session first, in the same call."""
    try:
        path = transport.request.url.path
    except RuntimeError:
        return None
    return path.rsplit("/", 1)[-1] or None


def _xrpc_error(content: object) -> tuple[str, str]:
    """The XRPC error name and message of an answer, the message shortened."""
    if isinstance(content, XrpcError):
        name, message = content.error, content.message or ""
    elif isinstance(content, Mapping):
        name, message = str(content.get("error") or ""), str(content.get("message") or "")
    else:
        name, message = "", ""
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    return name, message


def _error_name(error: RequestErrorBase) -> str:
    if error.response is None:
        return ""
    return _xrpc_error(error.response.content)[0]


def _is_expired_token(error: Exception) -> bool:
    return (
        isinstance(error, (BadRequestError, UnauthorizedError))
        and _error_name(error) == "ExpiredToken"
    )
