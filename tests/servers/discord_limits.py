"""The local Discord REST API with Discord's rate limits enforced, and counted.

:class:`RateLimitedDiscordAPI` is :class:`~tests.servers.discord_server.DiscordAPI` plus
the two limits a bot posting digests meets, answered the way Discord answers them, so
that a benchmark can count 429s honestly and discord.py's own bucket handling is
exercised against real headers::

    async with RateLimitedDiscordAPI() as api:
        ...                                  # a bot posts through discord.py
        stats = api.stats()                  # from any thread
        stats.rate_limited                   # {"global": 0, "user": 0}
        api.arrivals()                       # [(time.time(), channel id), ...] accepted

The limits (``developers/topics/rate-limits.mdx``; LIMITS.md, "Rate limits"):

* **Global**: 50 requests per second per bot token (per ``Authorization`` header; a
  request without one is limited per client address, as Discord does per IP). Interaction
  endpoints are not bound to it: ``/interactions/{id}/{token}/callback`` and the
  interaction webhooks ``/webhooks/{application_id}/{token}...`` (followups, edits of the
  original response). Discord does not document the window; this is a **sliding** one:
  a request is refused when 50 were admitted in the second before it, and its
  ``retry_after`` is the time until the oldest of them leaves that second. That is the
  strictest reading (whatever a sliding window admits, a fixed 1-s window admits too), and
  it matches what client authors observed: discord-api-docs#5144 reports 429s for a client
  that kept to 50 per fixed second. Over it: 429 with the body and headers of the fixture
  ``429_global_rate_limit__docs_example`` (``global: true``, ``X-RateLimit-Global: true``,
  ``X-RateLimit-Scope: global``), ``retry_after`` and ``Retry-After`` set to the real wait.
* **Per route**, for ``POST /channels/{id}/messages`` only: ``message_limit`` messages per
  ``message_window`` seconds per channel and token, by default **5 per 5 s, an assumption**:
  Discord documents no number for this route ("rate limits should not be hard coded ...
  parse response headers"). 5/5 s is what was announced in 2016 (discord-api-docs#20, "a
  5/5 per server rate limit" on message creation) and what bots still report from the
  headers (alexemanuelol/rustplusplus#475, 2025: "Limit: 5, Method: POST ...
  /channels/:id/messages", a wait of 4.4 s). The bucket is a fixed window that opens with
  the first request after the previous one closed: what the documented headers describe
  (``X-RateLimit-Reset``, when the bucket resets) and what discord.py assumes (it waits
  ``Reset-After`` once ``Remaining`` is 0, then sends ``Limit`` more). Some routes have
  moved to sliding windows since 2022, undocumented (discord-api-docs#7680).
  Every answer of the route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``
  (epoch seconds, float), ``-Reset-After`` (seconds, float) and ``-Bucket`` (a stable
  hash); over it: 429 with the fixture ``429_user_rate_limit__docs_example``'s body and
  headers (scope ``user``), values set to the real bucket.

A request refused by the global limit does not use its route bucket; a request admitted
by the global limit counts against it even when its route bucket then refuses it.
Requests that the base server answers before any handler runs (an injected fault, a
missing or wrong bot token) are neither limited nor counted.

Counts, readable from another thread (:meth:`stats`, :meth:`arrivals`): requests per
route template (``"POST /channels/{cid}/messages"``), 429s by scope, and the arrival time
(``time.time()``, taken as the request reached this server) and channel id of every
message answered 200. The limiter works per request in O(1) (a bounded deque per token,
one small record per channel): 0.4 us of CPU per request alone, lost in the noise of the
base server's 360-410 us per accepted message (measured in a process of its own, 5,000
messages, load average 8-10 on 2 cores); a 429 costs the server about 210 us.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from tests.servers.discord_server import (
    API_PREFIX,
    DiscordAPI,
    ErrorFixture,
    load_error_fixture,
)

__all__ = [
    "GLOBAL_FIXTURE",
    "GLOBAL_LIMIT",
    "GLOBAL_WINDOW",
    "MESSAGE_BUCKET",
    "MESSAGE_LIMIT",
    "MESSAGE_ROUTE",
    "MESSAGE_WINDOW",
    "USER_FIXTURE",
    "FixedWindowBuckets",
    "LimitStats",
    "MessageArrival",
    "RateLimitedDiscordAPI",
    "SlidingWindow",
]

GLOBAL_LIMIT = 50
"""LIMITS.md: "Global: 50 requests per second per bot"."""
GLOBAL_WINDOW = 1.0
MESSAGE_LIMIT = 5
"""Assumed, not documented by Discord (see the module docstring)."""
MESSAGE_WINDOW = 5.0
MESSAGE_ROUTE = "POST /channels/{cid}/messages"
"""The route template this server limits per channel, as :meth:`LimitStats` names it."""
MESSAGE_BUCKET = hashlib.sha256(b"POST /channels/{channel_id}/messages").hexdigest()[:32]
"""``X-RateLimit-Bucket`` of the route: stable across runs, like Discord's hashes."""
GLOBAL_FIXTURE = "429_global_rate_limit__docs_example"
USER_FIXTURE = "429_user_rate_limit__docs_example"

