"""Which approved summaries a channel's next digest holds.

A summary goes to a channel at most once: ``digest_items`` has a unique key on (channel,
summary), so a summary in any digest of the channel (sent, waiting for a moderator,
being sent, or rejected) is never picked again; a summary a moderator dropped from a
draft has no item any more and is back in the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from storage.models import DigestItem, PaperCategory, Summary, SummaryStatus
from storage.votes import score_of


@dataclass(frozen=True)
class Selection:
    """A channel's rules for what goes into its digests."""

    channel_id: int | None
    """None for a channel not stored yet (a preview before its first digest)."""
    max_items: int
    categories: Sequence[str] = ()
    """arXiv categories (``cs.LG``) or whole archives (``cs``); empty means all."""
    max_age_days: float | None = None
    min_score: int | None = None
    """Only summaries the community scored at least this high."""


def candidates(session: Session, selection: Selection, now: datetime) -> list[Summary]:
    """The newest approved summaries the channel has never had, newest first."""
    query = (
        select(Summary)
        .where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.approved_at.desc(), Summary.id.desc())
        .limit(selection.max_items)
    )
    if selection.channel_id is not None:
        query = query.where(
            ~exists().where(
                DigestItem.channel_id == selection.channel_id,
                DigestItem.summary_id == Summary.id,
            )
        )
    if selection.min_score is not None:
        query = query.where(score_of() >= selection.min_score)
    if selection.max_age_days is not None:
        query = query.where(Summary.approved_at >= now - timedelta(days=selection.max_age_days))
    if selection.categories:
        matches = []
        for category in selection.categories:
            if "." in category:
                matches.append(PaperCategory.category == category)
            else:  # a whole archive: "cs" takes cs.LG, cs.CL, ...
                matches.append(PaperCategory.category.like(f"{category}.%"))
                matches.append(PaperCategory.category == category)
        query = query.where(
            exists().where(PaperCategory.paper_id == Summary.paper_id, or_(*matches))
        )
    return list(session.scalars(query).all())
