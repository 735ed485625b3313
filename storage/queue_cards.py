"""Cards in the Discord moderation channel: one per summary revision, kept true.

Posting is claim, send, confirm: the claim is a row written before anything is sent, so
two processes never post the same revision twice. A claim whose sender died, or whose
send failed, is taken again after ``STALE_CLAIM``; such a retry is marked, because the
first attempt may have reached Discord without an answer, and the sender must look for
that card in the channel before posting it again.

A posted card stays open while its summary is pending at that revision. Once the summary
is decided, withdrawn or edited (anywhere: Discord, the terminal, another process) the
card is due to be closed: edited to say so, its buttons removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import QueueCard, Summary, SummaryStatus
from storage.writes import changed_rows

STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    summary_id: int
    revision: int
    retry: bool
    """An earlier attempt may have posted this card: look for it before sending."""


@dataclass(frozen=True)
class OpenCard:
    """A posted card whose summary moved on: it must be edited to say so."""

    summary_id: int
    revision: int
    channel_id: int
    message_id: int


def claim_unposted(session: Session, now: datetime, limit: int = 10) -> list[Claim]:
    """Claim up to ``limit`` pending summaries whose current revision has no card yet."""
    fresh = session.execute(
        select(Summary.id, Summary.revision)
        .outerjoin(
            QueueCard,
            and_(QueueCard.summary_id == Summary.id, QueueCard.revision == Summary.revision),
        )
        .where(Summary.status == SummaryStatus.PENDING, QueueCard.summary_id.is_(None))
        .order_by(Summary.id)
        .limit(limit)
    ).all()
    claims: list[Claim] = []
    for summary_id, revision in fresh:
        try:
            with session.begin_nested():
                session.add(QueueCard(summary_id=summary_id, revision=revision, claimed_at=now))
        except IntegrityError:
            continue  # another process claimed it a moment ago
        claims.append(Claim(summary_id, revision, retry=False))
    if len(claims) >= limit:
        return claims
    stale = session.execute(
        select(QueueCard.summary_id, QueueCard.revision, QueueCard.claimed_at)
        .join(Summary, Summary.id == QueueCard.summary_id)
        .where(
            Summary.status == SummaryStatus.PENDING,
            Summary.revision == QueueCard.revision,
            QueueCard.discord_message_id.is_(None),
            QueueCard.claimed_at < now - STALE_CLAIM,
        )
        .order_by(QueueCard.summary_id)
        .limit(limit - len(claims))
    ).all()
    for summary_id, revision, claimed_at in stale:
        # Conditional on the claim time read: if another process took it first, no match.
        taken = changed_rows(
            session,
            update(QueueCard)
            .where(
                QueueCard.summary_id == summary_id,
                QueueCard.revision == revision,
                QueueCard.claimed_at == claimed_at,
                QueueCard.discord_message_id.is_(None),
            )
            .values(claimed_at=now, attempts=QueueCard.attempts + 1),
        )
        if taken == 1:
            claims.append(Claim(summary_id, revision, retry=True))
    return claims


def mark_posted(
    session: Session, claim: Claim, channel_id: int, message_id: int, now: datetime
) -> None:
    session.execute(
        update(QueueCard)
        .where(QueueCard.summary_id == claim.summary_id, QueueCard.revision == claim.revision)
        .values(discord_channel_id=channel_id, discord_message_id=message_id, posted_at=now)
    )


def release(session: Session, claim: Claim, now: datetime) -> None:
    """Give a claim back after a failed send: the next sweep retries it, looking first."""
    session.execute(
        update(QueueCard)
        .where(
            QueueCard.summary_id == claim.summary_id,
            QueueCard.revision == claim.revision,
            QueueCard.discord_message_id.is_(None),
        )
        .values(claimed_at=now - STALE_CLAIM - timedelta(seconds=1))
    )


def outdated(session: Session, limit: int = 25) -> list[OpenCard]:
    """Posted cards still open although their summary was decided, withdrawn or edited."""
    rows = session.execute(
        select(
            QueueCard.summary_id,
            QueueCard.revision,
            QueueCard.discord_channel_id,
            QueueCard.discord_message_id,
        )
        .join(Summary, Summary.id == QueueCard.summary_id)
        .where(
            QueueCard.discord_message_id.is_not(None),
            QueueCard.closed_at.is_(None),
            or_(
                Summary.status != SummaryStatus.PENDING,
                Summary.revision != QueueCard.revision,
            ),
        )
        .order_by(QueueCard.summary_id, QueueCard.revision)
        .limit(limit)
    ).all()
    return [
        OpenCard(summary_id, revision, int(channel_id), int(message_id))
        for summary_id, revision, channel_id, message_id in rows
        if channel_id is not None and message_id is not None
    ]


def mark_closed(session: Session, card: OpenCard, now: datetime) -> None:
    session.execute(
        update(QueueCard)
        .where(QueueCard.summary_id == card.summary_id, QueueCard.revision == card.revision)
        .values(closed_at=now)
    )


def card_message(session: Session, summary_id: int, revision: int) -> int | None:
    """The message id of a revision's card, if it was posted."""
    return session.scalar(
        select(QueueCard.discord_message_id).where(
            QueueCard.summary_id == summary_id, QueueCard.revision == revision
        )
    )
