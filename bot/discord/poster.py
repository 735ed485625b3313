"""The running bot as the delivery worker's way into Discord channels (``ChannelPoster``).

The worker runs in a thread of its own, never on the event loop; discord.py lives on the
loop. So each call is scheduled on the bot's loop with ``run_coroutine_threadsafe`` and
waited for, at most ``timeout`` seconds, in the worker's thread. Everything discord.py
or aiohttp raises becomes one of the project's publishing errors, read the way the
delivery worker needs it: could the message exist now?

- nothing can have been sent (not connected, called from the loop itself, no connection
  made): ``Transient``, the worker tries again later;
- Discord answered with an error: whatever :func:`discord_errors` says (``Permanent``
  for a missing channel or permission, ``RateLimited``, ``Transient`` for a 5xx);
- the request may have gone out and no answer came (a timeout, a dropped connection):
  ``UnknownOutcome``, so the worker looks for the message (``recent``) before sending again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import discord

from bot.discord.mentions import NO_MENTIONS
from publishers.networks.base import (
    LookupUnsupported,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.discord import Attachment, discord_errors
from publishers.networks.pacing import Pacer
from storage.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

SCAN_FACTOR = 10
"""``recent`` reads at most this many times ``limit`` messages to find the bot's own."""


def publish_error(error: BaseException, *, sent: bool, now: datetime, subject: str) -> PublishError:
    """The project's error for what a call raised; ``sent``: the call may have posted."""
    if isinstance(error, PublishError):
        return error
    if isinstance(error, discord.HTTPException):
        body = {"code": error.code, "message": error.text}
        headers = getattr(error.response, "headers", None) or {}
        return discord_errors(error.status, body, headers, now, subject=subject)
    if isinstance(error, discord.RateLimited):
        # discord.py gives up instead of sleeping past max_ratelimit_timeout: nothing sent.
        return RateLimited(
            f"{subject}: rate limited for {error.retry_after:.0f} s",
            retry_at=now + timedelta(seconds=error.retry_after),
        )
    reason = type(error).__name__
    if isinstance(error, aiohttp.ClientConnectorError):
        return Transient(f"{subject}: could not connect to Discord ({reason})")
    if not sent:
        return Transient(f"{subject}: failed before anything was sent ({reason})")
    if isinstance(error, TimeoutError | concurrent.futures.TimeoutError):
        return UnknownOutcome(f"{subject}: sent, but no answer came in time; it may exist")
    return UnknownOutcome(f"{subject}: the send failed midway ({reason}); it may exist")


GLOBAL_PER_SECOND = 50.0
"""Discord's global limit: "50 requests per second per bot" (LIMITS.md, rate-limits.mdx)."""
DIGEST_SHARE = 0.8
"""The share of it digests may use; the rest stays for the bot's own calls (cards, edits,
look-ups). Interaction answers are not bound to the global limit."""


def digest_pace(shard_ids: Sequence[int] | None, shard_count: int) -> float:
    """Requests a second this process's digests may make: its shards' share of the
    bot's global limit, so the processes of one bot together stay inside it."""
    share = len(shard_ids) / shard_count if shard_ids is not None and shard_count else 1.0
    return GLOBAL_PER_SECOND * DIGEST_SHARE * share


