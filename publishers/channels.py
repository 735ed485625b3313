"""The channels there are: config.toml's, and Discord channels subscribed in the database.

The mapping between a channel's settings and its stored row is written here, both ways,
so the settings stay defined once (``publishers.settings``) and the table only stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from publishers.settings import CREDENTIAL_VARIABLES, ChannelSettings
from storage import channels as channel_store
from storage.models import Channel

__all__ = ["CREDENTIAL_VARIABLES", "catalogue", "from_stored", "stored_row"]


def from_stored(row: Channel) -> ChannelSettings:
    """A channel subscribed in Discord: its stored settings, defaults for the rest."""
    return ChannelSettings(
        name=row.name,
        kind=row.kind.value,
        schedule=row.schedule,
        timezone=row.timezone,
        require_approval=row.require_approval,
        max_items=row.max_items,
        categories=tuple(row.category_filter.split(",")) if row.category_filter else (),
        discord_channel_id=row.discord_channel_id,
        origin="discord",
    )


def stored_row(session: Session, channel: ChannelSettings, now: datetime) -> Channel:
    """The channel's row, created or brought in line with config.toml (digests point at it);
    a subscribed Discord channel keeps the settings stored for it."""
    return channel_store.sync(
        session,
        channel.name,
        channel.kind,
        {
            "schedule": channel.schedule,
            "timezone": channel.timezone,
            "require_approval": channel.require_approval,
            "max_items": channel.max_items,
            "api_base": channel.api_base,
            "category_filter": ",".join(channel.categories) or None,
            "discord_channel_id": channel.discord_channel_id,
        },
        configured=channel.origin == "config",
        now=now,
    )


def catalogue(session: Session, configured: Iterable[ChannelSettings]) -> list[ChannelSettings]:
    """Every channel that takes digests: config.toml's first, then the subscribed ones."""
    channels = list(configured)
    names = {channel.name for channel in channels}
    channels += [
        from_stored(row) for row in channel_store.subscribed(session) if row.name not in names
    ]
    return channels
