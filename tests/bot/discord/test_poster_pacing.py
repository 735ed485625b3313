"""The delivery worker's threads share the bot's global rate limit: the poster spaces them.

Real discord.py against the local Discord API with Discord's limits enforced
(``tests/servers/discord_limits.py``), here a global limit of 10 requests a second so
that a few dozen messages are enough to cross it: eight threads posting to two dozen
channels at once, as a batch of the delivery worker does, get no 429 when the poster is
paced inside the limit (with room for the timing of the threads and the bot's own calls,
as the service's 80 % of it leaves).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.discord.bot import ShortScienceBot
from bot.discord.poster import GLOBAL_PER_SECOND, DiscordPoster, digest_pace
from publishers.networks.pacing import Pacer
from tests.servers.discord_limits import RateLimitedDiscordAPI

LIMIT = 10
CHANNELS = 24
FIRST = 1_186_700_000_000_000_000


@pytest.fixture
async def api() -> AsyncIterator[RateLimitedDiscordAPI]:
    async with RateLimitedDiscordAPI(global_limit=LIMIT) as server:
        yield server
    assert not server.server_errors


async def test_eight_threads_posting_at_once_stay_inside_the_global_limit(
    bot: ShortScienceBot, api: RateLimitedDiscordAPI
) -> None:
    poster = DiscordPoster(bot, pacer=Pacer(LIMIT * 0.6))
    await asyncio.sleep(1.1)  # the bot's own start-up calls leave the limit's window
    started = len(api.arrivals())

    def post(n: int) -> int:
        return poster.send(FIRST + n, f"digest {n}", None, 30.0)

    def all_of_them() -> list[int]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(post, range(CHANNELS)))

    sent = await asyncio.to_thread(all_of_them)
    assert len(set(sent)) == CHANNELS
    assert api.stats().rate_limited == {"global": 0, "user": 0}
    arrived = api.arrivals(started)
    assert sorted(a.channel_id for a in arrived) == [FIRST + n for n in range(CHANNELS)]


def test_the_processes_of_one_bot_share_its_global_limit_by_their_shards() -> None:
    alone = digest_pace(None, 0)
    assert alone == digest_pace(None, 4) < GLOBAL_PER_SECOND
    halves = [digest_pace([0, 1], 4), digest_pace([2, 3], 4)]
    assert sum(halves) == pytest.approx(alone)
    assert sum(digest_pace([shard], 3) for shard in range(3)) == pytest.approx(alone)
