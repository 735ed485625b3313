"""storage.papers.browse: a facet's papers, newest approval first, whichever way it finds them
(walking approvals newest first for a common facet, grouping a rare facet's papers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage import papers
from storage.database import Database
from storage.models import Paper, PaperCategory, Summary, SummaryStatus, User

START = datetime(2024, 1, 1, tzinfo=UTC)


def _library(session: Session) -> None:
    """40 papers, every 4th from 2016 (cs.LG, NeurIPS), two authors each; approvals
    interleaved so a paper's newest approval is not its first; a pending summary on the
    oldest 2016 paper, which must not count."""
    authors = [User(platform="console", external_id=f"u{n}", display_name=f"U{n}") for n in (1, 2)]
    session.add_all(authors)
    for number in range(40):
        common = number % 4 == 0
        paper = Paper(
            key=f"test:{number}",
            title=f"Paper {number}",
            year=2016 if common else 2020,
            venue="NeurIPS" if common else "ICML",
            categories=[PaperCategory(category="cs.LG" if common else "math.OC")],
        )
        session.add(paper)
        session.flush()
        for k, author in enumerate(authors[: 1 + number % 2]):
            when = START + timedelta(hours=(number * 7 + k * 90) % 200)
            session.add(
                Summary(
                    paper=paper,
                    author=author,
                    tldr="t",
                    body="b",
                    status=SummaryStatus.APPROVED,
                    approved_at=when,
                    created_at=when,
                )
            )
    oldest = session.query(Paper).filter_by(key="test:0").one()
    session.add(
        Summary(
            paper=oldest,
            author=User(platform="console", external_id="u3", display_name="U3"),
            tldr="t",
            body="b",
            status=SummaryStatus.PENDING,
        )
    )
    session.flush()


def _expected(session: Session, facet: dict[str, object]) -> list[tuple[str, int]]:
    """The definition, spelled out: newest approval of each facet paper, then paper id."""
    rows = []
    for paper in session.query(Paper).all():
        if facet.get("year") not in (None, paper.year):
            continue
        if facet.get("venue") not in (None, paper.venue):
            continue
        if facet.get("category") not in (None, *paper.category_names):
            continue
        approved = [
            s.approved_at
            for s in session.query(Summary).filter_by(paper_id=paper.id, status="approved")
        ]
        if approved:
            rows.append((max(a for a in approved if a), paper.id, paper.key, len(approved)))
    rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [(key, count) for _, _, key, count in rows]


@pytest.mark.parametrize(
    "facet",
    [{"year": 2016}, {"venue": "neurips"}, {"category": "CS.LG"}, {"year": 2020}],
    ids=["year", "venue", "category", "the other year"],
)
@pytest.mark.parametrize("batch", [500, 3], ids=["one batch", "many batches"])
def test_a_common_facet_lists_its_papers_newest_approval_first(
    db: Database, facet: dict[str, Any], batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(papers, "BROWSE_BATCH", batch)
    with db.transaction() as session:
        _library(session)
    with db.sessions() as session:
        expected = _expected(session, _canonical(facet))
        for limit, offset in ((3, 0), (4, 2), (10, 0)):
            found = papers.browse(session, limit=limit, offset=offset, **facet)
            assert [(paper.key, count) for paper, count in found] == expected[
                offset : offset + limit
            ]


def _canonical(facet: dict[str, Any]) -> dict[str, object]:
    """The facet as stored (browse compares venue and category without case)."""
    names = {"neurips": "NeurIPS", "CS.LG": "cs.LG"}
    return {key: names.get(str(value), value) for key, value in facet.items()}


def test_a_facet_rarer_than_the_walk_is_grouped_from_its_papers(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(papers, "BROWSE_WALK_ROWS", 4)
    monkeypatch.setattr(papers, "BROWSE_BATCH", 2)
    with db.transaction() as session:
        _library(session)
    with db.sessions() as session:
        expected = _expected(session, {"year": 2016})
        found = papers.browse(session, year=2016, limit=5)
        assert [(paper.key, count) for paper, count in found] == expected[:5]
        assert papers.browse(session, venue="nowhere") == []
