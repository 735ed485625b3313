"""Votes on summaries: one per person per summary, changeable, kept by the database.

A summary's score is the votes it brought from an import (ShortScience.org's count) plus
the sum of its members' votes here. The primary key (summary, user) is the "one vote per
person" rule; casting is one ``INSERT ... ON CONFLICT DO UPDATE``, so two clicks at once
leave one vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, func, select
from sqlalchemy.orm import Session

from storage.models import Summary, Vote
from storage.writes import dialect_insert


def score_of() -> ColumnElement[int]:
    """A summary's score as an SQL expression (for ordering and filtering)."""
    cast = (
        select(func.coalesce(func.sum(Vote.value), 0))
        .where(Vote.summary_id == Summary.id)
        .scalar_subquery()
    )
    return (Summary.imported_votes + cast).cast(Integer)


def cast_vote(session: Session, summary_id: int, user_id: int, value: int, now: datetime) -> None:
    """Record (or change) one person's vote: +1 or -1."""
    if value not in (-1, 1):
        raise ValueError("a vote is +1 or -1")
    statement = dialect_insert(session, Vote).values(
        summary_id=summary_id, user_id=user_id, value=value, created_at=now, updated_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Vote.summary_id, Vote.user_id],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


def vote_of(session: Session, summary_id: int, user_id: int) -> int | None:
    """A member's vote on a summary (+1, -1), or None, so a second vote changes it."""
    return session.scalar(
        select(Vote.value).where(Vote.summary_id == summary_id, Vote.user_id == user_id)
    )


def scores(session: Session, summary_ids: Sequence[int]) -> dict[int, int]:
    """Each summary's score (imported votes plus votes here)."""
    if not summary_ids:
        return {}
    rows = session.execute(
        select(Summary.id, score_of()).where(Summary.id.in_(list(summary_ids)))
    ).all()
    return {summary_id: int(score) for summary_id, score in rows}
