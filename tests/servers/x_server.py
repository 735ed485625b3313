"""A local stand-in for the X API v2 routes a posting account uses, with state and real auth.

Tests must never reach api.twitter.com. :class:`XServer` answers on 127.0.0.1 what
``publishers.networks.x`` calls, keeps the posts it accepted (in order, with their reply
targets) so tests assert on what X would hold, and inherits the scripted faults of
:class:`~tests.servers.http_fake.FakeAPI`::

    with XServer() as x:
        a = x.account      # its consumer key/secret and access token/secret sign requests
        client = XClient(XCredentials(a.consumer_key, a.consumer_secret, a.access_token,
                                      a.access_token_secret), api_base=x.url, timeout=0.5)
        x.fail("POST", TWEETS, Fault(FaultKind.DROP_AFTER), skip=2)  # 3rd post: made, no answer
        ...
        assert [(post.text, post.in_reply_to) for post in x.posts] == [...]

What it answers, with bodies shaped like the recordings in ``tests/fixtures/x`` (see
``SOURCES.md`` there; reconstructed ones are marked):

* Every route checks the ``Authorization: OAuth ...`` header as X does: a known consumer
  key and access token, HMAC-SHA1, and a signature that verifies over the URL this server
  received (``http://127.0.0.1:PORT/...``) with the query parameters and, for a
  form-encoded body only, the body's parameters (RFC 5849 3.4.1.3: a JSON or multipart
  body is not signed). Anything else: 401.
* ``POST /2/tweets`` ``{"text", "reply": {"in_reply_to_tweet_id"}}``: 201
  ``{"data": {"id", "text"}}``. Refused: text over 280 weighted characters (400, counted
  with ``twitter_text``); the same text as the account's previous post (403 duplicate);
  a reply to a post it does not hold (403); a reply X's 2026 rules refuse (403): allowed
  only to the account's own posts (unless ``self_replies=False``) or to posts that
  mention it.
* ``POST /2/media/upload`` (multipart/form-data: ``media`` the raw bytes, ``media_category``,
  optional ``media_type``): 200 ``{"data": {"id", "media_key", "size",
  "expires_after_secs"}}``; the bytes and their owner are kept (:attr:`XServer.uploads`).
  Refused (400): no ``media`` part, an unknown category, a type the bytes are not, more
  than 5 MB. ``POST /2/media/metadata`` ``{"id", "metadata": {"alt_text": {"text"}}}``:
  200 ``{"data": {"id", "associated_metadata"}}``; refused (400) for media the account did
  not upload or alt text over 1,000 characters. A post's ``media.media_ids`` must name 1-4
  uploads of the same account made in the last 24 hours, else 400 "Your media IDs are
  invalid." (docs.x.com ``x-api/media/upload-media``, ``x-api/media/create-media-metadata``,
  the xdevplatform/xdk media models; the 400 wording from tweepy/tweepy#2016). X shows a
  post with pictures with one more t.co link at the end of its text (recorded timelines
  with ``attachments.media_keys``), and lists the media keys under ``attachments``.
* :meth:`XServer.deplete_credits`: the account's app has no credits left: posts and
  uploads answer 402 ``CreditsDepleted`` until :meth:`XServer.add_credits`.
* ``GET /2/users/me``: the account. ``GET /2/users/:id/tweets``: that user's posts,
  newest first, with ``start_time``/``end_time``, ``max_results`` (5-100, default 10),
  ``pagination_token``, ``exclude=replies`` and ``tweet.fields`` (``created_at``,
  ``conversation_id``, ``referenced_tweets``, ``in_reply_to_user_id``). Texts come back
  as X shows them: every URL wrapped in a ``https://t.co/...`` link, ``&<>`` escaped.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import twitter_text
from oauthlib.oauth1 import Client as OAuth1Client
from oauthlib.oauth1.rfc5849 import signature

from storage.types import utcnow
from tests.servers.http_fake import FakeAPI, Request, Response

__all__ = [
    "DEFAULT_ACCOUNT",
    "FIXTURES",
    "MAX_WEIGHTED_LENGTH",
    "MEDIA_METADATA",
    "MEDIA_UPLOAD",
    "OTHER_ACCOUNT",
    "TIMELINE",
    "TWEETS",
    "XAccount",
    "XMedia",
    "XPost",
    "XServer",
    "fixture",
    "fixture_response",
    "shown_text",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x"
MAX_WEIGHTED_LENGTH = 280
TWEETS = "/2/tweets"
"""Path pattern of the post route, for ``fail()``."""
TIMELINE = r"/2/users/\d+/tweets"
"""Path pattern of the timeline route, for ``fail()`` and ``received()``."""
MEDIA_UPLOAD = "/2/media/upload"
"""Path of the one-shot media upload, for ``fail()`` and ``received()``."""
MEDIA_METADATA = "/2/media/metadata"
"""Path of the media metadata route (alt text), for ``fail()`` and ``received()``."""
FIRST_ID = 1_900_000_000_000_000_000
"""Post ids are 19 digits, like X's snowflakes in 2026, and grow with each post."""
FIRST_MEDIA_ID = 1_950_000_000_000_000_000
MEDIA_CATEGORIES = frozenset({"tweet_image", "tweet_gif", "tweet_video", "dm_image", "subtitles"})
MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""X's limit for an image (media best practices: 5 MB)."""
MAX_ALT_TEXT = 1000
"""Characters of alt text X accepts (``alt_text.text`` maxLength 1000)."""
MAX_MEDIA_PER_POST = 4
MEDIA_LIFETIME = timedelta(hours=24)
"""An upload no post took is forgotten after this (``expires_after_secs`` 86400)."""
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def fixture(name: str) -> Any:
    """A JSON body from ``tests/fixtures/x`` (``.json`` may be left out)."""
    path = FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def fixture_response(status: int, name: str, headers: Mapping[str, str] | None = None) -> Response:
    """A recorded (or reconstructed) error answer, for ``Fault(FaultKind.REPLY, ...)``."""
    return Response(status, fixture(name), dict(headers or {}))


