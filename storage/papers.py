"""Papers: the read-through cache of arXiv metadata, and papers known by other keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session, joinedload, lazyload

from storage import search
from storage.models import Paper, PaperAuthor, PaperCategory, Summary, SummaryStatus
from storage.types import utcnow
from storage.writes import dialect_insert


@dataclass(frozen=True)
class PaperData:
    """A paper's metadata as a source gives it, before it is stored."""

    key: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    arxiv_id: str | None = None
    arxiv_version: int | None = None
    primary_category: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    venue: str | None = None
    year: int | None = None
    url: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None


_COPIED_FIELDS = tuple(
    f.name for f in fields(PaperData) if f.name not in ("key", "authors", "categories")
)
"""PaperData's scalar fields, which the Paper row holds under the same names."""


_WITH_DETAILS = select(Paper).options(joinedload(Paper.authors), joinedload(Paper.categories))
_DETAILS_BY_ID = _WITH_DETAILS.where(Paper.id == bindparam("paper_id"))
_DETAILS_BY_ARXIV_ID = _WITH_DETAILS.where(Paper.arxiv_id == bindparam("arxiv_id"))


def with_details(session: Session, paper_id: int) -> Paper | None:
    """A paper with its authors and categories in one statement (for its page).

    The default selectin loading costs a statement per collection; a paper page is the
    hottest read, and joining a paper's few authors and categories is cheaper.
    """
    return session.scalars(_DETAILS_BY_ID, {"paper_id": paper_id}).unique().one_or_none()


def with_details_by_arxiv_id(session: Session, arxiv_id: str) -> Paper | None:
    """:func:`with_details` by the arXiv id without version, e.g. ``1606.04474``."""
    return session.scalars(_DETAILS_BY_ARXIV_ID, {"arxiv_id": arxiv_id}).unique().one_or_none()


