"""Auto-lookup: the channels where it is switched on, and its per-paper cooldown."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import AutolookupChannel, AutolookupReply
from storage.writes import changed_rows


def enabled_channel_ids(session: Session) -> set[int]:
    """The Discord channels where pasted arXiv links are looked up by themselves."""
    return set(session.scalars(select(AutolookupChannel.discord_channel_id)).all())


def switch(
    session: Session, *, channel_id: int, guild_id: int | None, user_id: int, on: bool
) -> bool:
    """Switch a channel on or off; returns whether anything changed."""
    row = session.get(AutolookupChannel, channel_id)
    if on and row is None:
        session.add(
            AutolookupChannel(
                discord_channel_id=channel_id, discord_guild_id=guild_id, enabled_by_id=user_id
            )
        )
        return True
    if not on and row is not None:
        session.execute(
            delete(AutolookupChannel).where(AutolookupChannel.discord_channel_id == channel_id)
        )
        return True
    return False


def claim_reply(
    session: Session, *, channel_id: int, paper_id: int, now: datetime, cooldown: timedelta
) -> bool:
    """Take the channel's turn for a paper, unless it was answered within the cooldown.

    A conditional UPDATE, or an INSERT that a concurrent one beats through the primary
    key: two processes seeing the same link answer once between them.
    """
    moved = changed_rows(
        session,
        update(AutolookupReply)
        .where(
            AutolookupReply.discord_channel_id == channel_id,
            AutolookupReply.paper_id == paper_id,
            AutolookupReply.replied_at <= now - cooldown,
        )
        .values(replied_at=now),
    )
    if moved == 1:
        return True
    if session.get(AutolookupReply, (channel_id, paper_id)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                AutolookupReply(discord_channel_id=channel_id, paper_id=paper_id, replied_at=now)
            )
    except IntegrityError:
        return False
    return True
