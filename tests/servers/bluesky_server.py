"""A local Bluesky PDS that the Bluesky client's tests (and the delivery worker's) talk to.

It speaks the few XRPC methods the client uses, over HTTP on 127.0.0.1. Its answers have
the shapes of the bodies in ``tests/fixtures/bluesky``, which were reconstructed from the
lexicons and the PDS source (see ``SOURCES.md`` there)::

    with FakeBluesky() as pds:
        client = BlueskyClient(credentials, api_base=pds.url)
        client.post(post)
        assert [record.text for record in pds.posts] == [post.text]

What it does:

* ``com.atproto.server.createSession``: accepts the handle (or DID) and app password given
  to the constructor. It issues JWT-shaped access and refresh tokens; the atproto SDK reads
  their ``exp`` and refreshes early. Like bsky.social it allows ``session_limit`` logins
  per 5 minutes and answers 429 after that. The ``didDoc`` points at ``pds_url`` (this
  server by default), and the SDK sends everything after the login there.
* ``com.atproto.server.refreshSession``: takes the refresh token as bearer and rotates
  both tokens. A refresh token works once.
* ``com.atproto.repo.createRecord``: checks what a PDS checks: the bearer token, the repo,
  ``$type``, the record key syntax (a TID for posts), a text of at most 300 graphemes and
  3000 UTF-8 bytes, and ``createdAt``. It is stricter than a PDS in two ways, so that
  tests catch client mistakes:
  - each link facet must cover exactly the URL it names, on character boundaries;
  - ``reply.root`` and ``reply.parent`` must name records held here (URI and CID), and
    the root must be the parent's root.
  A record key that is already taken gets HTTP 500, as real PDSes answered
  (bluesky-social/atproto#3718).
* ``com.atproto.repo.getRecord``: the record, or 400 ``RecordNotFound``.
* ``com.atproto.repo.uploadBlob``: takes the bytes (bearer token checked), keeps them for
  the account and answers ``{"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType",
  "size"}}`` as a PDS does: the CID is a CIDv1 of the raw bytes (codec raw, sha-256), and
  the type is sniffed from the bytes, else taken from the Content-Type (the PDS's
  ``uploadBlobAndGetMetadata``). A blob no record took is "untethered" until a record
  refers to it; :meth:`FakeBluesky.forget_untethered_blobs` deletes those, as a PDS does
  after a while.
* An ``app.bsky.embed.images`` embed on createRecord is checked as the PDS checks it: at
  most 4 images, each with ``alt`` and a blob reference (lexicon, 400 ``InvalidRequest``),
  the blob uploaded by this account (400 ``BlobNotFound``), of the stored type and size
  (``InvalidMimeType``, ``InvalidSize``), an image of at most 2,000,000 bytes
  (``BlobTooLarge``). Stricter than a PDS: ``aspectRatio`` is required (the app lays the
  image out by it), and for a PNG it must be the picture's own width:height.

Every answer carries ``RateLimit-*`` headers. Tests script faults with
:meth:`FakeAPI.fail` and read what the server holds from :attr:`posts`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import libipld
import regex

from storage.types import utcnow
from tests.servers.http_fake import FakeAPI, Handler, Request, Response

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"

CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
CREATE_RECORD = "/xrpc/com.atproto.repo.createRecord"
GET_RECORD = "/xrpc/com.atproto.repo.getRecord"
UPLOAD_BLOB = "/xrpc/com.atproto.repo.uploadBlob"

DEFAULT_HANDLE = "shortscience.bsky.social"
DEFAULT_DID = "did:plc:s7kq3vmzwh2xbn4ucdrlyf6o"
DEFAULT_APP_PASSWORD = "abcd-efgh-ijkl-mnop"

POST = "app.bsky.feed.post"
LINK = "app.bsky.richtext.facet#link"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
IMAGES = "app.bsky.embed.images"
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000
"""lexicons/app/bsky/embed/images.json ``maxSize`` ("May be up to 2 MB, formerly 1 MB")."""
WINDOW = timedelta(minutes=5)
ACCESS_SCOPE = "com.atproto.appPass"
REFRESH_SCOPE = "com.atproto.refresh"

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_GRAPHEME = regex.compile(r"\X")


@cache
def fixture(name: str) -> Any:
    """A body from tests/fixtures/bluesky, parsed; callers copy before changing it."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def xrpc_error(name: str, message: str | None = None, *, status: int | None = None) -> Response:
    """An XRPC error answer as the PDS gives it, from ``errors.json``."""
    known = fixture("errors.json").get(name, {"status": 400, "body": {"error": name}})
    body = dict(known["body"])
    if message is not None:
        body["message"] = message
    return Response(status or known["status"], body)


