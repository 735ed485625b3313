"""Imported summaries: written once per ``import_key``, with their authors, votes and dates.

An import file is read by ``bot.imports``; what reaches the database is a
:class:`SummaryRecord` per summary. Writing one is idempotent: a summary whose
``import_key`` is stored already is left as it is, so importing a file twice changes
nothing. Each record is its own transaction, so one bad record cannot undo the others.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import papers as paper_store
from storage import search
from storage import summaries as summary_store
from storage.models import ModerationAction, Paper, Summary, SummaryStatus, User
from storage.papers import PaperData
from storage.types import utcnow
from storage.votes import score_of

IMPORTED_PLATFORM = "shortscience"
"""The platform of authors who wrote on ShortScience.org (or whom a file names without one)."""


@dataclass(frozen=True)
class AuthorRecord:
    platform: str
    external_id: str
    display_name: str


@dataclass(frozen=True)
class SummaryRecord:
    """One summary as an import file gives it, checked and ready to store."""

    import_key: str
    paper: PaperData
    paper_fetched_at: datetime | None
    """When the paper's details came from arXiv; None: known only from the file so far."""
    author: AuthorRecord
    anonymous: bool
    imported_votes: int
    tldr: str
    body: str
    status: SummaryStatus
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None


class Outcome(enum.Enum):
    IMPORTED = "imported"
    PRESENT = "already present"


class Conflict(Exception):
    """The record cannot be stored next to what is there (the author's other summary)."""


def present_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these import keys are stored already."""
    found: set[str] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(
            key
            for key in session.scalars(
                select(Summary.import_key).where(Summary.import_key.in_(chunk))
            )
            if key is not None
        )
    return found


def stored_papers(session: Session, keys: Iterable[str]) -> dict[str, Paper]:
    """Stored papers by key (only those present)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    return {
        paper.key: paper for paper in session.scalars(select(Paper).where(Paper.key.in_(wanted)))
    }


def _paper(session: Session, data: PaperData, fetched_at: datetime | None) -> Paper:
    """The stored paper with this key; a paper new here is stored as the file describes it.

    A stored paper is not overwritten: its copy from arXiv is better than a file's.
    """
    paper = paper_store.get_by_key(session, data.key)
    if paper is not None:
        return paper
    paper = paper_store.upsert(session, data, fetched_at=fetched_at or utcnow())
    paper.fetched_at = fetched_at
    session.flush()
    return paper


def _author(session: Session, author: AuthorRecord) -> User:
    return summary_store.get_or_create_user(
        session, author.platform, author.external_id, author.display_name
    )


def write(
    session: Session,
    record: SummaryRecord,
    operator: AuthorRecord | None,
    source: str,
    now: datetime,
) -> Outcome:
    """Store one imported summary unless its ``import_key`` is stored already.

    It keeps the file's author, anonymity, votes and dates; an approved one is recorded in
    the audit log as approved by ``operator`` (who ran the import) and made searchable.
    Raises :class:`Conflict` when the author already has another active summary of it.
    """
    if present_keys(session, [record.import_key]):
        return Outcome.PRESENT
    paper = _paper(session, record.paper, record.paper_fetched_at)
    author = _author(session, record.author)
    existing = summary_store.active_for_author(session, paper.id, author.id)
    if existing is not None:
        if existing.body == record.body:
            return Outcome.PRESENT
        raise Conflict(
            f"{record.author.display_name} already has summary #{existing.id} of "
            f"{paper.key} ({existing.status.value}) with another text"
        )
    approved = record.status is SummaryStatus.APPROVED
    moderator = _author(session, operator) if approved and operator is not None else None
    summary = Summary(
        paper_id=paper.id,
        author_id=author.id,
        tldr=record.tldr,
        body=record.body,
        status=record.status,
        created_at=record.created_at,
        updated_at=record.updated_at,
        approved_at=(record.approved_at or record.updated_at) if approved else None,
        moderated_by_id=moderator.id if moderator is not None else None,
        moderated_at=now if approved else None,
        anonymous=record.anonymous,
        imported_votes=record.imported_votes,
        import_key=record.import_key,
    )
    try:
        with session.begin_nested():
            session.add(summary)
            session.flush()
    except IntegrityError as error:
        if present_keys(session, [record.import_key]):
            return Outcome.PRESENT
        raise Conflict(str(error.orig).splitlines()[0]) from None
    reason = f"imported from {source}"
    summary_store.record(
        session, summary, author, ModerationAction.SUBMITTED, reason, now=record.created_at
    )
    if approved:
        summary_store.record(
            session, summary, moderator or author, ModerationAction.APPROVED, reason, now=now
        )
        search.index_summary(session, summary)
    return Outcome.IMPORTED


def approved_with_scores(session: Session) -> list[tuple[Summary, int]]:
    """Every approved summary with its score, in the order they were approved."""
    score = score_of().label("score")
    rows = session.execute(
        select(Summary, score)
        .where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.approved_at, Summary.id)
    ).all()
    return [(summary, int(value)) for summary, value in rows]
