"""What the public archive shows: every approved summary with its paper and score.

One query reads them all, best first within each paper (score, then newest, as
``storage.summaries.approved_for_paper`` orders them); the papers come joined, and their
authors and categories in one batched query each (``selectin``), so building a site of
many papers costs a fixed handful of queries, not one per paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Paper, Summary, SummaryStatus
from storage.votes import score_of


@dataclass(frozen=True)
class ArchivedSummary:
    summary: Summary
    score: int


@dataclass(frozen=True)
class ArchivedPaper:
    paper: Paper
    summaries: tuple[ArchivedSummary, ...]
    """Best first: score, then newest approval, then newest id."""


def approved_archive(session: Session) -> list[ArchivedPaper]:
    """Every paper with an approved summary, in paper id order, each with its summaries."""
    score = score_of().label("score")
    rows = session.execute(
        select(Summary, score)
        .where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.paper_id, score.desc(), Summary.approved_at.desc(), Summary.id.desc())
    ).all()
    papers: list[ArchivedPaper] = []
    current: Paper | None = None
    bucket: list[ArchivedSummary] = []
    for summary, value in rows:
        if current is not None and summary.paper_id != current.id:
            papers.append(ArchivedPaper(current, tuple(bucket)))
            bucket = []
        current = summary.paper
        bucket.append(ArchivedSummary(summary, int(value)))
    if current is not None:
        papers.append(ArchivedPaper(current, tuple(bucket)))
    return papers
