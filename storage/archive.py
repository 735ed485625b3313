"""What the public archive shows, read in batches, and the log of what changed since.

The archive can hold a million summaries, so nothing here loads them all: papers come in
batches of ids (:func:`archived_paper_ids`, then :func:`load_papers`, a fixed handful of
queries a batch), as plain records rather than ORM objects, which costs a tenth of the
time and memory. Within a paper, summaries are best first: score, then newest approval,
then newest id (as ``storage.summaries.approved_for_paper`` orders them).

The change log (``archive_changes``, written by the database's triggers, migration 0014)
says which papers' pages may have changed; the updater takes rows (:func:`pending_changes`)
and deletes exactly the ones it handled (:func:`forget_changes`). A full build of the kept
folder claims every row committed before it starts reading (:func:`claim_changes`) and
deletes just those when it is done (:func:`forget_claimed`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.database import Database
from storage.models import (
    ANONYMOUS,
    ArchiveChange,
    Paper,
    PaperAuthor,
    PaperCategory,
    Summary,
    SummaryStatus,
    User,
    Vote,
)

BATCH = 500
"""Papers read at a time: big enough that a query's cost is shared, small enough that a
batch of long summaries stays a few megabytes."""


@dataclass(frozen=True, slots=True)
class PaperRecord:
    id: int
    key: str
    arxiv_id: str | None
    doi: str | None
    url: str | None
    title: str
    abstract: str
    venue: str | None
    year: int | None
    published_at: datetime | None
    author_names: tuple[str, ...]
    category_names: tuple[str, ...]
    """Sorted, as ``Paper.categories`` orders them."""


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    id: int
    tldr: str
    body: str
    byline: str
    approved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ArchivedSummary:
    summary: SummaryRecord
    score: int


@dataclass(frozen=True, slots=True)
class ArchivedPaper:
    paper: PaperRecord
    summaries: tuple[ArchivedSummary, ...]
    """Best first: score, then newest approval, then newest id."""


def archived_paper_ids(
    connection: Connection, *, after: int = 0, limit: int = BATCH, upto: int | None = None
) -> list[int]:
    """The next ``limit`` papers with an approved summary, by id, after ``after``.

    Walks the papers by their key and asks each for an approved summary through the
    (paper, status) index: a query on summaries alone lets SQLite's planner pick the status
    index and sort every approved summary for each batch, half a second at a million."""
    approved = (
        select(Summary.id)
        .where(Summary.paper_id == Paper.id, Summary.status == SummaryStatus.APPROVED)
        .exists()
    )
    query = select(Paper.id).where(Paper.id > after, approved)
    if upto is not None:
        query = query.where(Paper.id <= upto)
    return list(connection.scalars(query.order_by(Paper.id).limit(limit)))


def load_papers(connection: Connection, paper_ids: Sequence[int]) -> list[ArchivedPaper]:
    """The papers of ``paper_ids`` that have an approved summary, in id order, each with its
    approved summaries; a paper without one is left out."""
    if not paper_ids:
        return []
    ids = sorted(set(paper_ids))
    return _load(connection, lambda column: column.in_(ids))


def load_range(connection: Connection, first: int, last: int) -> list[ArchivedPaper]:
    """The archived papers with ids from ``first`` to ``last`` (a range of
    :func:`id_ranges`: a batch's worth).

    Each table is read by a range of paper ids, not a list of 500 of them: SQLAlchemy
    spends more time writing out and binding such lists than SQLite spends on the query
    (a third of loading a batch). Rows of papers in the range with no approved summary are
    read and left out, as are other summaries' rows: the status is checked here, because
    a range and a status in one query make SQLite's planner walk every approved summary
    by the status index instead of the paper's few by (paper, status)."""
    return _load(connection, lambda column: column.between(first, last))


def _load(
    connection: Connection, within: Callable[[InstrumentedAttribute[int]], ColumnElement[bool]]
) -> list[ArchivedPaper]:
    """The papers whose ids are ``within`` (a condition on a paper id column) that have an
    approved summary: five queries, whatever their number."""
    votes = (
        select(func.coalesce(func.sum(Vote.value), 0))
        .where(Vote.summary_id == Summary.id)
        .scalar_subquery()
    )
    rows = connection.execute(
        select(
            Summary.id,
            Summary.paper_id,
            Summary.tldr,
            Summary.body,
            Summary.anonymous,
            Summary.approved_at,
            Summary.imported_votes,
            Summary.status,
            User.display_name,
            votes,
        )
        .join(User, User.id == Summary.author_id)
        .where(within(Summary.paper_id))
    ).all()
    summaries: dict[int, list[tuple[int, datetime | None, int, SummaryRecord]]] = defaultdict(list)
    approved = SummaryStatus.APPROVED
    for row in rows:
        if row.status != approved:
            continue
        record = SummaryRecord(
            id=row.id,
            tldr=row.tldr,
            body=row.body,
            byline=ANONYMOUS if row.anonymous else row.display_name,
            approved_at=row.approved_at,
        )
        score = int(row.imported_votes) + int(row[-1] or 0)
        summaries[row.paper_id].append((score, row.approved_at, row.id, record))
    if not summaries:
        return []
    authors: dict[int, list[str]] = defaultdict(list)
    for paper_id, name in connection.execute(
        select(PaperAuthor.paper_id, PaperAuthor.name)
        .where(within(PaperAuthor.paper_id))
        .order_by(PaperAuthor.paper_id, PaperAuthor.position)
    ).all():
        if paper_id in summaries:
            authors[paper_id].append(name)
    categories: dict[int, list[str]] = defaultdict(list)
    for paper_id, category in connection.execute(
        select(PaperCategory.paper_id, PaperCategory.category)
        .where(within(PaperCategory.paper_id))
        .order_by(PaperCategory.paper_id, PaperCategory.category)
    ).all():
        if paper_id in summaries:
            categories[paper_id].append(category)
    paper_rows = connection.execute(
        select(
            Paper.id,
            Paper.key,
            Paper.arxiv_id,
            Paper.doi,
            Paper.url,
            Paper.title,
            Paper.abstract,
            Paper.venue,
            Paper.year,
            Paper.published_at,
        )
        .where(within(Paper.id))
        .order_by(Paper.id)
    ).all()
    archived = []
    for paper in paper_rows:
        found = summaries.get(paper.id)
        if found is None:
            continue
        # Best first: score, newest approval, newest id (a missing approval time is oldest).
        found.sort(key=_best_first, reverse=True)
        archived.append(
            ArchivedPaper(
                PaperRecord(
                    id=paper.id,
                    key=paper.key,
                    arxiv_id=paper.arxiv_id,
                    doi=paper.doi,
                    url=paper.url,
                    title=paper.title,
                    abstract=paper.abstract or "",
                    venue=paper.venue,
                    year=paper.year,
                    published_at=paper.published_at,
                    author_names=tuple(authors[paper.id]),
                    category_names=tuple(categories[paper.id]),
                ),
                tuple(ArchivedSummary(record, score) for score, _, _, record in found),
            )
        )
    return archived


def _best_first(found: tuple[int, datetime | None, int, SummaryRecord]) -> tuple[int, float, int]:
    score, approved_at, summary_id, _ = found
    return score, approved_at.timestamp() if approved_at else float("-inf"), summary_id


def id_ranges(db: Database, *, batch: int = BATCH) -> Iterator[tuple[int, int]]:
    """The archived papers' ids cut into (first, last) ranges of ``batch`` papers: the
    units of work a parallel build hands its workers."""
    after = 0
    while True:
        with db.engine.connect() as connection:
            ids = archived_paper_ids(connection, after=after, limit=batch)
        if not ids:
            return
        yield ids[0], ids[-1]
        after = ids[-1]


def approved_archive(session: Session) -> list[ArchivedPaper]:
    """Every archived paper at once: for small archives and tests; builds use batches."""
    connection = session.connection()
    papers: list[ArchivedPaper] = []
    after = 0
    while ids := archived_paper_ids(connection, after=after, limit=BATCH):
        papers.extend(load_papers(connection, ids))
        after = ids[-1]
    return papers


@dataclass(frozen=True, slots=True)
class NewestSummary:
    paper_id: int
    summary_id: int


def newest_summaries(connection: Connection, limit: int) -> list[NewestSummary]:
    """The newest approved summaries (the home page's and the feed's), newest first."""
    rows = connection.execute(
        select(Summary.paper_id, Summary.id)
        .where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.approved_at.desc(), Summary.id.desc())
        .limit(limit)
    ).all()
    return [NewestSummary(paper_id, summary_id) for paper_id, summary_id in rows]


