"""Summaries and their moderation: every change of state goes with an audit-log row.

Each rule that two concurrent calls could break is one statement the database decides:
a user is created with ``INSERT ... ON CONFLICT``, an author's one active summary of a
paper is a partial unique index, a submission window is counted under a row lock on the
author, and an edit or a decision is an ``UPDATE`` conditional on the status and the
revision that the caller saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from storage.models import ModerationAction, ModerationEvent, Summary, SummaryStatus, User
from storage.types import utcnow
from storage.votes import score_of
from storage.writes import changed_rows, dialect_insert

ACTIVE_STATUSES = (SummaryStatus.PENDING, SummaryStatus.APPROVED)
DISPLAY_NAME_MAX = 100
EXTERNAL_ID_MAX = 64


class AlreadyActive(Exception):
    """The author already has a pending or approved summary of the paper."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"summary #{summary.id} is {summary.status.value}")
        self.summary = summary


def get_or_create_user(
    session: Session, platform: str, external_id: str, display_name: str
) -> User:
    """The user row for a chat identity; a changed display name is kept up to date.

    ``ON CONFLICT DO NOTHING`` then a read: a new user's first two commands at once both
    find the one row instead of one of them failing on the unique key.
    """
    name = display_name[:DISPLAY_NAME_MAX]
    session.execute(
        dialect_insert(session, User)
        .values(platform=platform, external_id=external_id, display_name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[User.platform, User.external_id])
    )
    user = session.scalars(
        select(User).where(User.platform == platform, User.external_id == external_id)
    ).one()
    if user.display_name != name:
        user.display_name = name
    return user


def lock_author(session: Session, user_id: int) -> None:
    """Serialise one author's submissions (the rate limit counts, then inserts).

    PostgreSQL takes a row lock until the transaction ends; SQLite's writers already
    take turns (BEGIN IMMEDIATE), and SQLAlchemy leaves FOR UPDATE out there.
    """
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def get(session: Session, summary_id: int) -> Summary | None:
    """A summary by its number, if there is one."""
    return session.get(Summary, summary_id)


def record(
    session: Session,
    summary: Summary,
    actor: User,
    action: ModerationAction,
    reason: str | None = None,
    *,
    now: datetime | None = None,
) -> ModerationEvent:
    """Write a moderation event: the audit log keeps who did what, why and when."""
    event = ModerationEvent(
        summary_id=summary.id,
        actor_id=actor.id,
        action=action,
        reason=reason,
        created_at=now or utcnow(),
    )
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
    anonymous: bool = False,
) -> Summary:
    """A new pending summary; ``AlreadyActive`` when the author has one of this paper."""
    now = now or utcnow()
    summary = Summary(
        paper_id=paper_id,
        author_id=author.id,
        tldr=tldr,
        body=body,
        created_at=now,
        updated_at=now,
        anonymous=anonymous,
    )
    try:
        with session.begin_nested():
            session.add(summary)
            session.flush()
    except IntegrityError:
        existing = active_for_author(session, paper_id, author.id)
        if existing is None:
            raise
        raise AlreadyActive(existing) from None
    record(session, summary, author, ModerationAction.SUBMITTED, now=now)
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
    """When the author submitted, oldest first, within the window (for the rate limit).

    Withdrawn and rejected summaries count too: withdrawing is no way around the limit.
    """
    return list(
        session.scalars(
            select(Summary.created_at)
            .where(Summary.author_id == author_id, Summary.created_at >= since)
            .order_by(Summary.created_at)
        ).all()
    )


def approved_for_paper(session: Session, paper_id: int) -> list[tuple[Summary, int]]:
    """A paper's approved summaries with their scores, best first (score, then newest).

    ``Summary.paper`` is not joined again: the caller has the paper already, and a second
    copy would have its authors and categories reloaded by selectin (statements that
    doubled the cost of ``/summary``); read inside the session, it comes from the
    identity map without a query.
    """
    rows = session.execute(_APPROVED_FOR_PAPER, {"paper_id": paper_id}).all()
    return [(summary, int(value)) for summary, value in rows]


def _approved_for_paper() -> Select[Summary, int]:
    # Built once: constructing the statement cost as much as running it on SQLite.
    score = score_of().label("score")
    return (
        select(Summary, score)
        .options(lazyload(Summary.paper))
        .where(
            Summary.paper_id == bindparam("paper_id"),
            Summary.status == SummaryStatus.APPROVED,
        )
        .order_by(score.desc(), Summary.approved_at.desc(), Summary.id.desc())
    )


_APPROVED_FOR_PAPER = _approved_for_paper()


def for_author(session: Session, author_id: int, limit: int = 25) -> list[Summary]:
    """An author's summaries newest first, for /mine."""
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


def revise(
    session: Session,
    summary_id: int,
    *,
    author_id: int,
    seen_revision: int,
    tldr: str,
    body: str,
    now: datetime,
) -> bool:
    """Replace a pending summary's text, only if it is still the revision its author saw.

    One conditional UPDATE: an edit racing a moderator's decision either lands before it
    (and the decision, bound to the old revision, is refused) or finds the summary decided.
    """
    changed = changed_rows(
        session,
        update(Summary)
        .where(
            Summary.id == summary_id,
            Summary.author_id == author_id,
            Summary.status == SummaryStatus.PENDING,
            Summary.revision == seen_revision,
        )
        .values(tldr=tldr, body=body, revision=Summary.revision + 1, updated_at=now)
        .execution_options(synchronize_session=False),
    )
    return _refreshed(session, summary_id, changed)


def transition(
    session: Session,
    summary_id: int,
    *,
    expected: Sequence[SummaryStatus],
    to: SummaryStatus,
    revision: int | None = None,
    now: datetime | None = None,
    values: dict[str, object] | None = None,
) -> bool:
    """Move a summary to ``to`` only if it is still in one of ``expected``, and, with
    ``revision``, still at that revision (the text a moderator read).

    A single conditional UPDATE: when two moderators press at once, or an edit races a
    decision, the database lets exactly one through and the other sees ``False``.
    """
    condition = [Summary.id == summary_id, Summary.status.in_(expected)]
    if revision is not None:
        condition.append(Summary.revision == revision)
    changed = changed_rows(
        session,
        update(Summary)
        .where(*condition)
        .values(status=to, updated_at=now or utcnow(), **(values or {}))
        .execution_options(synchronize_session=False),
    )
    return _refreshed(session, summary_id, changed)


def _refreshed(session: Session, summary_id: int, rowcount: int) -> bool:
    """After a bulk UPDATE, bring a loaded copy of the summary up to date."""
    summary = session.get(Summary, summary_id)
    if summary is not None:
        session.refresh(summary)
    return rowcount == 1
