"""Cards for draft digests in the Discord moderation channel, and the notices posted there.

A card is posted the way summary cards are (``storage.queue_cards``): claim, send,
confirm. The claim is the ``digest_cards`` row, written before anything is sent, so two
processes never post one digest twice. A claim whose sender died, or whose send failed,
is taken again after ``STALE_CLAIM`` and marked a retry: the first attempt may have
reached Discord without an answer, so the sender looks in the channel before sending.

A posted card stays open while its digest is a draft. Once it is approved, rejected or
emptied (on Discord, in the terminal, by another process) the card is due to be closed.

Publishing notices are posted at most once: the conditional ``posted_at`` update is the
claim, made before the send; a failed send gives the claim back (:func:`release_notice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import deliveries as outbox
from storage.models import Digest, DigestCard, DigestStatus, PublishingNotice
from storage.writes import changed_rows

STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    digest_id: int
    revision: int
    retry: bool
    """An earlier attempt may have posted this card: look for it before sending."""


@dataclass(frozen=True)
class OpenCard:
    """A posted card: where it is, so it can be edited."""

    digest_id: int
    channel_id: int
    message_id: int
    revision: int = 0
    """The revision it shows; a draft changed since is drawn again rather than closed."""


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    text: str
    claimed_at: datetime
    """The ``posted_at`` this process wrote; giving the claim back is conditional on it."""


def claim_unposted(session: Session, now: datetime, limit: int = 10) -> list[Claim]:
    """Claim up to ``limit`` draft digests that have no card yet, then stale claims."""
    fresh = session.execute(
        select(Digest.id, Digest.revision)
        .outerjoin(DigestCard, DigestCard.digest_id == Digest.id)
        .where(Digest.status == DigestStatus.DRAFT, DigestCard.digest_id.is_(None))
        .order_by(Digest.id)
        .limit(limit)
    ).all()
    claims: list[Claim] = []
    for digest_id, revision in fresh:
        try:
            with session.begin_nested():
                session.add(DigestCard(digest_id=digest_id, claimed_at=now, revision=revision))
        except IntegrityError:
            continue  # another process claimed it a moment ago
        claims.append(Claim(digest_id, revision, retry=False))
    if len(claims) >= limit:
        return claims
    stale = session.execute(
        select(DigestCard.digest_id, DigestCard.claimed_at, Digest.revision)
        .join(Digest, Digest.id == DigestCard.digest_id)
        .where(
            Digest.status == DigestStatus.DRAFT,
            DigestCard.discord_message_id.is_(None),
            DigestCard.claimed_at < now - STALE_CLAIM,
        )
        .order_by(DigestCard.digest_id)
        .limit(limit - len(claims))
    ).all()
    for digest_id, claimed_at, revision in stale:
        # Conditional on the claim time read: if another process took it first, no match.
        taken = changed_rows(
            session,
            update(DigestCard)
            .where(
                DigestCard.digest_id == digest_id,
                DigestCard.claimed_at == claimed_at,
                DigestCard.discord_message_id.is_(None),
            )
            .values(claimed_at=now, attempts=DigestCard.attempts + 1, revision=revision),
        )
        if taken == 1:
            claims.append(Claim(digest_id, revision, retry=True))
    return claims


def mark_posted(
    session: Session, claim: Claim, channel_id: int, message_id: int, now: datetime
) -> None:
    session.execute(
        update(DigestCard)
        .where(DigestCard.digest_id == claim.digest_id)
        .values(
            discord_channel_id=channel_id,
            discord_message_id=message_id,
            posted_at=now,
            revision=claim.revision,
        )
    )


def release(session: Session, claim: Claim, now: datetime) -> None:
    """Give a claim back after a failed send: the next sweep retries it, looking first."""
    session.execute(
        update(DigestCard)
        .where(DigestCard.digest_id == claim.digest_id, DigestCard.discord_message_id.is_(None))
        .values(claimed_at=now - STALE_CLAIM - timedelta(seconds=1))
    )


def outdated(session: Session, limit: int = 25) -> list[OpenCard]:
    """Posted cards still open although their digest is no longer a draft, or no longer
    the draft they show (a summary was taken out elsewhere)."""
    rows = session.execute(
        select(
            DigestCard.digest_id,
            DigestCard.discord_channel_id,
            DigestCard.discord_message_id,
            DigestCard.revision,
        )
        .join(Digest, Digest.id == DigestCard.digest_id)
        .where(
            DigestCard.discord_message_id.is_not(None),
            DigestCard.closed_at.is_(None),
            or_(Digest.status != DigestStatus.DRAFT, Digest.revision != DigestCard.revision),
        )
        .order_by(DigestCard.digest_id)
        .limit(limit)
    ).all()
    return [
        OpenCard(digest_id, int(channel_id), int(message_id), revision)
        for digest_id, channel_id, message_id, revision in rows
        if channel_id is not None and message_id is not None
    ]


def mark_redrawn(session: Session, card: OpenCard, revision: int) -> None:
    """The card was drawn again and shows ``revision`` now."""
    session.execute(
        update(DigestCard)
        .where(
            DigestCard.digest_id == card.digest_id,
            DigestCard.discord_message_id == card.message_id,
        )
        .values(revision=revision)
    )


def mark_closed(session: Session, card: OpenCard, now: datetime) -> None:
    """The card at ``card.message_id`` says what became of its digest; another message
    (an older copy someone pressed) leaves the recorded card to the sweep."""
    session.execute(
        update(DigestCard)
        .where(
            DigestCard.digest_id == card.digest_id,
            DigestCard.discord_message_id == card.message_id,
            DigestCard.closed_at.is_(None),
        )
        .values(closed_at=now)
    )


def card_of(session: Session, digest_id: int) -> OpenCard | None:
    """Where a digest's card was posted, if it was."""
    row = session.get(DigestCard, digest_id)
    if row is None or row.discord_channel_id is None or row.discord_message_id is None:
        return None
    return OpenCard(
        digest_id, int(row.discord_channel_id), int(row.discord_message_id), row.revision
    )


# -- notices ----------------------------------------------------------------------------------


def claim_notices(session: Session, now: datetime, limit: int = 10) -> list[ClaimedNotice]:
    """Take the notices nobody posted yet; each conditional, so of two processes one wins."""
    claimed = []
    for notice in outbox.unposted_notices(session, limit=limit):
        if outbox.mark_notice_posted(session, notice.id, now):
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
