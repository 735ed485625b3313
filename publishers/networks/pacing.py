"""Requests spaced to stay inside a limit a network counts across all of a sender's calls.

Discord's global limit (50 requests a second per bot, LIMITS.md) is shared by every
channel the bot posts to, from every process that runs the bot: a 429 there stalls the
whole bot, not one channel. Reacting to the 429 comes too late, so the bot spaces its
own requests before sending them.

The spacing is kept where the requests leave, on the event loop that sends them, and
each request is released an interval after the previous one was, as the loop sees it.
Turns handed out in advance (from the threads that ask for a post) would bunch up
whenever the loop is held up for a moment, and then go out together: one run at 10,000
channels had a global 429 so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Pacer:
    """At most ``per_second`` requests a second, each released an interval after the
    previous one; shared by every coroutine of one event loop.

    ``clock`` and ``sleep`` default to the running loop's; tests pass their own."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._released = float("-inf")
        self._lock: asyncio.Lock | None = None

    async def wait(self) -> float:
        """Until this request's turn; the seconds waited."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        clock = self._clock or asyncio.get_running_loop().time
        async with self._lock:
            asked = clock()
            wait = self._released + self.interval - asked
            if wait > 0:
                await self._sleep(wait)
            # From when it actually goes: a loop held up spaces the next ones out, never
            # lets them catch up in a burst.
            self._released = clock()
            return self._released - asked
