"""A local stand-in for a Matrix homeserver's client-server API, on 127.0.0.1.

It serves what the publisher (through matrix-nio) uses and holds the room's events::

    with FakeMatrix() as server:
        client = MatrixClient(ACCESS_TOKEN, homeserver=server.url, room_id=ROOM_ID)
        client.post(...)
        server.events[0].body, server.events[0].formatted_body, server.events[0].txn_id

What it answers (no recordings exist; bodies follow the spec, see
``tests/fixtures/matrix/SOURCES.md``):

* ``PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}``, checked in a
  homeserver's order: the access token (``Authorization: Bearer``, or the deprecated
  ``access_token`` query parameter; 401 ``M_MISSING_TOKEN`` / ``M_UNKNOWN_TOKEN``), then
  the transaction id: a retransmission by the same device to the same path gets the
  original answer and no new event (spec, "Transaction identifiers"); then the room (404
  ``M_NOT_FOUND``), the membership and power level (403 ``M_FORBIDDEN``), an
  ``m.room.message`` without ``msgtype`` or textual ``body`` (400 ``M_BAD_JSON``), and
  the size: the whole event, as canonical JSON with an envelope of realistic size, at
  most 65,536 bytes (413 ``M_TOO_LARGE``). Only a 200 is remembered for the
  transaction id, so a retry after a refusal is judged afresh.
* ``GET /_matrix/client/v3/account/whoami`` and ``GET /_matrix/client/versions``.

Rate limits and server errors are scripted with :meth:`FakeMatrix.rate_limit` and
:meth:`FakeMatrix.server_error` (the fake's own faults, ``FakeAPI.fail``), answered before
the request is handled, as a homeserver's rate limiter does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from storage.types import utcnow
from tests.servers.http_fake import FakeAPI, Fault, FaultKind, Request, Response

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "matrix"
SERVER_NAME = "example.org"
ACCESS_TOKEN = "syt_c2hvcnRzY2llbmNl_matrixTestToken_3kQ9vB"
USER_ID = "@shortscience:example.org"
DEVICE_ID = "SHORTSCIENCEBOT"
ROOM_ID = "!digests:example.org"
MAX_EVENT_BYTES = 65_536
"""The spec's limit on a whole event as canonical JSON ("Size limits")."""
SEND_PATH = r"/_matrix/client/v3/rooms/[^/]+/send/[^/]+/[^/]+"
"""The send endpoint as a pattern, for scripted faults."""


def load_fixture(name: str) -> Any:
    """A body written from the spec, from tests/fixtures/matrix, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def canonical(value: Any) -> bytes:
    """Matrix's canonical JSON: sorted keys, no spaces, UTF-8, no needless escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class MatrixEvent:
    """An event the fake room holds, with what it was sent under."""

    event_id: str
    room_id: str
    sender: str
    type: str
    content: dict[str, Any]
    txn_id: str
    device_id: str
    origin_server_ts: int

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def formatted_body(self) -> str | None:
        value = self.content.get("formatted_body")
        return value if isinstance(value, str) else None


@dataclass
class _Session:
    user_id: str
    device_id: str


@dataclass
class _Room:
    room_id: str
    members: set[str] = field(default_factory=set)
    send_level: int = 0
    """The power level ``m.room.message`` needs; every member here has 0."""


