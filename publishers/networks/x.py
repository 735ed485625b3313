"""Posting to X (Twitter) through tweepy's v2 ``Client``, with the project's errors.

tweepy hard-codes ``https://api.twitter.com``, sets no timeout and can sleep through rate
limits. Here its ``requests`` session is replaced by one that sends every request to
``api_base`` with a timeout; the URL is changed before requests prepares the request, so
the OAuth 1.0a signature covers the URL actually requested. ``wait_on_rate_limit`` stays
off: the delivery worker decides when to try again, from ``RateLimited.retry_at``.

Pictures (equation cards) go up first, each on its own: ``POST /2/media/upload`` (X API v2,
multipart/form-data; X retired the v1.1 ``upload.twitter.com`` routes tweepy's ``API`` uses
for self-serve apps in 2025, see tweepy/tweepy#2217, and tweepy 4.17's ``Client`` has no
upload of its own), then its alt text with ``POST /2/media/metadata``; the post names the
returned media ids. Both requests go through tweepy's session, so ``api_base``, the
timeout and the OAuth 1.0a signature apply as to posts (a multipart body is not part of
the signature, RFC 5849 3.4.1.3). When the account's credits run out X answers HTTP 402
(LIMITS.md, "X billing"), to whichever request comes next: that is ``CreditsExhausted``,
which stops only this channel until a moderator resumes it.

The boundary matters most where X's answer is lost. A post request that may have reached
X (a dropped connection, a read timeout, an unreadable 2xx) is ``UnknownOutcome``, and
``find`` then looks through the account's recent posts for it. X shows a post's text with
every URL wrapped in a ``https://t.co/...`` link and ``&``, ``<``, ``>`` HTML-escaped, and
a post with pictures ends with one more t.co link (to the pictures), so the look-up
compares texts modulo all three.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
import tweepy
import urllib3.exceptions

from publishers.networks.base import (
    CreditsExhausted,
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
from publishers.networks.transport import epoch_time, never_sent, redact, retry_after
from storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twitter.com"
TWEEPY_HOST = "https://api.twitter.com"
"""The host tweepy puts in front of every route (``BaseClient.request``)."""

PAGE_SIZE = 100
"""The largest ``max_results`` of ``GET /2/users/:id/tweets`` (the API accepts 5-100)."""
LOOKUP_PAGES = 5
"""Pages of the own timeline ``find`` reads before it gives the question to a moderator."""
LOOKUP_MARGIN = timedelta(minutes=2)
"""Looked back before ``not_before``: our clock and X's need not agree to the second."""
RATE_WINDOW = timedelta(minutes=15)
"""X's rate-limit window: the wait when a 429 carries no reset header at all."""

RATE_BUCKETS = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")
"""Header prefixes of X's buckets, each with ``-remaining`` and ``-reset`` (epoch seconds)."""

_DUPLICATE_MARKERS = ("duplicate content",)
_REPLY_REFUSED_MARKERS = (
    # Wording of X's 403 since it restricted programmatic replies (Feb 2026); both
    # versions were seen in the wild, see tests/fixtures/x/SOURCES.md.
    "reply to this conversation is not allowed",
    "not been mentioned or otherwise engaged",
    "you can only reply to or quote posts",
)
_UNUSABLE_ADDRESS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)
_TCO_LINK = re.compile(r"https://t\.co/[A-Za-z0-9]+")
_MEDIA_LINK = re.compile(r"\s*https://t\.co/[A-Za-z0-9]+\s*\Z")
"""The link X appends to the text of a post with pictures."""
_TWEET_FIELDS = ("created_at", "conversation_id", "referenced_tweets", "attachments")

MEDIA_UPLOAD_ROUTE = "/2/media/upload"
MEDIA_METADATA_ROUTE = "/2/media/metadata"
MEDIA_CATEGORY = "tweet_image"
"""The use X is told the picture is for (docs.x.com, media upload: ``media_category``)."""
MAX_ALT_TEXT = 1000
"""Characters of alt text X keeps with a picture (``alt_text.text``, at most 1,000). Counted
here in UTF-16 code units, the stricter reading: a formula's math letters (U+1D465) are astral."""

