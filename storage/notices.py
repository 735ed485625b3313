"""Publishing notices on their way to the moderation channel: each posted at most once.

The conditional ``posted_at`` update is the claim, made before the send; a failed send
gives the claim back (:func:`release_notice`), unless another process claimed it since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import PublishingNotice
from storage.writes import changed_rows


def add_notice(
    session: Session, channel_id: int, digest_id: int | None, text: str, now: datetime
) -> None:
    """Queue a word for the moderators (a stopped channel, a held part); posted once."""
    session.add(
        PublishingNotice(channel_id=channel_id, digest_id=digest_id, text=text, created_at=now)
    )
    session.flush()


def unposted_notices(session: Session, limit: int = 10) -> list[PublishingNotice]:
    """The oldest notices nobody posted yet, for the moderation channel."""
    return list(
        session.scalars(
            select(PublishingNotice)
            .where(PublishingNotice.posted_at.is_(None))
            .order_by(PublishingNotice.id)
            .limit(limit)
        ).all()
    )


def mark_notice_posted(session: Session, notice_id: int, now: datetime) -> bool:
    """Conditional: of two processes posting notices, one posts each."""
    return (
        changed_rows(
            session,
            update(PublishingNotice)
            .where(PublishingNotice.id == notice_id, PublishingNotice.posted_at.is_(None))
            .values(posted_at=now),
        )
        == 1
    )


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    text: str
    claimed_at: datetime
    """The ``posted_at`` this process wrote; giving the claim back is conditional on it."""


def claim_notices(session: Session, now: datetime, limit: int = 10) -> list[ClaimedNotice]:
    """Take the notices nobody posted yet; each conditional, so of two processes one wins."""
    claimed = []
    for notice in unposted_notices(session, limit=limit):
        if mark_notice_posted(session, notice.id, now):
            claimed.append(ClaimedNotice(notice.id, notice.text, now))
    return claimed


def release_notice(session: Session, notice: ClaimedNotice) -> bool:
    """The send failed: the notice is unposted again, unless someone else took it since."""
    return (
        changed_rows(
            session,
            update(PublishingNotice)
            .where(
                PublishingNotice.id == notice.id,
                PublishingNotice.posted_at == notice.claimed_at,
            )
            .values(posted_at=None),
        )
        == 1
    )