# The change log.


def pending_changes(session: Session, *, limit: int) -> list[tuple[int, int]]:
    """(change id, paper id) of up to ``limit`` logged changes, oldest first."""
    rows = session.execute(
        select(ArchiveChange.id, ArchiveChange.paper_id).order_by(ArchiveChange.id).limit(limit)
    ).all()
    return [(change_id, paper_id) for change_id, paper_id in rows]


def forget_changes(session: Session, change_ids: Iterable[int]) -> None:
    """Delete the changes handled (by id: a row committed meanwhile stays)."""
    ids = list(change_ids)
    for start in range(0, len(ids), 1000):
        session.execute(
            delete(ArchiveChange).where(ArchiveChange.id.in_(ids[start : start + 1000]))
        )


def claim_changes(session: Session, token: str) -> int:
    """Mark every change committed so far as covered by the full build ``token`` (one
    that starts reading after this commits); returns how many."""
    result = session.execute(
        update(ArchiveChange)
        .where(or_(ArchiveChange.claim.is_(None), ArchiveChange.claim != token))
        .values(claim=token)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def forget_claimed(session: Session, token: str) -> None:
    """Delete the changes the finished full build ``token`` covered."""
    session.execute(delete(ArchiveChange).where(ArchiveChange.claim == token))


def archive_sections(connection: Connection) -> tuple[bool, bool, bool]:
    """Whether the archive has papers at all, papers with a venue, papers with a category:
    which kinds of list it shows (the nav of every page links only those)."""
    approved = select(Summary.paper_id).where(Summary.status == SummaryStatus.APPROVED)
    any_paper = connection.scalar(select(approved.exists()))
    with_venue = connection.scalar(
        select(
            approved.join(Paper, Paper.id == Summary.paper_id)
            .where(Paper.venue.is_not(None), Paper.venue != "")
            .exists()
        )
    )
    with_category = connection.scalar(
        select(approved.join(PaperCategory, PaperCategory.paper_id == Summary.paper_id).exists())
    )
    return bool(any_paper), bool(with_venue), bool(with_category)
