"""Which pending summaries still need a card in the moderation channel.

Posting is claim, send, confirm: the claim is a row written before anything is sent, so
two processes never post the same revision twice; a claim whose sender died is taken
over after ``STALE_CLAIM``; a failed send releases it for the next sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import QueueCard, Summary, SummaryStatus

STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    summary_id: int
    revision: int
    previous: int | None
    """The revision a card showed before (an edited summary), None for a first card."""


def claim_unposted(session: Session, now: datetime, limit: int = 10) -> list[Claim]:
    """Claim up to ``limit`` pending summaries whose current revision has no card yet."""
    stale = now - STALE_CLAIM
    rows = session.execute(
        select(Summary.id, Summary.revision, QueueCard.revision, QueueCard.discord_message_id)
        .outerjoin(QueueCard, QueueCard.summary_id == Summary.id)
        .where(
            Summary.status == SummaryStatus.PENDING,
            or_(
                QueueCard.summary_id.is_(None),
                QueueCard.revision < Summary.revision,
                and_(QueueCard.discord_message_id.is_(None), QueueCard.claimed_at < stale),
            ),
        )
        .order_by(Summary.id)
        .limit(limit)
    ).all()
    claims: list[Claim] = []
    for summary_id, revision, shown, message_id in rows:
        if shown is None:
            try:
                with session.begin_nested():
                    session.add(QueueCard(summary_id=summary_id, revision=revision, claimed_at=now))
            except IntegrityError:
                continue  # another process claimed it a moment ago
            claims.append(Claim(summary_id, revision, None))
            continue
        # Conditional on what was read: if another process moved first, this matches nothing.
        same_card = (
            QueueCard.discord_message_id.is_(None)
            if message_id is None
            else QueueCard.discord_message_id == message_id
        )
        taken = session.execute(
            update(QueueCard)
            .where(QueueCard.summary_id == summary_id, QueueCard.revision == shown, same_card)
            .values(revision=revision, claimed_at=now, discord_message_id=None, posted_at=None)
        )
        if taken.rowcount == 1:
            previous = shown if message_id is not None else None
            claims.append(Claim(summary_id, revision, previous))
    return claims


def mark_posted(
    session: Session, claim: Claim, channel_id: int, message_id: int, now: datetime
) -> None:
    session.execute(
        update(QueueCard)
        .where(QueueCard.summary_id == claim.summary_id, QueueCard.revision == claim.revision)
        .values(discord_channel_id=channel_id, discord_message_id=message_id, posted_at=now)
    )


def release(session: Session, claim: Claim) -> None:
    """Give a claim back after a failed send, so the next sweep tries again."""
    mine = and_(QueueCard.summary_id == claim.summary_id, QueueCard.revision == claim.revision)
    if claim.previous is None:
        session.execute(delete(QueueCard).where(mine))
    else:
        session.execute(update(QueueCard).where(mine).values(revision=claim.previous))