_UNREADABLE = (AttributeError, KeyError, TypeError, ValueError)
"""What tweepy raises on a body that is JSON but not an object (``[]``, ``"text"``)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class XCredentials:
    """OAuth 1.0a user-context keys of the posting account (an app key pair plus the
    account's access token pair)."""

    api_key: str
    api_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


class _ApiBaseSession(requests.Session):
    """Sends tweepy's requests to ``api_base`` and puts a timeout on each.

    The URL is rewritten in ``request``, before requests prepares the request and applies
    the OAuth1 auth object, so the signature is computed over the rewritten URL.
    """

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and url.startswith(TWEEPY_HOST + "/"):
            url = self._api_base + url[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class XClient(Network):
    """One X account, posting and looking up its own posts. Not for concurrent use."""

    kind = "x"
    uploads_media = True

    def __init__(
        self,
        credentials: XCredentials,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        channel: str | None = None,
    ) -> None:
        self._secrets = (
            credentials.api_key,
            credentials.api_secret,
            credentials.access_token,
            credentials.access_token_secret,
        )
        self._clock = clock
        self._client = tweepy.Client(
            consumer_key=credentials.api_key,
            consumer_secret=credentials.api_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            wait_on_rate_limit=False,
        )
        self._client.session = _ApiBaseSession(api_base, timeout)
        self._api_base = api_base
        self._channel = channel
        """The channel's name, for the resume command in a message; None keeps it generic."""
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"XClient(api_base={self._api_base!r})"

    # -- the Network interface -------------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Create the post (as a reply in a thread); X's errors become the project's own here."""
        reply_to = post.reply_to.remote_id if post.reply_to is not None else None
        media_ids = [media.remote_ref for media in post.media]
        if any(media_id is None for media_id in media_ids):
            raise Permanent("a picture of the post was not uploaded to X before posting")
        try:
            response = self._client.create_tweet(
                text=post.text,
                in_reply_to_tweet_id=reply_to,
                media_ids=media_ids or None,
                user_auth=True,
            )
        except tweepy.errors.HTTPException as error:
            raise self._answer_error(error, replying=reply_to is not None) from error
        except requests.RequestException as error:
            raise self._transport_error(error, creating=True) from error
        except _UNREADABLE as error:  # tweepy chokes on an answer that is not X's JSON
            raise UnknownOutcome(
                f"X's answer to the post could not be read ({type(error).__name__});"
                " it may have been created"
            ) from error
        data = response.data
        if not isinstance(data, Mapping) or not data.get("id"):
            raise UnknownOutcome("X answered the post without a post id; it may have been created")
        posted = _posted(str(data["id"]))
        log.info("posted part %d/%d to X as %s", post.part + 1, post.parts, posted.remote_id)
        return posted

    def upload(self, media: Media, post: OutgoingPost) -> str:
        """Upload the picture, then give it its alt text; X's media id, for the post.

        A lost answer to the upload is ``UnknownOutcome`` (harmless: X forgets an upload no
        post names); any failure of the alt text raises too, so a picture never goes out
        without its description."""
        files = {
            "media": (f"card-{media.position}.{media.extension}", media.content, media.mime_type)
        }
        form = {"media_category": MEDIA_CATEGORY, "media_type": media.mime_type}
        unreadable = "X's answer to the picture's upload could not be read"
        try:
            answer = self._signed("POST", MEDIA_UPLOAD_ROUTE, files=files, data=form)
        except tweepy.errors.HTTPException as error:
            raise self._answer_error(error, replying=False) from error
        except requests.RequestException as error:
            raise self._transport_error(error, creating=True, what="picture") from error
        except _UNREADABLE as error:  # an error answer tweepy could not parse
            raise UnknownOutcome(f"{unreadable} ({type(error).__name__})") from error
        try:
            data = answer.json().get("data")
        except (*_UNREADABLE, requests.JSONDecodeError) as error:
            raise UnknownOutcome(f"{unreadable} ({type(error).__name__})") from error
        media_id = data.get("id") if isinstance(data, Mapping) else None
        if not isinstance(media_id, str) or not media_id:
            raise UnknownOutcome("X answered the picture's upload without a media id")
        alt = _alt_text(media.alt)
        if alt:
            self._read(
                lambda: self._client.request(
                    "POST",
                    MEDIA_METADATA_ROUTE,
                    json={"id": media_id, "metadata": {"alt_text": {"text": alt}}},
                    user_auth=True,
                )
            )
        log.info(
            "uploaded picture %d of part %d/%d to X as %s",
            media.position + 1,
            post.part + 1,
            post.parts,
            media_id,
        )
        return media_id

    def find(self, post: OutgoingPost) -> Posted | None:
        """The account's own post with this text (and reply target), made since
        ``post.not_before``; the oldest such post if an earlier attempt made several."""
        user_id = self._own_user_id()
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE,
            "tweet_fields": list(_TWEET_FIELDS),
            "exclude": ["retweets"],
        }
        if post.not_before is not None:
            params["start_time"] = post.not_before.astimezone(UTC) - LOOKUP_MARGIN
        expected_parent = post.reply_to.remote_id if post.reply_to is not None else None
        found: Posted | None = None
        for _ in range(LOOKUP_PAGES):
            page = self._read(
                lambda: self._client.get_users_tweets(user_id, user_auth=True, **params)
            )
            for tweet in page.data or []:  # newest first: the last match is the oldest
                shown = tweet.data
                if _same_post_text(post, shown) and _replied_to(shown) == expected_parent:
                    found = _posted(str(shown["id"]))
            next_token = (page.meta or {}).get("next_token")
            if not next_token:
                return found
            params["pagination_token"] = next_token
        if found is not None:
            return found
        raise LookupUnsupported(
            f"more than {LOOKUP_PAGES * PAGE_SIZE} posts on the X account since the first"
            " attempt: a moderator has to check whether this post went out"
        )

    def close(self) -> None:
        """Drop tweepy's HTTP session."""
        self._client.session.close()

    # -- helpers -------------------------------------------------------------------------

    def _own_user_id(self) -> str:
        if self._user_id is None:
            me = self._read(lambda: self._client.get_me(user_auth=True))
            if me.data is None:
                raise Transient("X answered GET /2/users/me without the account")
            self._user_id = str(me.data.id)
        return self._user_id

    def _signed(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        """A user-context request tweepy's ``Client`` has no method for (a multipart
        upload): through its session and OAuth 1.0a handler, its errors raised as
        tweepy raises them, so they map like every other answer."""
        client = self._client
        auth = tweepy.OAuth1UserHandler(
            client.consumer_key,
            client.consumer_secret,
            client.access_token,
            client.access_token_secret,
        ).apply_auth()
        response = client.session.request(
            method,
            TWEEPY_HOST + route,
            headers={"User-Agent": client.user_agent},
            auth=auth,
            **kwargs,
        )
        if not 200 <= response.status_code < 300:
            raise _tweepy_error(response)
        return response

    def _read(self, call: Callable[[], _T]) -> _T:
        """A request that creates nothing: with no answer it is simply worth retrying."""
        try:
            return call()
        except tweepy.errors.HTTPException as error:
            raise self._answer_error(error, replying=False) from error
        except requests.RequestException as error:
            raise self._transport_error(error, creating=False) from error
        except _UNREADABLE as error:
            raise Transient(f"X's answer could not be read ({type(error).__name__})") from error

    def _answer_error(self, error: tweepy.errors.HTTPException, *, replying: bool) -> PublishError:
        """X answered with an error status: map it to what the worker should do."""
        response = error.response
        status = f"{response.status_code} {response.reason}".strip()
        detail = redact(_detail(error), self._secrets, "[redacted]")
        said = f"X answered {status}" + (f": {detail}" if detail else "")
        if response.status_code == 402:
            return self._credits_exhausted(said)
        if isinstance(error, tweepy.errors.TooManyRequests):
            retry_at = _rate_limit_reset(response.headers, self._clock())
            return RateLimited(f"{said}; next try at {retry_at.isoformat()}", retry_at=retry_at)
        if isinstance(error, tweepy.errors.Unauthorized):
            return Permanent(f"{said} (the X keys are wrong or were revoked)")
        if isinstance(error, tweepy.errors.Forbidden):
            lowered = detail.lower()
            if any(marker in lowered for marker in _DUPLICATE_MARKERS):
                return Duplicate(said)
            if replying and any(marker in lowered for marker in _REPLY_REFUSED_MARKERS):
                return RepliesRefused(said)
            return Permanent(said)
        if isinstance(error, tweepy.errors.TwitterServerError):
            return Transient(said, retry_at=retry_after(response.headers, self._clock()))
        return Permanent(said)

    def _credits_exhausted(self, said: str) -> CreditsExhausted:
        """X's 402: the developer account has no credits left to pay for posts."""
        resume = f"shortscience digest resume {self._channel or '<channel>'}"
        return CreditsExhausted(
            f"X credits exhausted ({said}): add credits to the X developer account, then `{resume}`"
        )

    def _transport_error(
        self, error: requests.RequestException, *, creating: bool, what: str = "post"
    ) -> PublishError:
        """No usable answer. Whether the post (or picture) may exist depends on whether it
        was sent."""
        reason = type(_root_cause(error)).__name__
        if isinstance(error, _UNUSABLE_ADDRESS):
            return Permanent(f"the X API address is not usable ({type(error).__name__})")
        if never_sent(error):
            return Transient(f"could not reach X ({reason})")
        if not creating:
            return Transient(f"no usable answer from X ({reason})")
        log.warning("no answer from X after sending a %s (%s)", what, reason)
        return UnknownOutcome(f"no answer from X after sending the {what} ({reason}); it may exist")


def _tweepy_error(response: requests.Response) -> tweepy.errors.HTTPException:
    """The error tweepy's ``Client.request`` raises for this status (tweepy 4.17)."""
    status = response.status_code
    by_status: dict[int, type[tweepy.errors.HTTPException]] = {
        400: tweepy.errors.BadRequest,
        401: tweepy.errors.Unauthorized,
        403: tweepy.errors.Forbidden,
        404: tweepy.errors.NotFound,
        429: tweepy.errors.TooManyRequests,
    }
    if status >= 500:
        return tweepy.errors.TwitterServerError(response)
    return by_status.get(status, tweepy.errors.HTTPException)(response)


def _alt_text(alt: str) -> str:
    """The alt text cut to what X keeps, ending with an ellipsis where it was cut."""
    alt = alt.strip()
    if _utf16_length(alt) <= MAX_ALT_TEXT:
        return alt
    kept = alt[: MAX_ALT_TEXT - 1]
    while _utf16_length(kept) > MAX_ALT_TEXT - 1:
        kept = kept[:-1]
    return kept.rstrip() + "…"


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _posted(remote_id: str) -> Posted:
    return Posted(remote_id=remote_id, url=f"https://x.com/i/web/status/{remote_id}")


def _detail(error: tweepy.errors.HTTPException) -> str:
    """X's own words: the messages tweepy parsed, else the problem's title."""
    messages = [str(message) for message in error.api_messages if message]
    if not messages:
        try:
            body = error.response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and body.get("title"):
            messages = [str(body["title"])]
    return "; ".join(messages)[:300]


def _root_cause(error: BaseException) -> BaseException:
    """The innermost error (e.g. ``ConnectionRefusedError`` under requests' wrappers)."""
    for _ in range(10):
        inner: BaseException | None
        if isinstance(error, urllib3.exceptions.MaxRetryError):
            inner = error.reason
        elif error.args and isinstance(error.args[0], BaseException):
            inner = error.args[0]
        else:
            inner = error.__cause__ or error.__context__
        if inner is None or inner is error:
            break
        error = inner
    return error


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime:
    """When the exhausted bucket refills.

    X sends a 15-minute bucket and, on posting, 24-hour user and app buckets. The one
    whose ``remaining`` is 0 is the one that refused us (the latest reset if several are);
    if none says 0, the latest reset of those given is the safe choice.
    """
    resets: list[tuple[bool, datetime]] = []
    for prefix in RATE_BUCKETS:
        reset = epoch_time(headers.get(f"{prefix}-reset"))
        if reset is not None:
            resets.append((_int_header(headers, f"{prefix}-remaining") == 0, reset))
    exhausted = [reset for empty, reset in resets if empty]
    chosen = max(exhausted or [reset for _, reset in resets], default=None)
    if chosen is None:
        return retry_after(headers, now) or now + RATE_WINDOW
    return max(chosen, now)


def _replied_to(tweet: Mapping[str, Any]) -> str | None:
    for reference in tweet.get("referenced_tweets") or []:
        if reference.get("type") == "replied_to":
            return str(reference.get("id"))
    return None


def _unescape(shown: str) -> str:
    """Undo X's escaping of exactly ``<``, ``>`` and ``&`` (``&amp;`` last)."""
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _same_post_text(post: OutgoingPost, shown: Mapping[str, Any]) -> bool:
    """Whether the post X shows has our text: with pictures (ours, or X saying it has some
    under ``attachments``) X's text may end with one more t.co link, standing for them."""
    text = str(shown.get("text", ""))
    if _same_text(post.text, text):
        return True
    attachments = shown.get("attachments")
    with_pictures = bool(post.media) or (
        isinstance(attachments, Mapping) and bool(attachments.get("media_keys"))
    )
    return with_pictures and _same_text(post.text, _MEDIA_LINK.sub("", text))


def _same_text(sent: str, shown: str) -> bool:
    """Whether ``shown`` (the text as X returns it) is the text we sent.

    X replaces each URL it recognises (bare domains too) by a t.co link, so a t.co link
    in ``shown`` stands for one run of non-space characters in ``sent``; the literal text
    around the links must be equal. Both are NFC-normalised, as X counts and stores NFC,
    and whitespace at either end is ignored.
    """
    sent = unicodedata.normalize("NFC", sent).strip()
    shown = unicodedata.normalize("NFC", _unescape(shown)).strip()
    pieces = _TCO_LINK.split(shown)
    if len(pieces) == 1:
        return sent == shown
    pattern = r"\S+?".join(re.escape(piece) for piece in pieces)
    return re.fullmatch(pattern, sent, flags=re.DOTALL) is not None