def get_by_arxiv_ids(session: Session, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
    """Stored papers by arXiv id (no version), in one query for a batch of lookups."""
    ids = list(dict.fromkeys(arxiv_ids))
    if not ids:
        return {}
    papers = session.scalars(select(Paper).where(Paper.arxiv_id.in_(ids))).all()
    return {paper.arxiv_id: paper for paper in papers if paper.arxiv_id is not None}


def freshness_by_arxiv_ids(
    session: Session, arxiv_ids: Iterable[str]
) -> dict[str, tuple[int, datetime | None]]:
    """Stored papers' ids and when they were fetched, by arXiv id: one query, no authors."""
    ids = list(dict.fromkeys(arxiv_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Paper.arxiv_id, Paper.id, Paper.fetched_at).where(Paper.arxiv_id.in_(ids))
    ).all()
    return {base: (paper_id, fetched) for base, paper_id, fetched in rows if base is not None}


def get_by_key(session: Session, key: str) -> Paper | None:
    """A paper by its key (``arxiv:ID`` or another source's), if stored."""
    return session.scalars(select(Paper).where(Paper.key == key)).one_or_none()


def upsert(session: Session, data: PaperData, *, fetched_at: datetime | None = None) -> Paper:
    """Store a paper or refresh the stored copy; authors keep the order the source gives."""
    paper = get_by_key(session, data.key)
    if paper is None:
        paper = Paper(key=data.key)
        session.add(paper)
    for name in _COPIED_FIELDS:
        setattr(paper, name, getattr(data, name))
    paper.fetched_at = fetched_at or utcnow()
    if paper.author_names != data.authors:
        paper.authors.clear()
        session.flush()
        paper.authors.extend(
            PaperAuthor(position=position, name=name[:300])
            for position, name in enumerate(data.authors)
        )
    wanted = list(dict.fromkeys(category[:60] for category in data.categories))
    if sorted(paper.category_names) != sorted(wanted):
        paper.categories.clear()
        session.flush()
        paper.categories.extend(PaperCategory(category=category) for category in wanted)
    session.flush()
    search.index_paper(session, paper)
    return paper


def approved_counts(session: Session, paper_ids: Sequence[int]) -> dict[int, int]:
    """How many approved summaries each paper has (papers with none are absent)."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(Summary.paper_id, func.count())
        .where(Summary.paper_id.in_(paper_ids), Summary.status == SummaryStatus.APPROVED)
        .group_by(Summary.paper_id)
    ).all()
    return {paper_id: count for paper_id, count in rows}


def get_many(
    session: Session, paper_ids: Sequence[int], *, with_details: bool = True
) -> dict[int, Paper]:
    """Papers by id in one query, so a list of summaries costs no query per paper;
    without ``with_details`` their authors and categories are not read with them (two
    statements fewer: a search reply shows titles and links only)."""
    if not paper_ids:
        return {}
    query = select(Paper).where(Paper.id.in_(paper_ids))
    if not with_details:
        query = query.options(lazyload(Paper.authors), lazyload(Paper.categories))
    return {paper.id: paper for paper in session.scalars(query).all()}


BROWSE_WALK_ROWS = 20_000
"""Approvals ``browse`` walks newest first before it groups the facet's papers instead."""
BROWSE_BATCH = 500
"""Approvals whose papers are tested against the facet in one statement."""


def browse(
    session: Session,
    *,
    year: int | None = None,
    venue: str | None = None,
    category: str | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[tuple[Paper, int]]:
    """Papers with approved summaries, newest approval first, filtered by one facet or more.

    Grouping every approved summary of a common facet's papers to sort them took a second
    at 1,000,000 summaries. Walking approvals newest first (their index), a batch at a
    time, finds a common facet's first papers in the first batch or two, and a paper's first
    approval met is its newest, so the order is the same. A rarer facet (fewer papers than
    asked within ``BROWSE_WALK_ROWS`` approvals) is grouped from its papers, few by then.
    """
    facets: list[ColumnElement[bool]] = []
    if year is not None:
        facets.append(Paper.year == year)
    if venue is not None:
        facets.append(func.lower(Paper.venue) == venue.lower())
    if category is not None:
        # EXISTS, not IN (...): each paper is tested through the (paper_id, category) key
        # instead of SQLite listing every paper of the category first.
        facets.append(
            select(PaperCategory.paper_id)
            .where(
                PaperCategory.paper_id == Paper.id,
                func.lower(PaperCategory.category) == category.lower(),
            )
            .exists()
        )
    wanted = limit + offset
    approvals = (
        select(Summary.paper_id)
        .where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.approved_at.desc(), Summary.paper_id.desc())
        .limit(BROWSE_WALK_ROWS)
        .execution_options(yield_per=BROWSE_BATCH)
    )
    found: dict[int, None] = {}  # papers in order of their newest approval
    with session.execute(approvals) as rows:
        for batch in rows.partitions():
            ids = list(dict.fromkeys(paper_id for (paper_id,) in batch))
            matching = set(session.scalars(select(Paper.id).where(Paper.id.in_(ids), *facets)))
            found.update((paper_id, None) for paper_id in ids if paper_id in matching)
            if len(found) >= wanted:
                break
    if len(found) < wanted:  # a rare facet, or few approvals in all: the grouping is exact
        return _browse_grouped(session, facets, limit, offset)
    chosen = list(found)[offset:wanted]
    papers = get_many(session, chosen)
    counts = approved_counts(session, chosen)
    return [(papers[key], counts.get(key, 0)) for key in chosen if key in papers]


def _browse_grouped(
    session: Session, facets: list[ColumnElement[bool]], limit: int, offset: int
) -> list[tuple[Paper, int]]:
    """The facet's papers first, then their summaries through the paper index (right for a
    rare facet, which is what the walk leaves to this)."""
    newest = func.max(Summary.approved_at).label("newest")
    count = func.count(Summary.id).label("summaries")
    facet_papers = select(Paper.id).where(*facets).correlate(None)
    query = (
        select(Paper, count, newest)
        .join(Summary, Summary.paper_id == Paper.id)
        .where(Summary.status == SummaryStatus.APPROVED, Summary.paper_id.in_(facet_papers))
        .group_by(Paper.id)
        .order_by(newest.desc(), Paper.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(paper, summaries) for paper, summaries, _ in session.execute(query).all()]


def suggest(session: Session, typed: str, *, limit: int) -> list[Paper]:
    """Stored papers whose id or title contains what was typed so far (autocomplete), newest
    first, at most ``limit``: the front end's box decides how many it shows."""
    typed = typed.strip()
    query = select(Paper).order_by(Paper.created_at.desc(), Paper.id.desc()).limit(limit)
    if typed:
        pattern = "%" + typed.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        query = query.where(
            func.lower(Paper.title).like(pattern)
            | func.lower(func.coalesce(Paper.arxiv_id, Paper.key)).like(pattern)
        )
    return list(session.scalars(query).all())


def placeholder(session: Session, arxiv_id: str, now: datetime) -> int:
    """A paper known only by its arXiv id, so a summary of it can be kept while arXiv is
    down; ``fetched_at`` stays empty until the metadata arrives (``unfetched``)."""
    session.execute(
        dialect_insert(session, Paper)
        .values(
            key=f"arxiv:{arxiv_id}",
            arxiv_id=arxiv_id,
            title=f"arXiv:{arxiv_id}",
            abstract="",
            url=f"https://arxiv.org/abs/{arxiv_id}",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Paper.key])
    )
    paper_id = session.scalar(select(Paper.id).where(Paper.key == f"arxiv:{arxiv_id}"))
    if paper_id is None:  # the key is unique and was just written or found
        raise LookupError(arxiv_id)
    return paper_id


def unfetched(session: Session, limit: int = 50) -> list[str]:
    """arXiv ids of papers stored as placeholders, still waiting for their metadata."""
    ids = session.scalars(
        select(Paper.arxiv_id)
        .where(Paper.fetched_at.is_(None), Paper.arxiv_id.is_not(None))
        .order_by(Paper.id)
        .limit(limit)
    ).all()
    return [arxiv_id for arxiv_id in ids if arxiv_id is not None]
