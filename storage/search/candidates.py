"""The bounded candidate set: the newest matching documents that a ranking scores.

Both databases' rankings (``sqlite_ranking``, ``postgres_ranking``) produce candidates of
this one shape, so grouping them into papers does not depend on the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

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


def approved_candidates(rows: Iterable[Sequence[Any]]) -> list[Candidate]:
    """Rows of (document id, paper id, summary id, score, summary status) as candidates.

    A document whose summary is no longer approved is dropped here, in case a caller
    changed the status but did not unindex it: such text must never be shown.
    """
    approved = SummaryStatus.APPROVED.value
    return [
        Candidate(document_id, paper_id, summary_id, float(score))
        for document_id, paper_id, summary_id, score, status in rows
        if summary_id is None or status == approved
    ]