_MESSAGE_RESOURCE = API_PREFIX + "/channels/{cid}/messages"


def _up_to_ms(seconds: float) -> float:
    """Discord's precision (``"64.57"``), rounded up so that a client waiting this long
    never comes back early."""
    return math.ceil(seconds * 1000) / 1000


class SlidingWindow:
    """At most ``limit`` admissions in any ``window`` seconds (the global limit)."""

    __slots__ = ("_admitted", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        # Only the latest ``limit`` admissions matter; the deque drops older ones itself.
        self._admitted: deque[float] = deque(maxlen=limit)

    def admit(self, now: float) -> float | None:
        """Admit a request at ``now`` (``None``), or say how long until one would be."""
        if len(self._admitted) == self.limit:
            wait = self._admitted[0] + self.window - now
            if wait > 0:
                return wait
        self._admitted.append(now)
        return None


class _Bucket:
    __slots__ = ("remaining", "resets_at")

    def __init__(self, remaining: int, resets_at: float) -> None:
        self.remaining = remaining
        self.resets_at = resets_at


class FixedWindowBuckets:
    """``limit`` requests per ``window`` seconds per key, the window opening with the
    first request after the previous one closed (a per-route bucket, one per channel)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._buckets: dict[Any, _Bucket] = {}

    def admit(self, key: Any, now: float) -> tuple[bool, int, float]:
        """(admitted, remaining after this request, seconds until the bucket resets)."""
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.resets_at:
            bucket = _Bucket(self.limit, now + self.window)
            self._buckets[key] = bucket
        if bucket.remaining == 0:
            return False, 0, bucket.resets_at - now
        bucket.remaining -= 1
        return True, bucket.remaining, bucket.resets_at - now


class MessageArrival(NamedTuple):
    """A message the server accepted: when it arrived (``time.time()``) and where."""

    at: float
    channel_id: int


@dataclass(frozen=True)
class LimitStats:
    """A consistent copy of the counters at one moment."""

    requests_by_route: dict[str, int]
    """Requests that reached a handler or a limit, by ``"METHOD /template"``."""
    rate_limited: dict[str, int]
    """429s answered, by scope: ``"global"`` and ``"user"`` (always both keys)."""
    messages_accepted: int


class RateLimitedDiscordAPI(DiscordAPI):
    """:class:`DiscordAPI` that enforces and counts Discord's rate limits (module docstring).

    ``clock`` (monotonic seconds) decides the windows; tests pass one they move by hand.
    Arrival times are always ``time.time()``.
    """

    def __init__(
        self,
        *,
        global_limit: int = GLOBAL_LIMIT,
        global_window: float = GLOBAL_WINDOW,
        message_limit: int = MESSAGE_LIMIT,
        message_window: float = MESSAGE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.global_limit = global_limit
        self.global_window = global_window
        self.message_limit = message_limit
        self.message_window = message_window
        self._clock = clock
        self._global: dict[str, SlidingWindow] = {}
        self._message_buckets = FixedWindowBuckets(message_limit, message_window)
        self._global_fixture: ErrorFixture = load_error_fixture(GLOBAL_FIXTURE, self.fixtures_dir)
        self._user_fixture: ErrorFixture = load_error_fixture(USER_FIXTURE, self.fixtures_dir)
        self._interaction_webhooks = f"/webhooks/{self.application_id}/"
        # The server mutates on the event loop's thread; a bench reads from its own.
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()
        self._limited: Counter[str] = Counter()
        self._arrivals: list[MessageArrival] = []

    # -- reads, from any thread ---------------------------------------------------------------

    def stats(self) -> LimitStats:
        with self._lock:
            return LimitStats(
                requests_by_route=dict(self._by_route),
                rate_limited={"global": self._limited["global"], "user": self._limited["user"]},
                messages_accepted=len(self._arrivals),
            )

    def arrivals(self, start: int = 0) -> list[MessageArrival]:
        """Accepted messages in arrival order, from the ``start``-th on (so that a poller
        copies only what is new)."""
        with self._lock:
            return self._arrivals[start:]

    # -- the limits ---------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        super()._add_routes(app)
        # Inside the base server's middleware (not frozen yet: the runner is not set up),
        # so 429s are recorded in ``requests`` like any other answer.
        app.middlewares.append(self._limits)

    def _bound_by_global(self, path: str) -> bool:
        if not path.startswith(API_PREFIX):
            return False  # the CDN (attachment downloads)
        route = path[len(API_PREFIX) :]
        return not route.startswith(("/interactions/", self._interaction_webhooks))

    @web.middleware
    async def _limits(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        arrived = time.time()
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        if template.startswith(API_PREFIX):
            template = template[len(API_PREFIX) :]
        route = f"{request.method} {template}"
        is_message = route == MESSAGE_ROUTE
        who = request.headers.get("Authorization") or f"address {request.remote}"
        now = self._clock()
        retry_after: float | None = None
        with self._lock:
            self._by_route[route] += 1
            if self._bound_by_global(request.path):
                window = self._global.get(who)
                if window is None:
                    window = self._global[who] = SlidingWindow(
                        self.global_limit, self.global_window
                    )
                retry_after = window.admit(now)
                if retry_after is not None:
                    self._limited["global"] += 1
        if retry_after is not None:
            return self._too_many(self._global_fixture, retry_after, {})
        if not is_message:
            response: web.StreamResponse = await handler(request)
            return response

        channel_id = int(request.match_info["cid"])
        with self._lock:
            admitted, remaining, reset_after = self._message_buckets.admit((who, channel_id), now)
            if not admitted:
                self._limited["user"] += 1
        reset_after = _up_to_ms(reset_after)
        bucket_headers = {
            "X-RateLimit-Limit": str(self.message_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": MESSAGE_BUCKET,
        }
        if not admitted:
            return self._too_many(self._user_fixture, reset_after, bucket_headers)
        response = await handler(request)
        response.headers.update(bucket_headers)
        if response.status == 200:
            with self._lock:
                self._arrivals.append(MessageArrival(arrived, channel_id))
        return response

    def _too_many(
        self, fixture: ErrorFixture, retry_after: float, headers: dict[str, str]
    ) -> web.Response:
        """The fixture's 429, its numbers replaced by the real wait and bucket."""
        retry_after = _up_to_ms(retry_after)
        body = {**fixture.body, "retry_after": retry_after}
        merged = {
            **{k: v for k, v in fixture.headers.items() if k.lower() != "content-type"},
            **headers,
            "Retry-After": str(math.ceil(retry_after)),
        }
        # Exactly "application/json": discord.py reads a body with a charset as text, and
        # a 429 with a text body as a Cloudflare ban.
        merged["Content-Type"] = "application/json"
        return web.Response(
            status=fixture.status, body=json.dumps(body).encode("utf-8"), headers=merged
        )
