"""Publishing channels as stored: the ones from config.toml and the ones subscribed in Discord."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Channel, ChannelKind, ChannelOrigin
from storage.writes import changed_rows


class ConfiguredElsewhere(Exception):
    """The Discord channel is a channel of config.toml; only the operator changes it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Subscription:
    """What an admin asked for with /digest subscribe."""

    guild_id: int
    channel_id: int
    schedule: str
    timezone: str
    categories: tuple[str, ...]
    max_items: int
    require_approval: bool


def discord_channel_name(channel_id: int) -> str:
    """The name a subscribed Discord channel is known by on the command line."""
    return f"discord-{channel_id}"


def by_discord_channel(session: Session, channel_id: int) -> Channel | None:
    """The channel row of a Discord channel, configured or subscribed."""
    return session.scalars(
        select(Channel).where(Channel.discord_channel_id == channel_id)
    ).one_or_none()


def subscribe(session: Session, wanted: Subscription, now: datetime) -> tuple[Channel, bool]:
    """Make a Discord channel a digest channel or change its settings; (channel, created)."""
    channel = by_discord_channel(session, wanted.channel_id)
    created = channel is None
    if channel is None:
        channel = Channel(
            name=discord_channel_name(wanted.channel_id),
            kind=ChannelKind.DISCORD,
            origin=ChannelOrigin.DISCORD,
            discord_channel_id=wanted.channel_id,
            created_at=now,
        )
        session.add(channel)
    elif channel.origin is not ChannelOrigin.DISCORD:
        raise ConfiguredElsewhere(channel.name)
    channel.discord_guild_id = wanted.guild_id
    channel.schedule = wanted.schedule
    channel.timezone = wanted.timezone
    channel.category_filter = ",".join(wanted.categories) or None
    channel.max_items = wanted.max_items
    channel.require_approval = wanted.require_approval
    channel.enabled = True
    channel.updated_at = now
    session.flush()
    return channel, created


def unsubscribe(session: Session, channel_id: int, now: datetime) -> bool:
    """Stop a subscribed Discord channel; kept, not deleted: its digests point at it."""
    channel = by_discord_channel(session, channel_id)
    if channel is None or not channel.enabled or channel.origin is not ChannelOrigin.DISCORD:
        return False
    channel.enabled = False
    channel.updated_at = now
    return True


def enabled_in_guild(session: Session, guild_id: int) -> list[Channel]:
    """A server's subscribed channels, for its admins' /digest list."""
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.discord_guild_id == guild_id, Channel.enabled.is_(True))
            .order_by(Channel.name)
        ).all()
    )


def by_name(session: Session, name: str) -> Channel | None:
    """A channel by the name the command line and config.toml use."""
    return session.scalars(select(Channel).where(Channel.name == name)).one_or_none()


def hold_for_build(session: Session, channel_id: int) -> None:
    """Take the channel's row until the transaction ends, so two builds of one channel
    take turns (PostgreSQL's row lock; SQLite's writers take turns anyway): the second
    sees the first's digest, its summaries and what it will cost, before choosing."""
    session.execute(select(Channel.id).where(Channel.id == channel_id).with_for_update())


def mark_due(session: Session, channel_id: int, at: datetime) -> None:
    """The channel's scheduled digest is due from ``at``; an earlier mark not yet built
    stays (one digest takes whatever the channel has not had, so two marks make one)."""
    session.execute(
        update(Channel)
        .where(Channel.id == channel_id, Channel.digest_due_at.is_(None))
        .values(digest_due_at=at)
        .execution_options(synchronize_session=False)
    )


def mark_subscribed_due(session: Session, name: str, at: datetime) -> None:
    """:func:`mark_due` for a subscribed channel, by its name: one statement, for the
    thousands of subscriptions due at 09:00."""
    session.execute(
        update(Channel)
        .where(
            Channel.name == name,
            Channel.origin == ChannelOrigin.DISCORD,
            Channel.digest_due_at.is_(None),
        )
        .values(digest_due_at=at)
        .execution_options(synchronize_session=False)
    )


def mark_subscriptions_due(
    session: Session, schedule: str, timezone: str, at: datetime, *, besides: Collection[str]
) -> int:
    """Every subscription on ``schedule`` in ``timezone`` is due from ``at`` (those named in
    ``besides`` excepted: config.toml's word is theirs): one statement for the thousands of
    subscriptions due at 09:00. Returns how many were marked (an earlier mark stays)."""
    return changed_rows(
        session,
        update(Channel)
        .where(
            Channel.origin == ChannelOrigin.DISCORD,
            Channel.enabled.is_(True),
            Channel.schedule == schedule,
            Channel.timezone == timezone,
            Channel.digest_due_at.is_(None),
            Channel.name.not_in(list(besides)),
        )
        .values(digest_due_at=at)
        .execution_options(synchronize_session=False),
    )


