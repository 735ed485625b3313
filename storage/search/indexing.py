"""Writing the searchable texts: one ``search_documents`` row per paper and per approved
summary, which each database's index (FTS5 triggers, the stored tsvector's GIN index) follows.

Functions take a ``Session`` and never commit: the caller owns the transaction, so a
summary's approval and its indexing land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from storage.models import Paper, SearchDocument, Summary, SummaryStatus
from storage.search.dialect import search_dialect
from storage.writes import dialect_insert


def index_paper(session: Session, paper: Paper) -> None:
    """Insert or update the paper's own document; idempotent.

    Summary documents carry the paper's title too, so a changed title is copied to them.
    """
    if paper.id is None:
        session.flush()
    _upsert(
        session,
        doc_key=f"paper:{paper.id}",
        paper_id=paper.id,
        summary_id=None,
        title=paper.title,
        body=paper.abstract or "",
    )
    session.execute(
        update(SearchDocument)
        .where(
            SearchDocument.paper_id == paper.id,
            SearchDocument.summary_id.is_not(None),
            SearchDocument.title != paper.title,
        )
        .values(title=paper.title)
        .execution_options(synchronize_session="fetch")
    )


def index_summary(session: Session, summary: Summary) -> None:
    """Insert or update a summary's document (title = paper title, body = TL;DR + body).

    Idempotent. Only approved summaries are searchable, so for any other status this
    removes the document instead: calling it after every change of a summary is enough.
    """
    if summary.id is None:
        session.flush()
    if summary.status != SummaryStatus.APPROVED:
        unindex_summary(session, summary.id)
        return
    _upsert(
        session,
        doc_key=f"summary:{summary.id}",
        paper_id=summary.paper_id,
        summary_id=summary.id,
        title=summary.paper.title,
        body=f"{summary.tldr}\n{summary.body}",
    )


def unindex_summary(session: Session, summary_id: int) -> None:
    """Remove a summary's document (withdrawn or rejected); a no-op if there is none."""
    session.execute(
        delete(SearchDocument)
        .where(SearchDocument.summary_id == summary_id)
        .execution_options(synchronize_session="fetch")
    )


def rebuild_index(session: Session) -> int:
    """Re-create every document from the papers and approved summaries; returns how many.

    For repair and after bulk imports that bypassed ``index_*``. Documents are written
    oldest first so that ids, and with them the candidate order of ``search``, follow
    the age of the content.
    """
    if search_dialect(session) == "sqlite":
        # Re-derive the FTS index from the current rows first: if it had drifted, the
        # delete triggers below would otherwise remove tokens it does not hold.
        session.execute(
            text("INSERT INTO search_documents_fts (search_documents_fts) VALUES ('rebuild')")
        )
    session.execute(delete(SearchDocument).execution_options(synchronize_session=False))

    paper_documents: Select[*tuple[Any, ...]] = select(
        (literal("paper:") + cast(Paper.id, String)).label("doc_key"),
        Paper.id.label("paper_id"),
        cast(null(), Integer).label("summary_id"),
        Paper.title.label("title"),
        Paper.abstract.label("body"),
        Paper.created_at.label("sort_at"),
        literal_column("0").label("kind"),
    )
    summary_documents: Select[*tuple[Any, ...]] = (
        select(
            (literal("summary:") + cast(Summary.id, String)).label("doc_key"),
            Summary.paper_id.label("paper_id"),
            Summary.id.label("summary_id"),
            Paper.title.label("title"),
            (Summary.tldr + literal("\n") + Summary.body).label("body"),
            func.coalesce(Summary.approved_at, Summary.created_at).label("sort_at"),
            literal_column("1").label("kind"),
        )
        .join(Paper, Paper.id == Summary.paper_id)
        .where(Summary.status == SummaryStatus.APPROVED)
    )
    documents = union_all(paper_documents, summary_documents).subquery("documents")
    columns = ["doc_key", "paper_id", "summary_id", "title", "body"]
    session.execute(
        insert(SearchDocument).from_select(
            columns,
            select(*(documents.c[name] for name in columns)).order_by(
                documents.c.sort_at, documents.c.kind, documents.c.paper_id, documents.c.doc_key
            ),
        )
    )
    return session.scalar(select(func.count()).select_from(SearchDocument)) or 0


_SQLITE_INSERT_TRIGGER = "search_documents_fts_after_insert"
_POSTGRES_VECTOR_INDEX = "search_documents_fts_vector_gin"


@contextmanager
def bulk_indexing(connection: Connection) -> Iterator[None]:
    """Index rows written to ``search_documents`` inside the block once, at its end.

    Row-by-row upkeep (FTS5's insert trigger, GIN insertions) makes a bulk load of
    millions of documents take tens of minutes; building the index once after the rows
    is several times faster. The trigger / index is re-created from the definition the
    database holds (the migrations stay its only source) and committed with the rebuild,
    so a failure inside the block leaves the index as it was before. For bulk loads that
    own the database meanwhile (the benchmark's fill); other writers would go unindexed.
    """
    if connection.dialect.name == "sqlite":
        lookup = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"
        definition = connection.execute(text(lookup), {"name": _SQLITE_INSERT_TRIGGER})
        drop = f"DROP TRIGGER {_SQLITE_INSERT_TRIGGER}"
        rebuild = ("INSERT INTO search_documents_fts (search_documents_fts) VALUES ('rebuild')",)
    else:
        lookup = "SELECT pg_get_indexdef(to_regclass(:name))"
        definition = connection.execute(text(lookup), {"name": _POSTGRES_VECTOR_INDEX})
        drop = f"DROP INDEX {_POSTGRES_VECTOR_INDEX}"
        rebuild = ("SET LOCAL maintenance_work_mem = '256MB'",)
    create = definition.scalar_one_or_none()
    if connection.in_transaction():
        connection.commit()
    if create is None:
        raise RuntimeError(
            "the search index's upkeep is missing (a bulk load was killed inside"
            " bulk_indexing): restore the database or load it again from empty"
        )
    with connection.begin():
        connection.exec_driver_sql(drop)
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        with connection.begin():
            for statement in rebuild:
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql(create)


def _upsert(
    session: Session,
    *,
    doc_key: str,
    paper_id: int,
    summary_id: int | None,
    title: str,
    body: str,
) -> None:
    """Insert the document or update it in place, in one statement.

    ``ON CONFLICT`` makes it safe when two processes index the same thing at once, and
    its WHERE leaves an unchanged row alone, so re-indexing does not churn the index.
    """
    statement = dialect_insert(session, SearchDocument).values(
        doc_key=doc_key, paper_id=paper_id, summary_id=summary_id, title=title, body=body
    )
    new = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SearchDocument.doc_key],
            set_={"paper_id": new.paper_id, "title": new.title, "body": new.body},
            where=or_(
                SearchDocument.paper_id != new.paper_id,
                SearchDocument.title != new.title,
                SearchDocument.body != new.body,
            ),
        )
    )
