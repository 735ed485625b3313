"""Requests spaced to stay inside a limit a network counts across all of a sender's calls.

Discord's global limit (50 requests a second per bot, LIMITS.md) is shared by every
channel the bot posts to, from every thread of every process that runs the bot: a 429
there stalls the whole bot, not one channel. Reacting to the 429 comes too late, so the
delivery worker spaces its own requests before sending them: ``Pacer.wait`` hands out
evenly spaced start times, one per call, to whichever thread asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """At most ``per_second`` calls a second, evenly spaced, shared by many threads.

    Even spacing (no burst allowance) keeps any one-second window, however aligned, at
    ``per_second`` calls plus at most one."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block the calling thread (never an event loop) until its turn; the seconds waited."""
        with self._lock:
            now = self._clock()
            turn = max(now, self._next)
            self._next = turn + self.interval
        if turn > now:
            self._sleep(turn - now)
        return turn - now
