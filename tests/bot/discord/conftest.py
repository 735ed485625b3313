"""A real ShortScienceBot, logged in against the local Discord API, on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from bot.commands.context import CommandContext
from bot.config import DiscordSettings
from bot.discord.bot import ShortScienceBot, intents_for
from tests.discord_harness import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    add_guild,
    make_client,
    redirect_discord_api,
    role,
    text_channel,
    user,
)
from tests.servers.discord_server import DiscordAPI

GUILD = DEFAULT_GUILD_ID
CHANNEL = DEFAULT_CHANNEL_ID
QUEUE_CHANNEL = 1_186_000_000_000_000_777
LINKS_CHANNEL = 1_186_000_000_000_000_888
MODERATOR_ROLE = 1_186_000_000_000_000_501

ADA = user(1_186_000_000_000_001_001, "ada")
BOB = user(1_186_000_000_000_001_002, "bob")
MIA = user(1_186_000_000_000_001_003, "mia")
MAX = user(1_186_000_000_000_001_004, "max")


def as_member(who: dict[str, Any], *, moderator: bool = False, admin: bool = False) -> dict:
    """Interaction context for a person: their user, roles and permissions."""
    permissions = discord.Permissions(manage_guild=True) if admin else discord.Permissions.none()
    permissions.update(send_messages=True, view_channel=True, use_application_commands=True)
    return {
        "user": who,
        "member_roles": [MODERATOR_ROLE] if moderator else [],
        "member_permissions": permissions,
    }


@pytest.fixture
def discord_settings() -> DiscordSettings:
    return DiscordSettings(
        guild_id=GUILD,
        moderation_channel_id=QUEUE_CHANNEL,
        moderator_role_ids=[MODERATOR_ROLE],
        autolookup_channel_ids=[LINKS_CHANNEL],
        autolookup_cooldown_minutes=60.0,
    )


async def start_bot(
    api: DiscordAPI, ctx: CommandContext, settings: DiscordSettings
) -> ShortScienceBot:
    """A bot as `shortscience run` builds it: cogs loaded, commands synced, views registered."""
    bot = await make_client(
        api,
        client_cls=ShortScienceBot,
        ctx=ctx,
        settings=settings,
        intents=intents_for(autolookup=True),
    )
    add_guild(
        bot,
        GUILD,
        roles=[role(MODERATOR_ROLE, "Moderators")],
        channels=[
            text_channel(CHANNEL, name="papers", guild_id=GUILD),
            text_channel(QUEUE_CHANNEL, name="moderation", guild_id=GUILD),
            text_channel(LINKS_CHANNEL, name="reading", guild_id=GUILD),
        ],
    )
    return bot


@pytest.fixture
async def bot(
    api: DiscordAPI, ctx: CommandContext, discord_settings: DiscordSettings
) -> AsyncIterator[ShortScienceBot]:
    with redirect_discord_api(api):
        client = await start_bot(api, ctx, discord_settings)
        try:
            yield client
        finally:
            await client.close()
