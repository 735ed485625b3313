"""Posts to one Matrix room with matrix-nio, as an account that has joined it.

matrix-nio is asyncio (aiohttp); the project's clients are synchronous and run in the
worker's threads. So each client keeps a private event loop, made with
``asyncio.new_event_loop`` and driven with ``run_until_complete`` under a lock, and
never touches a loop of its caller (called from a coroutine, it runs its loop in a
helper thread and blocks the caller for at most the timeout). Each send has an HTTP
session of its own, closed after it (:func:`_session`), so nothing stays open between
posts; :meth:`MatrixClient.close` closes the loop, and the next post makes a new one.

The access token is given to nio as it is, without a password login (which would make a
new device every start): ``room_send`` needs no user or device id, and nio keeps the
token in the ``Authorization`` header, never in the URL. nio retries on its own after a
429 (sleeping ``retry_after_ms``) and after a dropped connection or timeout (with
backoff) unless told not to; here ``max_limit_exceeded`` and ``max_timeouts`` are 0 and
``request_timeout`` is the worker's timeout, so every answer comes back at once and the
worker decides when to try again.

Each part is sent as ``PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}``
with the part's key as the transaction id. The spec has the homeserver answer a
retransmission (same device, same endpoint, same transaction id) with the original
answer, the original ``event_id``, and no second event ("Transaction identifiers"). So a
lost answer is recovered by sending again: :meth:`MatrixClient.find` does exactly that.
Homeservers keep transaction ids for a limited time (Synapse: some hours), far longer
than the worker takes to retry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from nio import AsyncClient, AsyncClientConfig, RoomSendError, RoomSendResponse

from publishers.networks.base import (
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import redact, retry_after
from publishers.render.matrix_html import message_content, rich_html
from publishers.settings import ChannelSettings
from storage.types import utcnow

log = logging.getLogger(__name__)

EVENT_TYPE = "m.room.message"
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=30)
"""A 429 that says neither ``Retry-After`` nor ``retry_after_ms`` (both are optional)."""
LOOP_GRACE = 1.0
"""Seconds past ``timeout`` after which a request is abandoned whatever nio does."""
MAX_ERROR_TEXT = 300
MATRIX_TO = "https://matrix.to/#/{room}/{event}"
_ID_SAFE = "!$:@"
TOKEN_REFUSED = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}

T = TypeVar("T")


class MatrixClient(Network):
    """One account's client for one room. Synchronous; thread-safe (one request at a time)."""

    kind = "matrix"
    uploads_media = False  # no pictures: formulas travel as LaTeX in the HTML

    def __init__(
        self,
        access_token: str,
        *,
        homeserver: str,
        room_id: str,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not access_token:
            raise ValueError("a Matrix access token is needed (MATRIX_ACCESS_TOKEN)")
        self.homeserver = homeserver.rstrip("/")
        self.room_id = room_id
        self.timeout = timeout
        self._token = access_token
        self._clock = clock
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nio: AsyncClient | None = None

    @classmethod
    def from_settings(
        cls, channel: ChannelSettings, *, timeout: float, clock: Callable[[], datetime]
    ) -> MatrixClient:
        """The client of a ``kind = "matrix"`` channel: its room on its homeserver."""
        return cls(
            channel.credentials["access_token"],
            homeserver=channel.api_base or "",
            room_id=channel.matrix_room or "",
            timeout=timeout,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"MatrixClient(homeserver={self.homeserver!r}, room_id={self.room_id!r})"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Send the part under its key as transaction id, so any resend is the same event."""
        return self._send(post)

    def find(self, post: OutgoingPost) -> Posted | None:
        """Send the part again under the same transaction id: the homeserver answers a
        retransmission with the event the first attempt made, and makes none if it made
        none before, so this never doubles a message."""
        return self._send(post)

    def close(self) -> None:
        """Close nio's HTTP session, if one is open, and the private loop; the next post
        makes new ones."""
        with self._lock:
            loop, client = self._loop, self._nio
            self._loop, self._nio = None, None
            if loop is None or loop.is_closed():
                return
            try:
                if client is not None:
                    loop.run_until_complete(client.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    # -- sending -------------------------------------------------------------------------

    def _send(self, post: OutgoingPost) -> Posted:
        content = message_content(post.text, rich_html(post.rich))
        with self._lock:
            try:
                answer = self._run(self._room_send(content, post.key))
            except aiohttp.ClientConnectorError as error:
                # No connection was made, so no request was written.
                raise Transient(
                    f"could not reach the Matrix homeserver {self.homeserver}: "
                    f"{self._safe(str(error))}; nothing was sent"
                ) from None
            except (aiohttp.ClientError, TimeoutError) as error:
                raise UnknownOutcome(
                    f"the Matrix homeserver {self.homeserver} did not answer "
                    f"({type(error).__name__}); the message may have been posted, and "
                    "sending it again under the same transaction id finds it"
                ) from None
        if isinstance(answer, RoomSendResponse):
            return self._posted(answer.event_id)
        raise self._error(answer)

    async def _room_send(
        self, content: dict[str, Any], key: str
    ) -> RoomSendResponse | RoomSendError:
        client = self._client()
        client.client_session = _session(self.timeout)
        try:
            return await client.room_send(self.room_id, EVENT_TYPE, content, tx_id=key)
        finally:
            await client.close()

    def _client(self) -> AsyncClient:
        """nio's client, made inside the private loop on first use."""
        if self._nio is None:
            config = AsyncClientConfig(
                max_limit_exceeded=0,
                max_timeouts=0,
                request_timeout=self.timeout,
                encryption_enabled=False,
                store_sync_tokens=False,
            )
            client = AsyncClient(self.homeserver, user="", config=config)
            # A token from the account's session, no login: nio sends it as a Bearer header.
            client.access_token = self._token
            self._nio = client
        return self._nio

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        """``work`` on the private loop, at most ``timeout`` (and a grace) long.

        Called from a thread whose own loop is running (a coroutine calling the client
        directly), the private loop runs in a helper thread instead, since one thread
        cannot run two loops; the caller's loop waits, as for any blocking call.
        """
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        bounded = asyncio.wait_for(work, timeout=self.timeout + LOOP_GRACE)
        if not _loop_running_here():
            return self._loop.run_until_complete(bounded)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="matrix") as helper:
            return helper.submit(self._loop.run_until_complete, bounded).result()

    def _posted(self, event_id: str) -> Posted:
        url = MATRIX_TO.format(
            room=quote(self.room_id, safe=_ID_SAFE), event=quote(event_id, safe=_ID_SAFE)
        )
        return Posted(remote_id=event_id, url=url)

    # -- errors --------------------------------------------------------------------------

    def _error(self, answer: RoomSendError) -> PublishError:
        response = getattr(answer, "transport_response", None)
        status = int(getattr(response, "status", 0) or 0)
        headers: Mapping[str, str] = getattr(response, "headers", None) or {}
        return matrix_error(
            status,
            answer.status_code,
            self._safe(answer.message or ""),
            answer.retry_after_ms,
            headers,
            self._clock(),
            room=self.room_id,
        )

    def _safe(self, text: str) -> str:
        return redact(text, [self._token])[:MAX_ERROR_TEXT]


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _session(timeout: float) -> aiohttp.ClientSession:
    """An HTTP session for one send, given to nio in place of the one it would make.

    aiohttp sends an idempotent request (a PUT) a second time on its own when the
    connection drops before the answer. Harmless here (same transaction id), but the
    worker decides retries and counts them, so that is turned off; aiohttp has no public
    switch for it, only the attribute its own test client sets. One session per send,
    closed after it: a digest sends a few messages a day, and nothing is left open for a
    caller that never closes the client.
    """
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
    session._retry_connection = False
    return session


def matrix_error(
    status: int,
    errcode: str | None,
    message: str,
    retry_after_ms: int | None,
    headers: Mapping[str, str],
    now: datetime,
    *,
    room: str,
) -> PublishError:
    """The project's error for a homeserver's error answer to a send.

    429 (``M_LIMIT_EXCEEDED``) is RateLimited until ``Retry-After`` (spec v1.10 and later),
    else ``retry_after_ms`` (the older, now deprecated field); 5xx is Transient; a refused
    token, a room the account may not post in, a room that does not exist or a message too
    large are Permanent, with what to do. A 2xx without an event id is UnknownOutcome.
    """
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    code = errcode or ""
    said = f"Matrix answered HTTP {status}" + (f" {code}" if code else "")
    if message and message != "unknown error":
        said += f" ({message})"
    if status == 429 or code == "M_LIMIT_EXCEEDED":
        return RateLimited(said, retry_at=_rate_limited_until(retry_after_ms, lowered, now))
    if 200 <= status < 300:
        return UnknownOutcome(f"{said} without an event id; the message was probably posted")
    if status >= 500:
        return Transient(said, retry_at=retry_after(lowered, now))
    if status == 401 or code in TOKEN_REFUSED:
        return Permanent(
            f"{said}: the access token was refused; log in again and set MATRIX_ACCESS_TOKEN"
        )
    if status == 403 or code == "M_FORBIDDEN":
        return Permanent(
            f"{said}: the account may not post in room {room}; join the room with the "
            "bot's account (accept its invitation), and give it a power level that may "
            "send messages there"
        )
    if status == 404 or code == "M_NOT_FOUND":
        return Permanent(f"{said}: no room {room} on this homeserver; check matrix_room")
    if status == 413 or code == "M_TOO_LARGE":
        return Permanent(f"{said}: the message is larger than the homeserver takes")
    return Permanent(said)


def _rate_limited_until(
    retry_after_ms: int | None, headers: Mapping[str, str], now: datetime
) -> datetime:
    when = retry_after(headers, now)
    if when is None and isinstance(retry_after_ms, int) and 0 <= retry_after_ms < 10**10:
        when = now + timedelta(milliseconds=retry_after_ms)
    return max(when or now + DEFAULT_RATE_LIMIT_WAIT, now)