@dataclass(frozen=True)
class XAccount:
    """A user the fake knows, with the app and user keys that sign its requests."""

    user_id: str
    username: str
    name: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


DEFAULT_ACCOUNT = XAccount(
    user_id="1072250532645998596",
    username="ShortScienceBot",
    name="ShortScience digests",
    consumer_key="fake-consumer-key-3mVq",
    consumer_secret="fake-consumer-secret-Jx81Lr0Pq",
    access_token="1072250532645998596-fakeAccessTokenT7d",
    access_token_secret="fake-access-token-secret-Zk42Wc",
)
OTHER_ACCOUNT = XAccount(
    user_id="783214",
    username="XDevelopers",
    name="Developers",
    consumer_key="other-consumer-key-8Hn",
    consumer_secret="other-consumer-secret-Qa7",
    access_token="783214-otherAccessTokenP2",
    access_token_secret="other-access-token-secret-Mv5",
)


@dataclass(frozen=True)
class XPost:
    """A post the fake holds; ``text`` is what was sent, :func:`shown_text` what X shows."""

    id: str
    author_id: str
    text: str
    in_reply_to: str | None
    conversation_id: str
    created_at: datetime
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class XMedia:
    """An upload the fake holds: the bytes received, who uploaded them, their alt text."""

    id: str
    owner_id: str
    content: bytes = field(repr=False)
    mime_type: str
    category: str
    uploaded_at: datetime
    alt_text: str | None = None

    @property
    def media_key(self) -> str:
        """X's key of a picture: ``3_`` and its id (3 is a photo)."""
        return f"3_{self.id}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def shown_text(text: str) -> str:
    """``text`` as X returns it: each URL (bare domains too) a t.co link, ``&<>`` escaped."""
    pieces: list[str] = []
    cursor = 0
    for found in twitter_text.extract_urls_with_indices(text):
        start, end = found["indices"]
        slug = hashlib.sha256(found["url"].encode()).hexdigest()[:10]
        pieces += [text[cursor:start], f"https://t.co/{slug}"]
        cursor = end
    pieces.append(text[cursor:])
    joined = "".join(pieces)
    return joined.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _invalid_request(message: str) -> Response:
    """X's 400 problem for a malformed parameter (shape of the 400s quoted in issues)."""
    return Response(
        400,
        {
            "errors": [{"message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


def _invalid_media(media_ids: Sequence[object]) -> Response:
    """X's 400 for a post naming media it does not hold for the account (tweepy/tweepy#2016
    quotes the message; the shape is the other v2 400s')."""
    refused = _invalid_request("Your media IDs are invalid.")
    refused.body["errors"][0]["parameters"] = {"media.media_ids": [str(i) for i in media_ids]}
    return refused


def _multipart(content_type: str, body: bytes) -> dict[str, bytes] | None:
    """The fields of a multipart/form-data body, byte for byte; None if it is not one."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    boundary = next(
        (
            value.strip().strip('"')
            for name, _, value in (param.strip().partition("=") for param in params.split(";"))
            if name.lower() == "boundary"
        ),
        "",
    )
    if not boundary:
        return None
    fields: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            return None
        disposition = next(
            (
                line.decode("latin-1")
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-disposition:")
            ),
            "",
        )
        name = next(
            (
                value.strip().strip('"')
                for key, _, value in (p.strip().partition("=") for p in disposition.split(";"))
                if key == "name"
            ),
            None,
        )
        if name is None:
            return None
        fields[name] = data.removesuffix(b"\r\n")
    return fields


def _sniffed(content: bytes) -> str | None:
    """The image type the bytes are, by their signature."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


class XServer(FakeAPI):
    """The fake X API. ``accounts[0]`` is :attr:`account`; state lives behind ``lock``."""

    name = "fake X API"

    def __init__(
        self,
        accounts: Sequence[XAccount] = (DEFAULT_ACCOUNT, OTHER_ACCOUNT),
        *,
        clock: Callable[[], datetime] = utcnow,
        self_replies: bool = True,
    ) -> None:
        super().__init__()
        if not accounts:
            raise ValueError("the fake X API needs at least one account")
        self.accounts = tuple(accounts)
        self.clock = clock
        self.self_replies = self_replies
        """False plays X refusing even replies to the account's own posts."""
        self._posts: list[XPost] = []
        self._ids = itertools.count(FIRST_ID)
        self._uploads: list[XMedia] = []
        self._media_ids = itertools.count(FIRST_MEDIA_ID)
        self._depleted: set[str] = set()
        self.route("POST", TWEETS, self._create)
        self.route("POST", MEDIA_UPLOAD, self._upload)
        self.route("POST", MEDIA_METADATA, self._metadata)
        self.route("GET", "/2/users/me", self._me)
        self.route("GET", r"/2/users/(?P<user_id>\d+)/tweets", self._timeline)

    # -- what tests read and arrange ---------------------------------------------------------

    @property
    def account(self) -> XAccount:
        return self.accounts[0]

    @property
    def posts(self) -> list[XPost]:
        """Every post held, oldest first."""
        with self.lock:
            return list(self._posts)

    @property
    def uploads(self) -> list[XMedia]:
        """Every upload held (with its alt text once set), oldest first."""
        with self.lock:
            return list(self._uploads)

    def deplete_credits(self, account: XAccount | None = None) -> None:
        """The account's app runs out of credits: posts and uploads answer 402."""
        with self.lock:
            self._depleted.add((account or self.account).consumer_key)

    def add_credits(self, account: XAccount | None = None) -> None:
        with self.lock:
            self._depleted.discard((account or self.account).consumer_key)

    def add_post(
        self,
        author: XAccount,
        text: str,
        *,
        in_reply_to: str | None = None,
        created_at: datetime | None = None,
    ) -> XPost:
        """Hold a post made elsewhere (another account, an earlier day), with no checks."""
        with self.lock:
            return self._store(author, text, in_reply_to, created_at or self.clock())

    def delete_post(self, post_id: str) -> None:
        with self.lock:
            self._posts = [post for post in self._posts if post.id != post_id]

    # -- auth ------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> XAccount | None:
        """The account whose keys signed this request, if the OAuth1 signature verifies."""
        header = request.headers.get("authorization", "")
        query = urlencode(
            [(name, value) for name, values in request.query.items() for value in values]
        )
        content_type = request.headers.get("content-type", "").lower()
        form = request.body if "application/x-www-form-urlencoded" in content_type else b""
        try:
            oauth = dict(
                signature.collect_parameters(
                    headers={"Authorization": header}, exclude_oauth_signature=False
                )
            )
            params = signature.collect_parameters(
                uri_query=query,
                body=form.decode() if form else None,
                headers={"Authorization": header},
            )
        except ValueError:
            return None
        account = next(
            (
                account
                for account in self.accounts
                if account.consumer_key == oauth.get("oauth_consumer_key")
                and account.access_token == oauth.get("oauth_token")
            ),
            None,
        )
        if account is None or oauth.get("oauth_signature_method") != "HMAC-SHA1":
            return None
        uri = f"http://{request.headers.get('host', '')}{request.path}"
        base = signature.signature_base_string(
            request.method, signature.base_string_uri(uri), signature.normalize_parameters(params)
        )
        expected = signature.sign_hmac_sha1_with_client(
            base,
            OAuth1Client(
                account.consumer_key,
                client_secret=account.consumer_secret,
                resource_owner_key=account.access_token,
                resource_owner_secret=account.access_token_secret,
            ),
        )
        return account if hmac.compare_digest(expected, oauth.get("oauth_signature", "")) else None

    # -- routes ----------------------------------------------------------------------------

    def _create(self, request: Request, _match: Any) -> Response:
        account = self._authenticate(request)
        if account is None:
            return fixture_response(401, "401_unauthorized")
        if self._out_of_credits(account):
            return fixture_response(402, "402_credits_depleted__RECONSTRUCTED")
        try:
            body = request.json()
        except ValueError:
            return _invalid_request("the request body is not JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _invalid_request("$.text: is missing but it is required")
        if twitter_text.parse_tweet(text).weightedLength > MAX_WEIGHTED_LENGTH:
            return fixture_response(400, "400_text_too_long__RECONSTRUCTED")
        reply = body.get("reply")
        target_id = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        media = body.get("media")
        media_ids = media.get("media_ids") if isinstance(media, dict) else None
        if media is not None and (
            not isinstance(media_ids, list) or not 1 <= len(media_ids) <= MAX_MEDIA_PER_POST
        ):
            return _invalid_request("$.media.media_ids: must hold 1 to 4 media ids")
        with self.lock:
            if media_ids is not None and not all(
                self._usable_media(account, str(media_id)) for media_id in media_ids
            ):
                return _invalid_media(media_ids)
            if target_id is not None:
                target = next((post for post in self._posts if post.id == str(target_id)), None)
                if target is None:
                    return fixture_response(403, "403_reply_target_deleted__RECONSTRUCTED")
                if not self._may_reply(account, target):
                    return fixture_response(403, "403_reply_mentioned_or_author__RECONSTRUCTED")
            previous = next(
                (post for post in reversed(self._posts) if post.author_id == account.user_id),
                None,
            )
            if previous is not None and previous.text == text:
                return fixture_response(403, "403_duplicate_content")
            post = self._store(
                account,
                text,
                None if target_id is None else str(target_id),
                self.clock(),
                tuple(str(media_id) for media_id in media_ids or ()),
            )
        created = fixture("201_create_tweet__tweepy_cassette")
        created["data"].update(id=post.id, text=self._shown_text(post))
        return Response(201, created, {"location": f"https://api.twitter.com/2/tweets/{post.id}"})

    def _upload(self, request: Request, _match: Any) -> Response:
        account = self._authenticate(request)
        if account is None:
            return fixture_response(401, "401_unauthorized")
        if self._out_of_credits(account):
            return fixture_response(402, "402_credits_depleted__RECONSTRUCTED")
        fields = _multipart(request.headers.get("content-type", ""), request.body)
        if fields is None:
            return _invalid_request("the request body is not multipart/form-data")
        content = fields.get("media")
        if not content:
            return _invalid_request("$.media: is missing but it is required")
        category = fields.get("media_category", b"").decode()
        if category not in MEDIA_CATEGORIES:
            return _invalid_request(f"$.media_category: {category!r} is not a media category")
        kind = _sniffed(content)
        declared = fields.get("media_type", b"").decode() or kind
        if kind is None or declared != kind:
            return _invalid_request("media type unrecognized or not the type of the file")
        if len(content) > MAX_IMAGE_BYTES:
            return _invalid_request("File size exceeds 5242880 bytes.")
        with self.lock:
            media = XMedia(
                id=str(next(self._media_ids)),
                owner_id=account.user_id,
                content=content,
                mime_type=kind,
                category=category,
                uploaded_at=self.clock(),
            )
            self._uploads.append(media)
        return Response(
            200,
            {
                "data": {
                    "id": media.id,
                    "media_key": media.media_key,
                    "size": len(content),
                    "expires_after_secs": int(MEDIA_LIFETIME.total_seconds()),
                }
            },
        )

    def _metadata(self, request: Request, _match: Any) -> Response:
        account = self._authenticate(request)
        if account is None:
            return fixture_response(401, "401_unauthorized")
        try:
            body = request.json()
        except ValueError:
            return _invalid_request("the request body is not JSON")
        media_id = body.get("id") if isinstance(body, dict) else None
        metadata = body.get("metadata") if isinstance(body, dict) else None
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(media_id, str) or not isinstance(text, str):
            return _invalid_request("$.id and $.metadata.alt_text.text are required")
        if len(text) > MAX_ALT_TEXT:
            return _invalid_request("$.metadata.alt_text.text: must be at most 1000 characters")
        with self.lock:
            if not self._usable_media(account, media_id):
                return _invalid_media([media_id])
            self._uploads = [
                replace(media, alt_text=text) if media.id == media_id else media
                for media in self._uploads
            ]
        return Response(
            200, {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": text}}}}
        )

    def _me(self, request: Request, _match: Any) -> Response:
        account = self._authenticate(request)
        if account is None:
            return fixture_response(401, "401_unauthorized")
        me = fixture("200_get_me__tweepy_cassette")
        me["data"].update(id=account.user_id, name=account.name, username=account.username)
        return Response(200, me)

    def _timeline(self, request: Request, match: Any) -> Response:
        if self._authenticate(request) is None:
            return fixture_response(401, "401_unauthorized")
        try:
            max_results = int(request.param("max_results") or 10)
            start = _parse_time(request.param("start_time"))
            end = _parse_time(request.param("end_time"))
        except ValueError as error:
            return _invalid_request(str(error))
        if not 5 <= max_results <= 100:
            return _invalid_request(
                "The `max_results` query parameter value is not between 5 and 100"
            )
        fields = set((request.param("tweet.fields") or "").split(",")) - {""}
        exclude = set((request.param("exclude") or "").split(",")) - {""}
        cursor = request.param("pagination_token")
        with self.lock:
            found = [
                post
                for post in reversed(self._posts)
                if post.author_id == match["user_id"]
                and (start is None or post.created_at >= start)
                and (end is None or post.created_at <= end)
                and not ("replies" in exclude and post.in_reply_to is not None)
                and (cursor is None or int(post.id) < int(cursor.removeprefix("next_")))
            ]
        page = found[:max_results]
        if not page:
            return Response(200, {"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0].id,
            "oldest_id": page[-1].id,
        }
        if len(found) > len(page):
            meta["next_token"] = f"next_{page[-1].id}"
        return Response(200, {"data": [self._shown(post, fields) for post in page], "meta": meta})

    # -- state -----------------------------------------------------------------------------

    def _out_of_credits(self, account: XAccount) -> bool:
        with self.lock:
            return account.consumer_key in self._depleted

    def _usable_media(self, account: XAccount, media_id: str) -> bool:
        """An upload of this account that X still holds (not yet 24 hours old)."""
        now = self.clock()
        return any(
            media.id == media_id
            and media.owner_id == account.user_id
            and now - media.uploaded_at < MEDIA_LIFETIME
            for media in self._uploads
        )

    def _shown_text(self, post: XPost) -> str:
        """The text as X shows it; a post with pictures ends with one more t.co link."""
        shown = shown_text(post.text)
        if post.media_ids:
            slug = hashlib.sha256(f"media:{post.id}".encode()).hexdigest()[:10]
            shown += f" https://t.co/{slug}"
        return shown

    def _may_reply(self, account: XAccount, target: XPost) -> bool:
        """X's rule since 2026-02-23: replies only where the author is you or summoned you."""
        if target.author_id == account.user_id:
            return self.self_replies
        return f"@{account.username}".casefold() in target.text.casefold()

    def _store(
        self,
        author: XAccount,
        text: str,
        in_reply_to: str | None,
        created_at: datetime,
        media_ids: tuple[str, ...] = (),
    ) -> XPost:
        post_id = str(next(self._ids))
        parent = next((post for post in self._posts if post.id == in_reply_to), None)
        post = XPost(
            id=post_id,
            author_id=author.user_id,
            text=text,
            in_reply_to=in_reply_to,
            conversation_id=parent.conversation_id if parent is not None else post_id,
            created_at=created_at,
            media_ids=media_ids,
        )
        self._posts.append(post)
        return post

    def _shown(self, post: XPost, fields: Iterable[str]) -> dict[str, Any]:
        """One post in the timeline's shape: the recorded keys, then the fields asked for."""
        shown: dict[str, Any] = {
            "edit_history_tweet_ids": [post.id],
            "id": post.id,
            "text": self._shown_text(post),
        }
        wanted = set(fields)
        if post.media_ids and "attachments" in wanted:
            shown["attachments"] = {"media_keys": [f"3_{media_id}" for media_id in post.media_ids]}
        if "created_at" in wanted:
            shown["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "conversation_id" in wanted:
            shown["conversation_id"] = post.conversation_id
        if post.in_reply_to is not None:
            if "referenced_tweets" in wanted:
                shown["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to}]
            if "in_reply_to_user_id" in wanted:
                with self.lock:
                    parent = next((p for p in self._posts if p.id == post.in_reply_to), None)
                if parent is not None:
                    shown["in_reply_to_user_id"] = parent.author_id
        return shown
