"""/digest subscribe, unsubscribe and list: stored, validated, admins only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.commands import subscriptions
from bot.commands.context import Actor, CommandContext
from bot.errors import UserError
from storage.database import Database
from storage.models import Channel, ChannelKind, ChannelOrigin

ADMIN = Actor("discord", "42", "Admin", is_admin=True)


def _channels(db: Database) -> list[Channel]:
    with db.sessions() as session:
        return list(session.scalars(select(Channel)).all())


async def test_subscribe_stores_a_discord_digest_channel(ctx: CommandContext, db: Database) -> None:
    reply = await subscriptions.subscribe(
        ctx,
        ADMIN,
        guild_id=9,
        channel_id=777,
        schedule="30 8 * * 1-5",
        timezone="Europe/Berlin",
        categories="cs.LG, stat.ML",
        max_items=3,
    )
    assert "now receives digests" in reply.text
    [channel] = _channels(db)
    assert channel.name == "discord-777"
    assert channel.kind is ChannelKind.DISCORD
    assert channel.origin is ChannelOrigin.DISCORD
    assert (channel.schedule, channel.timezone) == ("30 8 * * 1-5", "Europe/Berlin")
    assert channel.category_filter == "cs.LG,stat.ML"
    assert channel.max_items == 3


async def test_subscribing_again_updates_instead_of_duplicating(
    ctx: CommandContext, db: Database
) -> None:
    await subscriptions.subscribe(ctx, ADMIN, guild_id=9, channel_id=777)
    reply = await subscriptions.subscribe(
        ctx, ADMIN, guild_id=9, channel_id=777, schedule="0 18 * * *"
    )
    assert "settings updated" in reply.text
    [channel] = _channels(db)
    assert channel.schedule == "0 18 * * *"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"schedule": "daily"}, 'expected a 5-field cron expression such as "0 9 \\* \\* \\*"'),
        ({"timezone": "Mars/Base"}, "expected an IANA time zone"),
        ({"categories": "machine learning!"}, "is not an arXiv category"),
        ({"max_items": 0}, "1 to 50 summaries"),
    ],
)
async def test_bad_settings_are_explained_and_nothing_stored(
    ctx: CommandContext, db: Database, values: dict, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await subscriptions.subscribe(ctx, ADMIN, guild_id=9, channel_id=777, **values)
    assert _channels(db) == []


async def test_only_admins_manage_digest_channels(ctx: CommandContext, db: Database) -> None:
    member = Actor("discord", "7", "Member")
    with pytest.raises(UserError, match="Only server admins"):
        await subscriptions.subscribe(ctx, member, guild_id=9, channel_id=777)
    with pytest.raises(UserError, match="Only server admins"):
        await subscriptions.unsubscribe(ctx, member, channel_id=777)
    assert _channels(db) == []


async def test_unsubscribe_keeps_the_row_and_list_shows_active_ones(
    ctx: CommandContext, db: Database
) -> None:
    await subscriptions.subscribe(ctx, ADMIN, guild_id=9, channel_id=777)
    await subscriptions.subscribe(ctx, ADMIN, guild_id=9, channel_id=888)
    await subscriptions.subscribe(ctx, ADMIN, guild_id=10, channel_id=999)
    await subscriptions.unsubscribe(ctx, ADMIN, channel_id=777)
    listed = await subscriptions.list_subscriptions(ctx, ADMIN, guild_id=9)
    assert [field.value.split(":")[0] for field in listed.fields] == ["<#888>"]
    assert listed.text == "1 channel of this server receives digests."
    assert len(_channels(db)) == 3
    with pytest.raises(UserError, match="not a digest channel"):
        await subscriptions.unsubscribe(ctx, ADMIN, channel_id=777)


async def test_list_shows_every_channel(ctx: CommandContext) -> None:
    """No cut at Discord's 25 embed fields here: the Discord front end applies its limits."""
    for number in range(30):
        await subscriptions.subscribe(ctx, ADMIN, guild_id=9, channel_id=1000 + number)
    listed = await subscriptions.list_subscriptions(ctx, ADMIN, guild_id=9)
    assert len(listed.fields) == 30
    assert listed.text.startswith("30 channels")
