"""The bounded candidate set: the newest matching documents that a ranking scores.

Both databases' rankings (``sqlite_ranking``, ``postgres_ranking``) produce candidates of
this one shape, so grouping them into papers does not depend on the database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from storage.models import SummaryStatus

CANDIDATE_LIMIT = 500
"""How many of the newest matching documents are ranked; bounds the cost of a query."""


class Candidate(NamedTuple):
    """One matching document with its score, before documents are grouped by paper.

    A named tuple: a search makes hundreds, and a frozen dataclass costs several times as
    much to create."""

    document_id: int
    paper_id: int
    summary_id: int | None
    score: float


def candidates_of(rows: Iterable[Sequence[Any]]) -> list[Candidate]:
    """Rows of (document id, paper id, summary id, score) as candidates.

    Whether a summary is still approved is not read here, for every candidate, but by
    ``approved_summaries`` for the few summaries a search shows."""
    return [
        Candidate(document_id, paper_id, summary_id, float(score))
        for document_id, paper_id, summary_id, score in rows
    ]


_APPROVED = text("SELECT id FROM summaries WHERE id IN :ids AND status = :approved").bindparams(
    bindparam("ids", expanding=True)
)


def approved_summaries(session: Session, summary_ids: Collection[int]) -> set[int]:
    """Which of ``summary_ids`` are approved summaries.

    A summary's document is removed when it stops being approved (``index_summary``);
    this is the check for a caller that changed the status and did not: such text must
    never be shown. One lookup per summary shown, where joining the summaries to every
    candidate was 500 (about 3 ms on PostgreSQL at 1,000,000 summaries)."""
    if not summary_ids:
        return set()
    rows = session.execute(
        _APPROVED, {"ids": list(summary_ids), "approved": SummaryStatus.APPROVED.value}
    )
    return set(rows.scalars().all())
