"""The channels there are: config.toml's, and Discord channels subscribed in the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage.models import Channel

CREDENTIAL_VARIABLES: Mapping[str, Mapping[str, str]] = {
    "x": {
        "api_key": "X_API_KEY",
        "api_secret": "X_API_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_TOKEN_SECRET",
    },
    "facebook": {"page_token": "FACEBOOK_PAGE_TOKEN"},
    "mastodon": {"access_token": "MASTODON_ACCESS_TOKEN"},
    "bluesky": {"handle": "BLUESKY_HANDLE", "app_password": "BLUESKY_APP_PASSWORD"},
    "discord": {"webhook_url": "DISCORD_WEBHOOK_URL"},
    "outbox": {},
}
"""Per kind: each credential a channel's client needs, and the variable it is read from."""


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


def catalogue(session: Session, configured: Iterable[ChannelSettings]) -> list[ChannelSettings]:
    """Every channel that takes digests: config.toml's first, then the subscribed ones."""
    channels = list(configured)
    names = {channel.name for channel in channels}
    channels += [
        from_stored(row) for row in channel_store.subscribed(session) if row.name not in names
    ]
    return channels
