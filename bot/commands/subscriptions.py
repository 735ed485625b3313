"""Discord channels that receive digests: subscribed by server admins, kept in the database."""

from __future__ import annotations

import re

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Field, Reply, Tone
from bot.errors import UserError
from bot.wording import counted, plural
from publishers.schedules import SCHEDULE_EXAMPLE, cron_trigger
from storage import channels as channel_store
from storage.channels import Subscription
from storage.models import Channel

_CATEGORY = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?")
MAX_CATEGORIES = 10


def channel_name_for(discord_channel_id: int) -> str:
    """The digest channel name a subscribed Discord channel gets."""
    return channel_store.discord_channel_name(discord_channel_id)


def parse_categories(text: str) -> list[str]:
    """``cs.LG, stat.ML`` -> ``["cs.LG", "stat.ML"]``; anything else is explained."""
    categories = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    for category in categories:
        if not _CATEGORY.fullmatch(category):
            raise UserError(
                f"“{category[:40]}” is not an arXiv category. Use ones like cs.LG or stat.ML, "
                "separated by commas."
            )
    if len(categories) > MAX_CATEGORIES:
        raise UserError(f"Name at most {MAX_CATEGORIES} categories.")
    return list(dict.fromkeys(categories))


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise UserError("Only server admins (Manage Server) can manage digest channels.")


def _describe(channel: Channel) -> str:
    categories = channel.category_filter.replace(",", ", ") if channel.category_filter else "all"
    approval = "a moderator approves each digest" if channel.require_approval else "no approval"
    return (
        f"`{channel.schedule}` ({channel.timezone}), up to {channel.max_items} summaries, "
        f"categories: {categories}, {approval}"
    )


async def subscribe(
    ctx: CommandContext,
    actor: Actor,
    *,
    guild_id: int,
    channel_id: int,
    schedule: str = SCHEDULE_EXAMPLE,
    timezone: str = "UTC",
    categories: str = "",
    max_items: int = 5,
    require_approval: bool = False,
) -> Reply:
    """Make a channel a digest channel, or change its settings."""
    _require_admin(actor)
    schedule = " ".join(schedule.split())
    timezone = timezone.strip()
    try:
        cron_trigger(schedule, timezone)
    except ValueError as error:
        raise UserError(f"Schedule: {error}.") from None
    if not 1 <= max_items <= 50:
        raise UserError("A digest holds 1 to 50 summaries.")
    wanted = Subscription(
        guild_id=guild_id,
        channel_id=channel_id,
        schedule=schedule,
        timezone=timezone,
        categories=tuple(parse_categories(categories)),
        max_items=max_items,
        require_approval=require_approval,
    )
    try:
        channel, created = await ctx.write(channel_store.subscribe, wanted, ctx.clock())
    except channel_store.ConfiguredElsewhere as error:
        raise UserError(
            f"This channel is the digest channel “{error.name}” of config.toml; "
            "the operator manages it there."
        ) from None
    verb = "now receives" if created else "receives (settings updated)"
    return Reply(
        title="Digest channel",
        text=f"This channel {verb} digests of new community summaries: {_describe(channel)}.",
        tone=Tone.SUCCESS,
    )


async def unsubscribe(ctx: CommandContext, actor: Actor, *, channel_id: int) -> Reply:
    """Admins only: a chat-subscribed channel stops getting digests (config.toml's stay)."""
    _require_admin(actor)
    if not await ctx.write(channel_store.unsubscribe, channel_id, ctx.clock()):
        raise UserError("This channel is not a digest channel. /digest list shows the ones here.")
    return Reply(
        title="Digest channel",
        text="This channel no longer receives digests.",
        tone=Tone.SUCCESS,
    )


async def list_subscriptions(ctx: CommandContext, actor: Actor, *, guild_id: int) -> Reply:
    """A server's digest channels and their settings; anyone may look, only admins change."""
    channels = await ctx.read(channel_store.enabled_in_guild, guild_id)
    if not channels:
        return Reply(
            title="Digest channels",
            text="No channel of this server receives digests. An admin can run "
            "/digest subscribe in one.",
            private=True,
        )
    return Reply(
        title="Digest channels",
        text=f"{counted(len(channels), 'channel')} of this server "
        f"{plural(len(channels), 'receives', 'receive')} digests.",
        fields=tuple(
            Field(
                f"#{channel.name}",
                f"<#{channel.discord_channel_id}>: {_describe(channel)}",
                inline=False,
            )
            for channel in channels
        ),
        private=True,
    )
