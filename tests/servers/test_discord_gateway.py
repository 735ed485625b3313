"""The local gateway with real discord.py: a bare AutoShardedClient joins it with two shards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from tests.discord_harness import guild_create, redirect_discord_api, slash_command, text_channel
from tests.servers.discord_gateway import DiscordGateway, guild_id_on, shard_of
from tests.servers.discord_server import BOT_TOKEN, DiscordAPI

GUILD_0 = guild_id_on(0, 2)
GUILD_1 = guild_id_on(1, 2)


def guild(guild_id: int) -> dict[str, Any]:
    return guild_create(
        guild_id, channels=[text_channel(guild_id + 1, name="papers", guild_id=guild_id)]
    )


class Client(discord.AutoShardedClient):
    """Answers every slash command with the shard that received it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(intents=discord.Intents(guilds=True), **options)
        self.ready_shards: set[int] = set()

    async def on_shard_ready(self, shard_id: int) -> None:
        self.ready_shards.add(shard_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        assert guild is not None
        await interaction.response.send_message(f"shard {guild.shard_id}")


@pytest.fixture
async def servers() -> AsyncIterator[tuple[DiscordAPI, DiscordGateway]]:
    async with (
        DiscordAPI() as api,
        DiscordGateway(api, shard_count=2, guilds=[guild(GUILD_0), guild(GUILD_1)]) as gateway,
    ):
        with redirect_discord_api(api), gateway.redirected():
            yield api, gateway


async def _running(client: Client) -> asyncio.Task[None]:
    await client.login(BOT_TOKEN)
    task = asyncio.create_task(client.connect())
    async with asyncio.timeout(60):
        await client.wait_until_ready()
    return task


async def _closed(client: Client, task: asyncio.Task[None]) -> None:
    await client.close()
    await task


def test_guilds_are_assigned_to_shards_by_the_documented_formula() -> None:
    assert shard_of(GUILD_0, 2) == 0
    assert shard_of(GUILD_1, 2) == 1
    assert shard_of(None, 2) == 0, "DMs go to shard 0"


async def test_two_shards_identify_and_receive_their_guilds(
    servers: tuple[DiscordAPI, DiscordGateway],
) -> None:
    api, gateway = servers
    client = Client()
    task = await _running(client)
    try:
        assert sorted(gateway.identifies) == [(0, 2), (1, 2)], "shard_count from /gateway/bot"
        assert set(gateway.connected) == {0, 1}
        assert client.ready_shards == {0, 1}
        assert client.shard_count == 2
        by_id = {g.id: g for g in client.guilds}
        assert set(by_id) == {GUILD_0, GUILD_1}
        assert (by_id[GUILD_0].shard_id, by_id[GUILD_1].shard_id) == (0, 1)
        assert not any(g.unavailable for g in client.guilds)
        for shard_id, guild_id in ((0, GUILD_0), (1, GUILD_1)):
            sent = gateway.connected[shard_id].session.sent
            [ready] = [frame["d"] for frame in sent if frame["t"] == "READY"]
            assert ready["guilds"] == [{"id": str(guild_id), "unavailable": True}]
            created = [frame["d"]["id"] for frame in sent if frame["t"] == "GUILD_CREATE"]
            assert created == [str(guild_id)], "a shard is sent only its own guilds"
        assert client.user is not None and str(client.user.id) == api.bot_user["id"]
        assert client.application_id == api.application_id
        assert gateway.heartbeats >= 2, "each shard beats at once on HELLO"
        assert all(latency < float("inf") for _, latency in client.latencies), "and was ACKed"
    finally:
        await _closed(client, task)
    assert gateway.connected == {}
    assert all(session.ended for session in gateway.sessions.values()), "closed with 1000"


async def test_an_interaction_reaches_the_shard_that_holds_its_guild(
    servers: tuple[DiscordAPI, DiscordGateway],
) -> None:
    api, gateway = servers
    client = Client()
    task = await _running(client)
    try:
        for guild_id, expected in ((GUILD_0, 0), (GUILD_1, 1)):
            payload = slash_command("ping", guild_id=guild_id, channel_id=guild_id + 1)
            assert await gateway.interaction(payload) == expected
            await api.wait_for_requests(1, f"/interactions/{payload['id']}/", timeout=30)
            [callback] = api.callbacks(payload["id"])
            assert callback.json["data"]["content"] == f"shard {expected}"
    finally:
        await _closed(client, task)


async def test_a_dropped_shard_resumes_and_gets_what_it_missed(
    servers: tuple[DiscordAPI, DiscordGateway],
) -> None:
    api, gateway = servers
    client = Client()
    task = await _running(client)
    try:
        first = gateway.connected[1].session.id
        payload = slash_command("ping", guild_id=GUILD_1, channel_id=GUILD_1 + 1)
        async with gateway.resumes_held():
            await gateway.drop(1)
            assert 1 not in gateway.connected
            assert await gateway.interaction(payload) == 1, "queued for the resume"
        await gateway.wait_until(lambda: 1 in gateway.connected)
        await api.wait_for_requests(1, f"/interactions/{payload['id']}/", timeout=30)
        assert gateway.resumes == [(1, first)]
        assert gateway.identifies.count((1, 2)) == 1, "resumed, not identified again"
        assert api.callbacks(payload["id"])[0].json["data"]["content"] == "shard 1"
    finally:
        await _closed(client, task)


async def test_an_ended_session_cannot_be_resumed_so_the_shard_identifies_again(
    servers: tuple[DiscordAPI, DiscordGateway],
) -> None:
    api, gateway = servers
    client = Client()
    task = await _running(client)
    try:
        gateway.connected[0].session.ended = True
        await gateway.drop(0)
        await gateway.wait_until(lambda: gateway.identifies.count((0, 2)) == 2)
        await gateway.wait_for_shards({0})
        assert gateway.resumes == [], "answered INVALID_SESSION"
        payload = slash_command("ping", guild_id=GUILD_0, channel_id=GUILD_0 + 1)
        assert await gateway.interaction(payload) == 0
        await api.wait_for_requests(1, f"/interactions/{payload['id']}/", timeout=30)
        assert api.callbacks(payload["id"])[0].json["data"]["content"] == "shard 0"
    finally:
        await _closed(client, task)


async def test_a_wrong_token_is_refused(servers: tuple[DiscordAPI, DiscordGateway]) -> None:
    api, gateway = servers
    api.token = None  # REST lets anyone log in; the gateway checks the token itself
    gateway.token = BOT_TOKEN
    client = Client()
    with pytest.raises(discord.ConnectionClosed) as raised:
        await client.start("not-the-token")
    await client.close()
    assert raised.value.code == 4004
    assert gateway.identifies == []
