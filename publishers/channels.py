"""The channels there are: config.toml's, and Discord channels subscribed in the database.

The mapping between a channel's settings and its stored row is written here, both ways,
so the settings stay defined once (``publishers.settings``) and the table only stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from publishers.settings import CREDENTIAL_VARIABLES, ChannelSettings
from storage import channels as channel_store
from storage.database import Database
from storage.models import Channel, ChannelOrigin

__all__ = [
    "CREDENTIAL_VARIABLES",
    "ChannelDirectory",
    "catalogue",
    "from_stored",
    "stored_row",
    "subscribed_shape",
]


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


def subscribed_shape() -> ChannelSettings:
    """What every subscribed channel looks like to the delivery side (its kind, a channel
    id, no credentials of its own), so whether a process sends them is asked once."""
    return ChannelSettings(
        name="subscribed", kind="discord", discord_channel_id=1, origin="discord"
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


class ChannelDirectory:
    """The channels a publisher serves, read the way a bot in thousands of servers can
    afford: config.toml's held in memory, a subscribed one read by its name alone (a
    scheduled digest, a claimed part), and all of them together only when a list is
    wanted (`digest status`, the scheduler's jobs). Reading 10,000 subscriptions whole
    takes more than a second, which each of 10,000 digests due at 09:00 cannot pay.

    A directory over a plain list (``of``) is what tests and one-off commands hand a
    publisher: every channel in it counts as configured.
    """

    def __init__(
        self,
        configured: Callable[[], Sequence[ChannelSettings]],
        db: Database | None = None,
    ) -> None:
        self._configured = configured
        self.db = db
        """Where subscribed channels are read; None: there are none."""

    @classmethod
    def of(cls, channels: Callable[[], Iterable[ChannelSettings]]) -> ChannelDirectory:
        """A directory of the channels ``channels`` lists, all counted as configured."""
        return cls(lambda: list(channels()))

    def __call__(self) -> list[ChannelSettings]:
        """Every channel: config.toml's first, then the subscribed ones."""
        if self.db is None:
            return list(self._configured())
        with self.db.sessions() as session:
            return catalogue(session, self._configured())

    def configured(self) -> Sequence[ChannelSettings]:
        """config.toml's channels (or the plain list's): few, held in memory."""
        return self._configured()

    @property
    def has_subscriptions(self) -> bool:
        """Whether channels beyond the configured ones may exist (subscribed from chat)."""
        return self.db is not None

    def named(self, name: str) -> ChannelSettings | None:
        """One channel by name: config.toml's word first, as in the whole list."""
        if (configured := self._configured_named(name)) is not None:
            return configured
        if self.db is None:
            return None
        with self.db.sessions() as session:
            row = channel_store.subscribed_named(session, name)
            return None if row is None else from_stored(row)

    def settings_of(self, row: Channel) -> ChannelSettings | None:
        """The settings of a stored channel: config.toml's when it names it, else the
        row's own if it is a subscription not stopped; None for a channel gone."""
        if (configured := self._configured_named(row.name)) is not None:
            return configured
        if self.db is None or row.origin is not ChannelOrigin.DISCORD or not row.enabled:
            return None
        return from_stored(row)

    def schedules(self) -> set[tuple[str, str]]:
        """Every (schedule, time zone) some channel uses: what the scheduler has a job
        for, read without reading every subscription."""
        used = {(channel.schedule, channel.timezone) for channel in self._configured()}
        if self.db is not None:
            with self.db.sessions() as session:
                used |= channel_store.subscribed_schedules(session)
        return used

    def _configured_named(self, name: str) -> ChannelSettings | None:
        return next((channel for channel in self._configured() if channel.name == name), None)

    def marker(self) -> tuple[object, ...] | None:
        """Changes whenever the subscriptions do (see ``storage.channels``); None for a
        plain list, which can change without a trace, so it is always read again."""
        if self.db is None:
            return None
        with self.db.sessions() as session:
            return channel_store.subscriptions_marker(session)