def subscribed_schedules(session: Session) -> set[tuple[str, str]]:
    """The (schedule, time zone) pairs the subscriptions not stopped use: a few, however
    many subscriptions share them."""
    rows = session.execute(
        select(Channel.schedule, Channel.timezone)
        .where(Channel.origin == ChannelOrigin.DISCORD, Channel.enabled.is_(True))
        .distinct()
    ).all()
    return {(schedule, timezone) for schedule, timezone in rows}


def next_due(session: Session, limit: int = 1) -> list[Channel]:
    """Up to ``limit`` channels whose digests have been due longest, held until the
    transaction ends. On PostgreSQL channels another process is building are skipped
    (``SKIP LOCKED``), so several processes build side by side; SQLite's writers take
    turns."""
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.digest_due_at.is_not(None))
            .order_by(Channel.digest_due_at, Channel.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def any_due(session: Session) -> bool:
    """Whether any channel's digest is due (the partial index: empty between times)."""
    found = session.scalar(select(Channel.id).where(Channel.digest_due_at.is_not(None)).limit(1))
    return found is not None


def clear_due(session: Session, channel_ids: Collection[int]) -> None:
    """These channels' due digests are built (or could not be: they wait for their next
    time). Rows of the session are updated with it, so building them writes no mark."""
    session.execute(
        update(Channel)
        .where(Channel.id.in_(list(channel_ids)))
        .values(digest_due_at=None)
        .execution_options(synchronize_session="evaluate")
    )


def subscribed_named(session: Session, name: str) -> Channel | None:
    """A subscribed Discord channel not stopped since, by name: one row, not all of them."""
    return session.scalars(
        select(Channel).where(
            Channel.name == name,
            Channel.origin == ChannelOrigin.DISCORD,
            Channel.enabled.is_(True),
        )
    ).one_or_none()


def subscriptions_marker(session: Session) -> tuple[object, ...]:
    """What changes whenever a Discord channel is subscribed, changed or stopped: cheap
    to read, so a process holding thousands of subscriptions reads them all again only
    when it changed (and now and then regardless, see ``publishers.scheduler``)."""
    found = session.execute(
        select(func.count(), func.max(Channel.id), func.max(Channel.updated_at)).where(
            Channel.origin == ChannelOrigin.DISCORD
        )
    ).one()
    return tuple(found)


def subscribed(session: Session) -> list[Channel]:
    """Discord channels subscribed with /digest subscribe and not stopped since."""
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.origin == ChannelOrigin.DISCORD, Channel.enabled.is_(True))
            .order_by(Channel.name)
        ).all()
    )


def sync(
    session: Session,
    name: str,
    kind: str,
    settings: Mapping[str, object],
    *,
    configured: bool,
    now: datetime,
) -> Channel:
    """The stored row of a channel, created or brought in line with ``settings`` (column
    values) when the channel is ``configured`` (config.toml's word wins). Digests point at
    channel rows; a config channel gets its row when its first digest is built. A
    subscribed Discord channel keeps the settings stored for it.
    """
    row = by_name(session, name)
    if row is None:
        row = Channel(name=name, kind=ChannelKind(kind), created_at=now)
        session.add(row)
    if row.origin is ChannelOrigin.DISCORD or not configured:
        session.flush()
        return row
    row.kind = ChannelKind(kind)
    for column, value in settings.items():
        setattr(row, column, value)
    row.enabled = True
    row.updated_at = now
    session.flush()
    return row


def refuse_replies(session: Session, channel_id: int, now: datetime) -> bool:
    """Mark a channel as refused replies; True the first time (moderators are told once)."""
    return (
        changed_rows(
            session,
            update(Channel)
            .where(Channel.id == channel_id, Channel.replies_refused_at.is_(None))
            .values(replies_refused_at=now),
        )
        == 1
    )


def resume(session: Session, name: str, now: datetime) -> bool:
    """Start a stopped channel again (after its token was fixed); False if it was not stopped."""
    return (
        changed_rows(
            session,
            update(Channel)
            .where(Channel.name == name, Channel.stopped_at.is_not(None))
            .values(stopped_at=None, stop_reason=None, updated_at=now),
        )
        == 1
    )
