"""Publishing notices on their way to the moderation channel: each posted at most once.

The conditional ``posted_at`` update is the claim, made before the send; a failed send
gives the claim back (:func:`release_notice`), unless another process claimed it since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage import deliveries as outbox
from storage.models import PublishingNotice
from storage.writes import changed_rows


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    text: str
    claimed_at: datetime
    """The ``posted_at`` this process wrote; giving the claim back is conditional on it."""


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
