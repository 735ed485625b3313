"""Discord channels that receive digests: subscribed by server admins, kept in the database."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Field, Reply, Tone
from bot.errors import UserError
from publishers.schedules import SCHEDULE_EXAMPLE, cron_trigger
from storage.models import Channel, ChannelKind, ChannelOrigin
from storage.types import utcnow

_CATEGORY = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?")
MAX_CATEGORIES = 10


def channel_name(channel_id: int) -> str:
    return f"discord-{channel_id}"


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


def _subscribe(
    session: Session,
    guild_id: int,
    channel_id: int,
    schedule: str,
    timezone: str,
    categories: list[str],
    max_items: int,
    require_approval: bool,
) -> tuple[Channel, bool]:
    channel = session.scalars(
        select(Channel).where(Channel.discord_channel_id == channel_id)
    ).one_or_none()
    created = channel is None
    if channel is None:
        channel = Channel(
            name=channel_name(channel_id),
            kind=ChannelKind.DISCORD,
            origin=ChannelOrigin.DISCORD,
            discord_channel_id=channel_id,
        )
        session.add(channel)
    elif channel.origin is not ChannelOrigin.DISCORD:
        raise UserError(
            f"This channel is the digest channel “{channel.name}” of config.toml; "
            "the operator manages it there."
        )
    channel.discord_guild_id = guild_id
    channel.schedule = schedule
    channel.timezone = timezone
    channel.category_filter = ",".join(categories) or None
    channel.max_items = max_items
    channel.require_approval = require_approval
    channel.enabled = True
    channel.updated_at = utcnow()
    session.flush()
    return channel, created


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
    wanted = parse_categories(categories)
    channel, created = await ctx.write(
        _subscribe, guild_id, channel_id, schedule, timezone, wanted, max_items, require_approval
    )
    verb = "now receives" if created else "receives (settings updated)"
    return Reply(
        title="Digest channel",
        text=f"This channel {verb} digests of new community summaries: {_describe(channel)}.",
        tone=Tone.SUCCESS,
    )


def _unsubscribe(session: Session, channel_id: int) -> bool:
    channel = session.scalars(
        select(Channel).where(Channel.discord_channel_id == channel_id)
    ).one_or_none()
    if channel is None or not channel.enabled or channel.origin is not ChannelOrigin.DISCORD:
        return False
    # Kept, not deleted: its digests and deliveries are history that points at it.
    channel.enabled = False
    channel.updated_at = utcnow()
    return True


async def unsubscribe(ctx: CommandContext, actor: Actor, *, channel_id: int) -> Reply:
    _require_admin(actor)
    if not await ctx.write(_unsubscribe, channel_id):
        raise UserError("This channel is not a digest channel. /digest list shows the ones here.")
    return Reply(
        title="Digest channel",
        text="This channel no longer receives digests.",
        tone=Tone.SUCCESS,
    )


def _list(session: Session, guild_id: int) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.discord_guild_id == guild_id, Channel.enabled.is_(True))
            .order_by(Channel.name)
        ).all()
    )


async def list_subscriptions(ctx: CommandContext, actor: Actor, *, guild_id: int) -> Reply:
    channels = await ctx.read(_list, guild_id)
    if not channels:
        return Reply(
            title="Digest channels",
            text="No channel of this server receives digests. An admin can run "
            "/digest subscribe in one.",
            private=True,
        )
    return Reply(
        title="Digest channels",
        text=f"{len(channels)} channel{'s' if len(channels) != 1 else ''} of this server "
        "receive digests.",
        fields=tuple(
            Field(
                f"#{channel.name}",
                f"<#{channel.discord_channel_id}>: {_describe(channel)}",
                inline=False,
            )
            for channel in channels[:25]
        ),
        private=True,
    )