def too_many_requests(
    reset_at: datetime, *, limit: int = 30, window: timedelta = WINDOW
) -> Response:
    """A 429 with the headers a PDS sends, for scripting with ``fail(..., REPLY)``."""
    template = fixture("rate_limited.json")
    headers = {
        **template["headers"],
        "ratelimit-limit": str(limit),
        "ratelimit-reset": str(int(reset_at.timestamp())),
        "ratelimit-policy": f"{limit};w={int(window.total_seconds())}",
    }
    return Response(template["status"], dict(template["body"]), headers)


def tid(micros: int, clock_id: int) -> str:
    """The fake's own TID encoder, kept apart from the client's so it can check it."""
    value = (micros << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def raw_cid(content: bytes) -> str:
    """The CID a PDS gives a blob: CIDv1, codec raw (0x55), sha-256, in base32."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(content).digest()
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def sniff_mime(content: bytes) -> str | None:
    """The picture types the PDS's file-type sniffing finds by their first bytes."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def png_size(content: bytes) -> tuple[int, int] | None:
    """A PNG's width and height, from its IHDR chunk."""
    if sniff_mime(content) != "image/png" or content[12:16] != b"IHDR":
        return None
    return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")


def cid_of(value: Any) -> str:
    """A CIDv1 (dag-cbor, sha-256) in base32, computed the way a PDS does."""
    digest = hashlib.sha256(libipld.encode_dag_cbor(value)).digest()
    raw = bytes([0x01, 0x71, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


@dataclass(frozen=True)
class HeldRecord:
    """A record the server holds, as createRecord stored it."""

    uri: str
    cid: str
    collection: str
    rkey: str
    value: Mapping[str, Any]

    @property
    def text(self) -> str:
        return str(self.value.get("text", ""))

    @property
    def facets(self) -> list[Any]:
        return list(self.value.get("facets", []))

    @property
    def reply_root(self) -> str | None:
        """The URI of the thread's first post, when this post is a reply."""
        reply = self.value.get("reply")
        return reply["root"]["uri"] if reply else None

    @property
    def reply_parent(self) -> str | None:
        """The URI of the post this one answers, when it is a reply."""
        reply = self.value.get("reply")
        return reply["parent"]["uri"] if reply else None

    @property
    def images(self) -> list[dict[str, Any]]:
        """The images of its ``app.bsky.embed.images`` embed, as sent; [] without one."""
        embed = self.value.get("embed")
        return list(embed["images"]) if embed and embed.get("$type") == IMAGES else []


@dataclass(frozen=True)
class HeldBlob:
    """A blob uploaded to the account, as uploadBlob stored it."""

    cid: str
    content: bytes
    mime_type: str
    did: str

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class _Token:
    did: str
    scope: str
    expires_at: datetime
    expired: bool = False
    revoked: bool = False


class _Window:
    """A sliding rate-limit window, as the PDS keeps per route and per handle."""

    def __init__(self, limit: int, span: timedelta = WINDOW) -> None:
        self.limit = limit
        self.span = span
        self._hits: list[datetime] = []

    def take(self, now: datetime) -> tuple[bool, dict[str, str]]:
        """Count one request; whether it is allowed, and the headers to answer with."""
        self._hits = [hit for hit in self._hits if hit > now - self.span]
        allowed = len(self._hits) < self.limit
        if allowed:
            self._hits.append(now)
        reset = (self._hits[0] if self._hits else now) + self.span
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(self.limit - len(self._hits), 0)),
            "ratelimit-reset": str(int(reset.timestamp())),
            "ratelimit-policy": f"{self.limit};w={int(self.span.total_seconds())}",
        }
        return allowed, headers


class FakeBluesky(FakeAPI):
    """One account on a PDS: its sessions and its post records, in the order made."""

    name = "fake Bluesky PDS"

    def __init__(
        self,
        *,
        handle: str = DEFAULT_HANDLE,
        app_password: str = DEFAULT_APP_PASSWORD,
        did: str = DEFAULT_DID,
        pds_url: str | None = None,
        access_lifetime: timedelta = timedelta(hours=2),
        refresh_lifetime: timedelta = timedelta(days=90),
        session_limit: int = 30,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``pds_url`` is where the session's DID document sends the client after login."""
        super().__init__()
        self.handle = handle
        self.did = did
        self.app_password = app_password
        self.pds_url = pds_url
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.clock = clock
        self.taken_down = False
        self._records: list[HeldRecord] = []
        self._blobs: dict[str, HeldBlob] = {}
        self._tethered: set[str] = set()
        self._tokens: dict[str, _Token] = {}
        self._revs = 0
        self._session_window = _Window(session_limit)
        self._global_window = _Window(3000)
        self.route("POST", re.escape(CREATE_SESSION), self._limited(self._create_session, True))
        self.route("POST", re.escape(REFRESH_SESSION), self._limited(self._refresh_session))
        self.route("POST", re.escape(CREATE_RECORD), self._limited(self._create_record))
        self.route("GET", re.escape(GET_RECORD), self._limited(self._get_record))
        self.route("POST", re.escape(UPLOAD_BLOB), self._limited(self._upload_blob))

    # -- what tests read and change ---------------------------------------------------

    @property
    def records(self) -> list[HeldRecord]:
        """Every record held, oldest first."""
        with self.lock:
            return list(self._records)

    @property
    def posts(self) -> list[HeldRecord]:
        """The ``app.bsky.feed.post`` records held, oldest first."""
        return [record for record in self.records if record.collection == POST]

    def record(self, rkey: str) -> HeldRecord | None:
        with self.lock:
            return next((held for held in self._records if held.rkey == rkey), None)

    @property
    def blobs(self) -> list[HeldBlob]:
        """The blobs held, in the order first uploaded (the same bytes are held once)."""
        with self.lock:
            return list(self._blobs.values())

    def forget_untethered_blobs(self) -> None:
        """Delete the blobs no record refers to, as a PDS does some time after the upload."""
        with self.lock:
            self._blobs = {cid: b for cid, b in self._blobs.items() if cid in self._tethered}

    @property
    def access_tokens(self) -> list[str]:
        """Access tokens issued so far, oldest first (to check which one a request used)."""
        return self._issued(ACCESS_SCOPE)

    @property
    def refresh_tokens(self) -> list[str]:
        """Refresh tokens issued so far, oldest first."""
        return self._issued(REFRESH_SCOPE)

    def _issued(self, scope: str) -> list[str]:
        with self.lock:
            return [token for token, info in self._tokens.items() if info.scope == scope]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now answered with ExpiredToken.

        Their ``exp`` claim is unchanged, so the SDK still believes them fresh: this is the
        server-side expiry (or clock skew) a client can only learn from the answer.
        """
        with self.lock:
            for token in self._tokens.values():
                if token.scope == ACCESS_SCOPE:
                    token.expired = True

    def expire_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused too: only a new login helps."""
        with self.lock:
            for token in self._tokens.values():
                if token.scope == REFRESH_SCOPE:
                    token.expired = True

    def take_down(self) -> None:
        """The account is taken down: logins and tokens get AccountTakedown."""
        with self.lock:
            self.taken_down = True

    # -- plumbing ---------------------------------------------------------------------

    def _limited(self, handler: Handler, per_handle: bool = False) -> Handler:
        """Answer with rate-limit headers, and 429 once the window is used up."""

        def limited(request: Request, match: re.Match[str]) -> Response:
            with self.lock:
                window = self._session_window if per_handle else self._global_window
                allowed, headers = window.take(self.clock())
                response = handler(request, match) if allowed else xrpc_error("RateLimitExceeded")
                return replace(response, headers={**response.headers, **headers})

        return limited

    def _issue(self, scope: str, lifetime: timedelta) -> str:
        now = self.clock()
        header = {"typ": "at+jwt" if scope == ACCESS_SCOPE else "refresh+jwt", "alg": "HS256"}
        claims: dict[str, Any] = {
            "scope": scope,
            "sub": self.did,
            "aud": f"did:web:{urlsplit(self.pds_url or self.url).hostname}",
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
        }
        if scope == REFRESH_SCOPE:
            claims["jti"] = secrets.token_urlsafe(24)
        parts = (json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(32))
        token = ".".join(_b64(part) for part in parts)
        self._tokens[token] = _Token(self.did, scope, now + lifetime)
        return token

    def _authorize(self, request: Request, scope: str) -> _Token | Response:
        """The bearer token's grant, or the error answer a PDS gives for it."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return xrpc_error("AuthMissing")
        token = self._tokens.get(header.removeprefix("Bearer "))
        if token is None:
            return xrpc_error("InvalidToken")
        if token.scope != scope:
            return xrpc_error("InvalidToken", "Bad token scope")
        if self.taken_down:
            return xrpc_error("AccountTakedown")
        if token.revoked:
            return xrpc_error("ExpiredToken", "Token has been revoked")
        if token.expired or self.clock() >= token.expires_at:
            return xrpc_error("ExpiredToken")
        return token

    def _session_body(self, template: str) -> dict[str, Any]:
        body = dict(fixture(template))
        body.update(
            did=self.did,
            handle=self.handle,
            accessJwt=self._issue(ACCESS_SCOPE, self.access_lifetime),
            refreshJwt=self._issue(REFRESH_SCOPE, self.refresh_lifetime),
        )
        if "didDoc" in body:
            doc = json.loads(json.dumps(body["didDoc"]))
            doc["id"] = self.did
            doc["alsoKnownAs"] = [f"at://{self.handle}"]
            for method in doc["verificationMethod"]:
                method["id"] = f"{self.did}#atproto"
                method["controller"] = self.did
            doc["service"][0]["serviceEndpoint"] = self.pds_url or self.url
            body["didDoc"] = doc
        return body

    def _owns(self, repo: object) -> bool:
        return repo in (self.did, self.handle)

    # -- the XRPC methods ---------------------------------------------------------------

    def _create_session(self, request: Request, _match: re.Match[str]) -> Response:
        body = _json_object(request)
        if body is None:
            return xrpc_error("InvalidRequest", "Input must be a JSON object")
        identifier = str(body.get("identifier", "")).lower()
        if not self._owns(identifier) or body.get("password") != self.app_password:
            return xrpc_error("AuthenticationRequired")
        if self.taken_down:
            return xrpc_error("AccountTakedown")
        return Response(200, self._session_body("create_session.json"))

    def _refresh_session(self, request: Request, _match: re.Match[str]) -> Response:
        grant = self._authorize(request, REFRESH_SCOPE)
        if isinstance(grant, Response):
            return grant
        grant.revoked = True
        return Response(200, self._session_body("refresh_session.json"))

    def _create_record(self, request: Request, _match: re.Match[str]) -> Response:
        grant = self._authorize(request, ACCESS_SCOPE)
        if isinstance(grant, Response):
            return grant
        body = _json_object(request)
        if body is None:
            return xrpc_error("InvalidRequest", "Input must be a JSON object")
        if not self._owns(body.get("repo")):
            return xrpc_error("AuthenticationRequired", "Authentication Required")
        collection = body.get("collection")
        record = body.get("record")
        if collection != POST:
            return xrpc_error("InvalidRequest", f"this fake PDS only holds {POST} records")
        if not isinstance(record, dict) or record.get("$type") != collection:
            return xrpc_error("InvalidRequest", f"Invalid $type: expected {collection}")
        rkey = body.get("rkey") or self._next_tid()
        if not isinstance(rkey, str) or not _TID.fullmatch(rkey):
            return xrpc_error("InvalidRequest", f"Invalid record key for {POST}: must be a TID")
        problem = self._post_problem(record)
        if problem is not None:
            return xrpc_error("InvalidRequest", f"Invalid {POST} record: {problem}")
        refused = self._blob_refusal(record, grant.did)
        if refused is not None:
            return refused
        if self.record(rkey) is not None:
            return xrpc_error("InternalServerError")
        self._tethered.update(image["image"]["ref"]["$link"] for image in _images(record))
        held = HeldRecord(
            uri=f"at://{self.did}/{collection}/{rkey}",
            cid=cid_of(record),
            collection=collection,
            rkey=rkey,
            value=record,
        )
        self._records.append(held)
        answer = dict(fixture("create_record.json"))
        rev = self._next_tid()
        answer.update(uri=held.uri, cid=held.cid, commit={"cid": cid_of({"rev": rev}), "rev": rev})
        return Response(200, answer)

    def _upload_blob(self, request: Request, _match: re.Match[str]) -> Response:
        grant = self._authorize(request, ACCESS_SCOPE)
        if isinstance(grant, Response):
            return grant
        encoding = request.headers.get("content-type", "").split(";")[0].strip()
        if not encoding:
            # xrpc-server, for a procedure whose input is "*/*" and a body without a type
            return xrpc_error(
                "InvalidRequest", "Request encoding (Content-Type) required but not provided"
            )
        fallback = encoding if encoding != "*/*" else "application/octet-stream"
        blob = HeldBlob(
            cid=raw_cid(request.body),
            content=request.body,
            mime_type=sniff_mime(request.body) or fallback,
            did=grant.did,
        )
        self._blobs.setdefault(blob.cid, blob)
        ref = {"$type": "blob", "ref": {"$link": blob.cid}, "mimeType": blob.mime_type}
        return Response(200, {"blob": {**ref, "size": blob.size}})

    def _get_record(self, request: Request, _match: re.Match[str]) -> Response:
        repo, collection, rkey = (request.param(name) for name in ("repo", "collection", "rkey"))
        if not repo or not collection or not rkey:
            return xrpc_error("InvalidRequest", "repo, collection and rkey are required")
        if not self._owns(repo):
            return xrpc_error("InvalidRequest", f"Could not find repo: {repo}")
        held = self.record(rkey)
        if held is None or held.collection != collection:
            uri = f"at://{self.did}/{collection}/{rkey}"
            return xrpc_error("RecordNotFound", f"Could not locate record: {uri}")
        answer = dict(fixture("get_record.json"))
        answer.update(uri=held.uri, cid=held.cid, value=held.value)
        return Response(200, answer)

    # -- record checks ------------------------------------------------------------------

    def _next_tid(self) -> str:
        self._revs += 1
        micros = int(self.clock().timestamp() * 1_000_000)
        return tid(micros, self._revs % 1024)

    def _post_problem(self, record: Mapping[str, Any]) -> str | None:
        """Why a PDS (or, for facets and replies, a careful AppView) would refuse the post."""
        text = record.get("text")
        if not isinstance(text, str):
            return "Record/text must be a string"
        encoded = text.encode("utf-8")
        if len(encoded) > MAX_BYTES:
            return f"Record/text must not be longer than {MAX_BYTES} characters"
        if len(_GRAPHEME.findall(text)) > MAX_GRAPHEMES:
            return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        if not _is_datetime(record.get("createdAt")):
            return "Record/createdAt must be a valid datetime"
        for number, facet in enumerate(record.get("facets") or []):
            problem = _facet_problem(facet, encoded)
            if problem is not None:
                return f"Record/facets/{number}: {problem}"
        if "reply" in record:
            problem = self._reply_problem(record["reply"])
            if problem is not None:
                return problem
        if "embed" in record:
            return _embed_problem(record["embed"])
        return None

    def _blob_refusal(self, record: Mapping[str, Any], did: str) -> Response | None:
        """What the PDS answers when a record refers to a blob it cannot take
        (``verifyBlobAndMakePermanent`` and the image constraints of the lexicon)."""
        for number, image in enumerate(_images(record)):
            ref = image["image"]
            cid = ref["ref"]["$link"]
            held = self._blobs.get(cid)
            if held is None or held.did != did:
                return xrpc_error("BlobNotFound", f"Could not find blob: {cid}", status=400)
            if ref["mimeType"] != held.mime_type:
                return xrpc_error(
                    "InvalidMimeType",
                    "Referenced Mimetype does not match stored blob. "
                    f"Expected: {held.mime_type}, Got: {ref['mimeType']}",
                    status=400,
                )
            if ref["size"] != held.size:
                return xrpc_error(
                    "InvalidSize",
                    "Referenced Size does not match stored blob. "
                    f"Expected: {held.size}, Got: {ref['size']}",
                    status=400,
                )
            if not held.mime_type.startswith("image/"):
                return xrpc_error(
                    "InvalidMimeType",
                    f"Wrong type of file. It is {held.mime_type} but it must match image/*.",
                    status=400,
                )
            if held.size > MAX_IMAGE_BYTES:
                return xrpc_error(
                    "BlobTooLarge",
                    f"This file is too large. It is {held.size} bytes but the maximum size "
                    f"is {MAX_IMAGE_BYTES} bytes.",
                    status=400,
                )
            size = png_size(held.content)
            ratio = image["aspectRatio"]
            if size is not None and ratio["width"] * size[1] != ratio["height"] * size[0]:
                return xrpc_error(
                    "InvalidRequest",
                    f"Invalid {POST} record: Record/embed/images/{number}/aspectRatio is "
                    f"{ratio['width']}:{ratio['height']}, the picture is {size[0]}x{size[1]} "
                    "(a check of this fake, stricter than a PDS)",
                )
        return None

    def _reply_problem(self, reply: Any) -> str | None:
        refs = {}
        for name in ("root", "parent"):
            ref = reply.get(name) if isinstance(reply, dict) else None
            if not isinstance(ref, dict):
                return f"Record/reply/{name} must be a strong ref"
            held = next((record for record in self._records if record.uri == ref.get("uri")), None)
            if held is None or held.cid != ref.get("cid"):
                return f"Record/reply/{name} does not name a record held here"
            refs[name] = held
        parent_root = refs["parent"].reply_root or refs["parent"].uri
        if refs["root"].uri != parent_root:
            return "Record/reply/root is not the root of the parent's thread"
        return None


def _images(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The images of a record's images embed, once :func:`_embed_problem` passed it."""
    embed = record.get("embed")
    return list(embed["images"]) if isinstance(embed, dict) and embed.get("$type") == IMAGES else []


def _embed_problem(embed: Any) -> str | None:
    """Why the lexicon refuses an ``app.bsky.embed.images`` embed (its messages' form)."""
    if not isinstance(embed, dict) or embed.get("$type") != IMAGES:
        return f"Record/embed: this fake PDS takes {IMAGES} embeds only"
    images = embed.get("images")
    if not isinstance(images, list):
        return 'Record/embed must have the property "images"'
    if len(images) > MAX_IMAGES:
        return f"Record/embed/images must not have more than {MAX_IMAGES} elements"
    for number, image in enumerate(images):
        path = f"Record/embed/images/{number}"
        if not isinstance(image, dict):
            return f"{path} must be an object"
        for name in ("image", "alt"):
            if name not in image:
                return f'{path} must have the property "{name}"'
        if not isinstance(image["alt"], str):
            return f"{path}/alt must be a string"
        if not _is_blob_ref(image["image"]):
            return f"{path}/image should be a blob ref"
        if "aspectRatio" not in image:
            return f'{path} must have the property "aspectRatio" (stricter than a PDS)'
        ratio = image["aspectRatio"]
        if not isinstance(ratio, dict):
            return f"{path}/aspectRatio must be an object"
        for name in ("width", "height"):
            value = ratio.get(name)
            if value is None:
                return f'{path}/aspectRatio must have the property "{name}"'
            if not isinstance(value, int) or isinstance(value, bool):
                return f"{path}/aspectRatio/{name} must be an integer"
            if value < 1:
                return f"{path}/aspectRatio/{name} can not be less than 1"
    return None


def _is_blob_ref(value: Any) -> bool:
    if not isinstance(value, dict) or value.get("$type") != "blob":
        return False
    ref = value.get("ref")
    return (
        isinstance(ref, dict)
        and isinstance(ref.get("$link"), str)
        and isinstance(value.get("mimeType"), str)
        and isinstance(value.get("size"), int)
    )


def _facet_problem(facet: Any, text: bytes) -> str | None:
    index = facet.get("index") if isinstance(facet, dict) else None
    features = facet.get("features") if isinstance(facet, dict) else None
    if not isinstance(index, dict) or not isinstance(features, list) or not features:
        return "a facet needs an index and features"
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
        return f"byte range {start}..{end} is outside the text ({len(text)} bytes)"
    try:
        covered = text[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return f"byte range {start}..{end} cuts a character"
    for feature in features:
        if not isinstance(feature, dict) or "$type" not in feature:
            return "a feature needs a $type"
        if feature["$type"] == LINK and feature.get("uri") != covered:
            return f"link {feature.get('uri')!r} is not the text it covers ({covered!r})"
    return None


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
