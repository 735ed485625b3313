"""Summaries and their moderation: every change of state goes with an audit-log row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import ModerationAction, ModerationEvent, Summary, SummaryStatus, User
from storage.types import utcnow

ACTIVE_STATUSES = (SummaryStatus.PENDING, SummaryStatus.APPROVED)


def get_or_create_user(
    session: Session, platform: str, external_id: str, display_name: str
) -> User:
    """The user row for a chat identity; a changed display name is kept up to date."""
    user = session.scalars(
        select(User).where(User.platform == platform, User.external_id == external_id)
    ).one_or_none()
    if user is None:
        user = User(platform=platform, external_id=external_id, display_name=display_name[:100])
        session.add(user)
        session.flush()
    elif user.display_name != display_name[:100]:
        user.display_name = display_name[:100]
    return user


def get(session: Session, summary_id: int) -> Summary | None:
    return session.get(Summary, summary_id)


def record(
    session: Session,
    summary: Summary,
    actor: User,
    action: ModerationAction,
    reason: str | None = None,
) -> ModerationEvent:
    event = ModerationEvent(summary_id=summary.id, actor_id=actor.id, action=action, reason=reason)
    session.add(event)
    return event


def create(
    session: Session,
    paper_id: int,
    author: User,
    tldr: str,
    body: str,
    *,
    now: datetime | None = None,
) -> Summary:
    now = now or utcnow()
    summary = Summary(
        paper_id=paper_id,
        author_id=author.id,
        tldr=tldr,
        body=body,
        created_at=now,
        updated_at=now,
    )
    session.add(summary)
    session.flush()
    record(session, summary, author, ModerationAction.SUBMITTED)
    return summary


def active_for_author(session: Session, paper_id: int, author_id: int) -> Summary | None:
    """The author's pending or approved summary of a paper, if any."""
    return session.scalars(
        select(Summary)
        .where(
            Summary.paper_id == paper_id,
            Summary.author_id == author_id,
            Summary.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Summary.id)
        .limit(1)
    ).first()


def submitted_since(session: Session, author_id: int, since: datetime) -> list[datetime]:
    """When the author submitted, oldest first, within the window (for the rate limit)."""
    return list(
        session.scalars(
            select(Summary.created_at)
            .where(Summary.author_id == author_id, Summary.created_at >= since)
            .order_by(Summary.created_at)
        ).all()
    )


def approved_for_paper(session: Session, paper_id: int) -> list[Summary]:
    return list(
        session.scalars(
            select(Summary)
            .where(Summary.paper_id == paper_id, Summary.status == SummaryStatus.APPROVED)
            .order_by(Summary.approved_at, Summary.id)
        ).all()
    )


def for_author(session: Session, author_id: int, limit: int = 25) -> list[Summary]:
    return list(
        session.scalars(
            select(Summary)
            .where(Summary.author_id == author_id)
            .order_by(Summary.id.desc())
            .limit(limit)
        ).all()
    )


def pending(session: Session, limit: int = 25) -> tuple[list[Summary], int]:
    """The oldest pending summaries first, and how many are pending in all."""
    total = session.scalar(
        select(func.count()).select_from(Summary).where(Summary.status == SummaryStatus.PENDING)
    )
    rows = session.scalars(
        select(Summary)
        .where(Summary.status == SummaryStatus.PENDING)
        .order_by(Summary.created_at, Summary.id)
        .limit(limit)
    ).all()
    return list(rows), int(total or 0)


def transition(
    session: Session,
    summary_id: int,
    *,
    expected: Sequence[SummaryStatus],
    to: SummaryStatus,
    values: dict[str, object] | None = None,
) -> bool:
    """Move a summary to ``to`` only if it is still in one of ``expected``.

    A single conditional UPDATE: when two moderators press at once, the database lets
    exactly one of them through and the other sees ``False``.
    """
    result = session.execute(
        update(Summary)
        .where(Summary.id == summary_id, Summary.status.in_(expected))
        .values(status=to, updated_at=utcnow(), **(values or {}))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        summary = session.get(Summary, summary_id)
        if summary is not None:
            session.refresh(summary)
        return True
    return False
