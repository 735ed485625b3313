"""The rate-limited local Discord API against real clients: discord.py and plain aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.conftest import ManualClock
from tests.discord_harness import dispatch, running_client, slash_command
from tests.servers.discord_limits import (
    GLOBAL_FIXTURE,
    MESSAGE_BUCKET,
    MESSAGE_ROUTE,
    USER_FIXTURE,
    RateLimitedDiscordAPI,
    SlidingWindow,
)
from tests.servers.discord_server import BOT_TOKEN, load_error_fixture

CHANNEL = 1_186_000_000_000_100_000
AUTH = {"Authorization": f"Bot {BOT_TOKEN}"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post_message(
    http: aiohttp.ClientSession, api: RateLimitedDiscordAPI, channel_id: int, text: str = "hi"
) -> tuple[int, Any, dict[str, str]]:
    """A bot's POST /channels/{id}/messages: status, JSON body, headers."""
    url = f"{api.api_base}/channels/{channel_id}/messages"
    async with http.post(url, json={"content": text}, headers=AUTH) as response:
        return response.status, await response.json(), dict(response.headers)


def fixed_windows(times: list[float], window: float) -> list[list[float]]:
    """Split arrival times into buckets the way the route's fixed window does: a bucket
    opens with the first arrival at or after the previous one's end."""
    buckets: list[list[float]] = []
    for at in sorted(times):
        if not buckets or at >= buckets[-1][0] + window:
            buckets.append([])
        buckets[-1].append(at)
    return buckets


async def test_discord_py_reads_the_bucket_headers_and_waits() -> None:
    # Real time: discord.py sleeps for what X-RateLimit-Reset-After says.
    async with (
        RateLimitedDiscordAPI(message_limit=5, message_window=0.5) as api,
        running_client(api, client_cls=discord.Client) as client,
    ):
        channel = client.get_partial_messageable(CHANNEL)
        for n in range(12):
            await channel.send(f"part {n}")
        stats = api.stats()
        arrivals = api.arrivals()

    assert stats.rate_limited == {"global": 0, "user": 0}
    assert stats.requests_by_route[MESSAGE_ROUTE] == 12
    assert [a.channel_id for a in arrivals] == [CHANNEL] * 12
    buckets = fixed_windows([a.at for a in arrivals], 0.5)
    assert [len(b) for b in buckets] == [5, 5, 2]


async def test_a_sixth_message_in_the_window_gets_429_user(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    fixture = load_error_fixture(USER_FIXTURE)
    async with RateLimitedDiscordAPI(clock=clock) as api:
        answers = [await post_message(http, api, CHANNEL) for _ in range(6)]
        clock.now += 2.0
        status, _, headers = await post_message(http, api, CHANNEL)

        assert [s for s, _, _ in answers] == [200] * 5 + [429]
        for remaining, (_, _, sent) in zip([4, 3, 2, 1, 0], answers[:5], strict=True):
            assert sent["X-RateLimit-Limit"] == "5"
            assert sent["X-RateLimit-Remaining"] == str(remaining)
            assert sent["X-RateLimit-Reset-After"] == "5.000"
            assert sent["X-RateLimit-Bucket"] == MESSAGE_BUCKET
            assert float(sent["X-RateLimit-Reset"]) > 1_700_000_000
        _, limited, limited_headers = answers[5]
        assert limited == {**fixture.body, "retry_after": 5.0}
        assert limited_headers["X-RateLimit-Scope"] == "user"
        assert limited_headers["X-RateLimit-Remaining"] == "0"
        assert limited_headers["Retry-After"] == "5"
        assert limited_headers.keys() >= fixture.headers.keys() - {"_status"}
        # Still the same window two seconds later; another channel has its own bucket.
        assert (status, headers["X-RateLimit-Reset-After"]) == (429, "3.000")
        assert (await post_message(http, api, CHANNEL + 1))[0] == 200
        clock.now += 3.0
        status, _, headers = await post_message(http, api, CHANNEL)
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")
        assert api.stats().rate_limited == {"global": 0, "user": 2}


async def test_past_50_requests_in_a_second_get_429_global(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    fixture = load_error_fixture(GLOBAL_FIXTURE)
    async with RateLimitedDiscordAPI(clock=clock) as api:
        answers = await asyncio.gather(
            *(post_message(http, api, CHANNEL + n, f"digest {n}") for n in range(60))
        )
        stats = api.stats()
        arrivals = api.arrivals()

    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 10
    for status, body, headers in answers:
        if status == 429:
            assert body == {**fixture.body, "retry_after": 1.0}
            assert headers["X-RateLimit-Global"] == "true"
            assert headers["X-RateLimit-Scope"] == "global"
            assert headers["Retry-After"] == "1"
            assert "X-RateLimit-Bucket" not in headers
    assert stats.rate_limited == {"global": 10, "user": 0}
    assert stats.requests_by_route[MESSAGE_ROUTE] == 60
    assert len({a.channel_id for a in arrivals}) == 50


def test_the_global_window_slides() -> None:
    # A fixed window opened at t=0 would admit 50 more at t=1.0; a sliding one only the
    # 25 that left the last second.
    window = SlidingWindow(50, 1.0)
    assert all(window.admit(0.0) is None for _ in range(25))
    assert all(window.admit(0.6) is None for _ in range(25))
    assert window.admit(0.9) == pytest.approx(0.1)
    assert all(window.admit(1.0) is None for _ in range(25))
    assert window.admit(1.0) == pytest.approx(0.6)


async def post_to_a_channel_webhook(http: aiohttp.ClientSession, api: RateLimitedDiscordAPI) -> int:
    """A request without a bot token, which Discord limits per address (this server has
    no such webhook: 404, counted all the same)."""
    url = f"{api.api_base}/webhooks/1186000000000000999/webhook-token"
    async with http.post(url, json={"content": "hi"}) as response:
        return response.status


async def test_interaction_callbacks_are_not_bound_by_the_global_limit(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    async with (
        RateLimitedDiscordAPI(clock=clock) as api,
        running_client(api, client_cls=discord.Client) as client,
    ):
        tree = discord.app_commands.CommandTree(client)

        @tree.command()
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")
            await interaction.followup.send("and again")

        clock.now += 1.0  # a second after the login's requests
        # Both global windows full: the bot token's and the address's (callbacks carry no
        # token, so were they bound, it would be by the address).
        await asyncio.gather(*(post_message(http, api, CHANNEL + n) for n in range(50)))
        await asyncio.gather(*(post_to_a_channel_webhook(http, api) for _ in range(50)))
        await dispatch(client, slash_command("ping"))
        over = (
            (await post_message(http, api, CHANNEL + 50))[0],
            await post_to_a_channel_webhook(http, api),
        )

        assert [r.status for r in api.calls("/callback")] == [200]
        assert [r.status for r in api.calls(f"/webhooks/{api.application_id}/")] == [200]
        assert over == (429, 429)
        assert api.stats().rate_limited == {"global": 2, "user": 0}