class FakeMatrix(FakeAPI):
    """One homeserver with one bot account (:data:`ACCESS_TOKEN`) joined to :data:`ROOM_ID`."""

    name = "fake Matrix homeserver"

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        self.clock = clock
        self.events: list[MatrixEvent] = []
        self.sessions: dict[str, _Session] = {ACCESS_TOKEN: _Session(USER_ID, DEVICE_ID)}
        self.rooms: dict[str, _Room] = {ROOM_ID: _Room(ROOM_ID, {USER_ID})}
        self._transactions: dict[tuple[str, str], Response] = {}
        self.route("GET", r"/_matrix/client/versions", self._versions)
        self.route("GET", r"/_matrix/client/v3/account/whoami", self._whoami)
        self.route(
            "PUT",
            r"/_matrix/client/v3/rooms/(?P<room>[^/]+)/send/(?P<type>[^/]+)/(?P<txn>[^/]+)",
            self._send,
        )

    # -- scripting -------------------------------------------------------------------------

    def revoke(self, token: str = ACCESS_TOKEN) -> None:
        """The token is logged out: from now on it gets 401 ``M_UNKNOWN_TOKEN``."""
        with self.lock:
            self.sessions.pop(token, None)

    def leave(self, user_id: str = USER_ID, room_id: str = ROOM_ID) -> None:
        """The account is no longer in the room (kicked, or it left): 403 on a send."""
        with self.lock:
            self.rooms[room_id].members.discard(user_id)

    def require_power(self, level: int, room_id: str = ROOM_ID) -> None:
        """Messages in the room need ``level``, which the bot (at 0) lacks: 403."""
        with self.lock:
            self.rooms[room_id].send_level = level

    def rate_limit(self, milliseconds: int, *, header: bool = True, skip: int = 0) -> None:
        """The send after ``skip`` more is refused with 429 ``M_LIMIT_EXCEEDED`` and
        ``retry_after_ms``; with ``header``, also ``Retry-After`` in whole seconds, rounded
        up, as spec v1.10 asks homeservers to send."""
        body = {**load_fixture("429_limit_exceeded__RECONSTRUCTED.json")}
        body["retry_after_ms"] = milliseconds
        headers = {"Retry-After": str(-(-milliseconds // 1000))} if header else {}
        self.fail("PUT", SEND_PATH, Fault(FaultKind.REPLY, Response(429, body, headers)), skip=skip)

    def server_error(self, *, skip: int = 0, status: int = 500) -> None:
        """The send after ``skip`` more fails with a 5xx and makes no event."""
        body: Any = load_fixture("500_internal__RECONSTRUCTED.json")
        if status != 500:
            body = f"<html><body><h1>{status}</h1></body></html>"  # a proxy's page
        self.fail("PUT", SEND_PATH, Fault(FaultKind.REPLY, Response(status, body)), skip=skip)

    def fault_on_send(self, kind: FaultKind, *, seconds: float = 5.0, skip: int = 0) -> None:
        """A scripted fault (a drop, a hang) on the send after ``skip`` more."""
        self.fail("PUT", SEND_PATH, Fault(kind, seconds=seconds), skip=skip)

    def sends(self) -> list[Request]:
        """Every send request received, answered or not."""
        return self.received("PUT", SEND_PATH)

    # -- the API -------------------------------------------------------------------------

    def _session(self, request: Request) -> _Session | Response:
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        token = token or request.param("access_token")
        if not token:
            return Response(401, load_fixture("401_missing_token__RECONSTRUCTED.json"))
        with self.lock:
            session = self.sessions.get(token)
        if session is None:
            return Response(401, load_fixture("401_unknown_token__RECONSTRUCTED.json"))
        return session

    def _versions(self, request: Request, match: Any) -> Response:
        return Response(200, load_fixture("versions_200__RECONSTRUCTED.json"))

    def _whoami(self, request: Request, match: Any) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        return Response(
            200, {"user_id": session.user_id, "device_id": session.device_id, "is_guest": False}
        )

    def _send(self, request: Request, match: Any) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        key = (session.device_id, request.path)
        with self.lock:
            seen = self._transactions.get(key)
            if seen is not None:
                return seen
            answer = self._new_event(request, session, match)
            if answer.status == 200:
                self._transactions[key] = answer
            return answer

    def _new_event(self, request: Request, session: _Session, match: Any) -> Response:
        room_id, event_type, txn_id = (unquote(match[name]) for name in ("room", "type", "txn"))
        room = self.rooms.get(room_id)
        if room is None:
            return Response(404, load_fixture("404_unknown_room__RECONSTRUCTED.json"))
        if session.user_id not in room.members:
            body = load_fixture("403_not_in_room__RECONSTRUCTED.json")
            body["error"] = f"User {session.user_id} not in room {room_id}"
            return Response(403, body)
        if room.send_level > 0:
            return Response(403, load_fixture("403_power_level__RECONSTRUCTED.json"))
        try:
            content = request.json()
        except ValueError:
            return Response(400, {"errcode": "M_NOT_JSON", "error": "Content not JSON."})
        if not isinstance(content, dict):
            return Response(400, {"errcode": "M_BAD_JSON", "error": "Content must be an object"})
        if event_type == "m.room.message" and not (
            isinstance(content.get("msgtype"), str) and isinstance(content.get("body"), str)
        ):
            return Response(400, {"errcode": "M_BAD_JSON", "error": "msgtype and body needed"})
        event = MatrixEvent(
            event_id="$" + secrets.token_urlsafe(32)[:43],
            room_id=room_id,
            sender=session.user_id,
            type=event_type,
            content=content,
            txn_id=txn_id,
            device_id=session.device_id,
            origin_server_ts=int(self.clock().timestamp() * 1000),
        )
        if len(canonical(_federation_form(event))) > MAX_EVENT_BYTES:
            return Response(413, load_fixture("413_too_large__RECONSTRUCTED.json"))
        self.events.append(event)
        return Response(200, {"event_id": event.event_id})


def _federation_form(event: MatrixEvent) -> dict[str, Any]:
    """The event as servers exchange it (room version 11), with hashes, signatures and
    references of their real sizes, to measure what the spec's size limit measures."""
    reference = "$" + "A" * 43
    return {
        "auth_events": [reference] * 3,
        "content": event.content,
        "depth": 1000,
        "hashes": {"sha256": "B" * 43},
        "origin_server_ts": event.origin_server_ts,
        "prev_events": [reference],
        "room_id": event.room_id,
        "sender": event.sender,
        "signatures": {SERVER_NAME: {"ed25519:a_AbCd": "C" * 86}},
        "type": event.type,
    }