class DiscordPoster:
    """Implements publishers.networks.discord.PicturePoster (a ChannelPoster that attaches
    files) over a running discord.py bot. Its requests are spaced by ``pacer`` on the
    bot's loop, where they leave: the delivery worker's threads share the bot's global
    rate limit."""

    def __init__(
        self,
        bot: discord.Client,
        *,
        clock: Callable[[], datetime] = utcnow,
        pacer: Pacer | None = None,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.pacer = pacer or Pacer(GLOBAL_PER_SECOND * DIGEST_SHARE)

    def send(self, channel_id: int, text: str, reply_to: int | None, timeout: float) -> int:
        """Post ``text`` (pinging nobody), as a reply when ``reply_to`` is given."""
        return self.send_with_files(channel_id, text, reply_to, timeout, ())

    def send_with_files(
        self,
        channel_id: int,
        text: str,
        reply_to: int | None,
        timeout: float,
        attachments: Sequence[Attachment],
    ) -> int:
        """Post ``text`` with ``attachments`` as files of the same message, each with its
        description (alt text); pinging nobody, as a reply when ``reply_to`` is given."""
        message = self._call(
            lambda: self._send(channel_id, text, reply_to, attachments),
            timeout,
            channel_id,
            sends=True,
        )
        return int(message)

    def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
        """The bot's own latest ``limit`` messages in the channel, newest first."""
        return self._call(lambda: self._recent(channel_id, limit), timeout, channel_id, sends=False)

    # -- on the event loop -----------------------------------------------------------------

    async def _send(
        self, channel_id: int, text: str, reply_to: int | None, attachments: Sequence[Attachment]
    ) -> int:
        channel = self.bot.get_partial_messageable(channel_id)
        # Made here, on the loop: discord.py reads (and on a retry rewinds) each file. No
        # files, no ``files``: a text alone goes as JSON, as before pictures.
        files: dict[str, Any] = {}
        if attachments:
            files["files"] = [
                discord.File(io.BytesIO(a.content), a.filename, description=a.description)
                for a in attachments
            ]
        if reply_to is None:
            message = await channel.send(content=text, allowed_mentions=NO_MENTIONS, **files)
        else:
            # A reply to a deleted part still posts (fail_if_not_exists) and pings nobody.
            reference = discord.MessageReference(
                message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False
            )
            message = await channel.send(
                content=text,
                allowed_mentions=NO_MENTIONS,
                reference=reference,
                mention_author=False,
                **files,
            )
        return message.id

    async def _recent(self, channel_id: int, limit: int) -> list[tuple[int, str]]:
        """Reads up to ``limit * SCAN_FACTOR`` messages; a channel so busy that the bot's
        own are further back cannot be searched: LookupUnsupported, a moderator looks."""
        me = self.bot.user
        if me is None:
            raise Transient("the bot is not logged in")
        channel = self.bot.get_partial_messageable(channel_id)
        found: list[tuple[int, str]] = []
        scanned = 0
        async for message in channel.history(limit=limit * SCAN_FACTOR):
            scanned += 1
            if message.author.id == me.id:
                found.append((message.id, message.content))
                if len(found) >= limit:
                    return found
        if scanned >= limit * SCAN_FACTOR:
            raise LookupUnsupported(
                f"Discord channel {channel_id}: the bot's messages are more than "
                f"{scanned} messages back; a moderator should check the channel"
            )
        return found

    # -- from the worker's thread ----------------------------------------------------------

    def _call(
        self,
        work: Callable[[], Coroutine[Any, Any, T]],
        timeout: float,
        channel_id: int,
        *,
        sends: bool,
    ) -> T:
        subject = f"Discord channel {channel_id}"
        loop = self._loop()
        if loop is None:
            raise Transient(f"{subject}: the bot is not connected")
        if _running_loop() is loop:
            # Waiting here would block the very loop that must do the work.
            raise Transient(f"{subject}: the poster was called on the bot's own event loop")
        coroutine = self._paced(work)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError as error:  # the loop closed meanwhile
            coroutine.close()
            raise Transient(f"{subject}: the bot is not connected ({error})") from None
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as error:
            future.cancel()
            raise publish_error(error, sent=sends, now=self.clock(), subject=subject) from None
        except concurrent.futures.CancelledError:
            # The bot shut down around the call: a send may have gone out all the same.
            if sends:
                raise UnknownOutcome(
                    f"{subject}: the bot stopped while sending; it may exist"
                ) from None
            raise Transient(f"{subject}: the bot stopped while reading") from None
        except Exception as error:
            mapped = publish_error(error, sent=sends, now=self.clock(), subject=subject)
            log.debug("%s: %s", subject, mapped)
            raise mapped from error

    async def _paced(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The request once the pacer lets it go, on the loop that sends it."""
        await self.pacer.wait()
        return await work()

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The bot's loop while it is logged in and running, else None."""
        if self.bot.is_closed():
            return None
        loop: object = self.bot.loop  # before login, a sentinel whose every attribute raises
        if not isinstance(loop, asyncio.AbstractEventLoop):
            return None
        if loop.is_closed() or not loop.is_running():
            return None
        return loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: a worker thread, as it should be
        return None
