"""Full-text search over papers (title + abstract) and approved summaries (TL;DR + body).

Every searchable text is a row of ``search_documents`` (see ``SearchDocument``); what
indexes those rows is per database and made by migration 0002:

- SQLite: the FTS5 table ``search_documents_fts`` (porter stemming, diacritics folded),
  kept in step by triggers, so writing ``search_documents`` is all indexing takes;
- PostgreSQL: a GIN index on ``POSTGRES_DOCUMENT_VECTOR``, queried with that very
  expression so the planner can use it.

Why results are "the best of the newest matches", not "the best of all matches"
---------------------------------------------------------------------------------
Ranking every match is proportional to the number of matches: SQLite's default bm25
ordering took about a second per query for a word found in most of 1,000,000 summaries.
So ``search`` first takes a bounded candidate set cheaply, the ``CANDIDATE_LIMIT`` newest
matching documents (FTS5 walks its index in descending rowid order and stops; on
PostgreSQL it is ``ORDER BY id DESC LIMIT``), ranks only those (bm25 / ts_rank), groups
them by paper and returns the top ``limit`` papers. The price: for a word in more than
``CANDIDATE_LIMIT`` documents, an old paper that would rank first overall can be missed,
because it is never a candidate. For rare words (fewer matches than the bound) the result
is exactly the best-ranked one. Documents get ids in the order they are indexed, so
"newest" means "most recently indexed" (``rebuild_index`` re-assigns ids oldest first).

Functions take a ``Session`` and never commit: the caller owns the transaction, so a
summary's approval and its indexing land together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    Integer,
    String,
    bindparam,
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Paper, SearchDocument, Summary, SummaryStatus

CANDIDATE_LIMIT = 100000
"""How many of the newest matching documents are ranked; bounds the cost of a query."""

MAX_QUERY_WORDS = 32
"""Words past this are ignored: each one is another posting list to read."""

SNIPPET_CHARS = 200
"""The longest excerpt a hit carries."""

TITLE_WEIGHT = 2.0
"""bm25 weight of a title match against a body match (1.0) on SQLite."""

POSTGRES_DOCUMENT_VECTOR = (
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))"
)
"""The indexed expression of migration 0002, character for character: change neither alone."""

_POSTGRES_QUERY = "websearch_to_tsquery('english', :words)"

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class SearchHit:
    """A paper that matched, with what made it match."""

    paper_id: int
    score: float
    """Higher is better; comparable within one result list only (bm25 and ts_rank differ)."""
    summary_ids: tuple[int, ...]
    """Approved summaries of the paper that matched, best first."""
    snippet: str
    """A short plain-text excerpt around a match, from the best matching document."""


@dataclass
class _PaperHits:
    paper_id: int
    score: float
    best_document_id: int
    summary_ids: list[int] = field(default_factory=list)


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
    if summary.status is not SummaryStatus.APPROVED:
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
    if _dialect(session) == "sqlite":
        # Re-derive the FTS index from the current rows first: if it had drifted, the
        # delete triggers below would otherwise remove tokens it does not hold.
        session.execute(
            text("INSERT INTO search_documents_fts (search_documents_fts) VALUES ('rebuild')")
        )
    session.execute(delete(SearchDocument).execution_options(synchronize_session=False))

    paper_documents = select(
        (literal("paper:") + cast(Paper.id, String)).label("doc_key"),
        Paper.id.label("paper_id"),
        cast(null(), Integer).label("summary_id"),
        Paper.title.label("title"),
        Paper.abstract.label("body"),
        Paper.created_at.label("sort_at"),
        literal_column("0").label("kind"),
    )
    summary_documents = (
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


def search(session: Session, words: str, *, limit: int = 10) -> list[SearchHit]:
    """The papers best matching all of ``words``, at most ``limit``, best first.

    Any input is accepted: it is reduced to plain words (see ``query_words``), never
    passed on as query syntax, so a stray quote or ``NEAR(`` cannot make it fail. Only
    the ``CANDIDATE_LIMIT`` newest matching documents are ranked (see the module
    docstring for why and what that costs).
    """
    terms = query_words(words)
    if not terms or limit <= 0:
        return []
    if _dialect(session) == "sqlite":
        match = sqlite_match_expression(terms)
        candidates = _sqlite_candidates(session, match)
        papers = _group_by_paper(candidates, limit)
        snippets = _sqlite_snippets(session, match, [p.best_document_id for p in papers])
    else:
        query = " ".join(terms)
        candidates = _postgres_candidates(session, query)
        papers = _group_by_paper(candidates, limit)
        snippets = _postgres_snippets(session, query, [p.best_document_id for p in papers])
    return [
        SearchHit(
            paper_id=paper.paper_id,
            score=paper.score,
            summary_ids=tuple(paper.summary_ids),
            snippet=_clip(snippets.get(paper.best_document_id, "")),
        )
        for paper in papers
    ]


def query_words(words: str) -> list[str]:
    """The words of a user's query: control characters out, words without a letter or
    digit dropped (they cannot match anything), duplicates and words past
    ``MAX_QUERY_WORDS`` ignored."""
    seen: set[str] = set()
    terms: list[str] = []
    for word in _CONTROL_CHARACTERS.sub(" ", words).split():
        if not any(character.isalnum() for character in word) or word.casefold() in seen:
            continue
        seen.add(word.casefold())
        terms.append(word)
        if len(terms) == MAX_QUERY_WORDS:
            break
    return terms


def sqlite_match_expression(terms: Iterable[str]) -> str:
    """An FTS5 query that can only mean "all of these words".

    Each word becomes a double-quoted string (inner quotes doubled), which FTS5 reads as
    a phrase of that word's tokens and never as an operator, column filter or prefix;
    strings side by side are ANDed.
    """
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms if term)


@dataclass(frozen=True)
class _Candidate:
    document_id: int
    paper_id: int
    summary_id: int | None
    score: float


def _sqlite_candidates(session: Session, match: str) -> list[_Candidate]:
    # The inner query walks the FTS index newest first and stops after the bound, so bm25
    # runs for at most CANDIDATE_LIMIT rows. A LIMIT subquery is never flattened into the
    # join, so the bound holds. The summary join drops a document whose summary is no
    # longer approved, in case a caller changed the status but did not unindex it.
    rows = session.execute(
        text(
            """
            SELECT d.id, d.paper_id, d.summary_id, -c.rank AS score
            FROM (
                SELECT rowid AS id, bm25(search_documents_fts, :title_weight, 1.0) AS rank
                FROM search_documents_fts
                WHERE search_documents_fts MATCH :match
                ORDER BY rowid DESC
                LIMIT :candidates
            ) AS c
            JOIN search_documents AS d ON d.id = c.id
            LEFT JOIN summaries AS s ON s.id = d.summary_id
            WHERE d.summary_id IS NULL OR s.status = :approved
            """
        ),
        {
            "match": match,
            "title_weight": TITLE_WEIGHT,
            "candidates": CANDIDATE_LIMIT,
            "approved": SummaryStatus.APPROVED.value,
        },
    )
    return [_Candidate(row[0], row[1], row[2], float(row[3])) for row in rows]


def _sqlite_snippets(session: Session, match: str, document_ids: Sequence[int]) -> dict[int, str]:
    """Excerpts for the few documents shown, not for every candidate: each one rereads
    and re-tokenizes its document."""
    if not document_ids:
        return {}
    rows = session.execute(
        text(
            """
            SELECT rowid, snippet(search_documents_fts, -1, '', '', '…', 32)
            FROM search_documents_fts
            WHERE search_documents_fts MATCH :match AND rowid IN :ids
            """
        ).bindparams(bindparam("ids", expanding=True)),
        {"match": match, "ids": list(document_ids)},
    )
    return {row[0]: row[1] or "" for row in rows}


def _postgres_candidates(session: Session, query: str) -> list[_Candidate]:
    # The filter repeats the indexed expression exactly; the ranking may weigh the title
    # above the body because it reads only the bounded candidate rows.
    rows = session.execute(
        text(
            f"""
            SELECT c.id, c.paper_id, c.summary_id,
                   ts_rank(
                       setweight(to_tsvector('english', coalesce(c.title, '')), 'A')
                       || setweight(to_tsvector('english', coalesce(c.body, '')), 'B'),
                       {_POSTGRES_QUERY}
                   ) AS score
            FROM (
                SELECT d.id, d.paper_id, d.summary_id, d.title, d.body
                FROM search_documents AS d
                WHERE {POSTGRES_DOCUMENT_VECTOR} @@ {_POSTGRES_QUERY}
                ORDER BY d.id DESC
                LIMIT :candidates
            ) AS c
            LEFT JOIN summaries AS s ON s.id = c.summary_id
            WHERE c.summary_id IS NULL OR s.status = :approved
            """  # noqa: S608 -- only module constants are formatted in; input is bound
        ),
        {
            "words": query,
            "candidates": CANDIDATE_LIMIT,
            "approved": SummaryStatus.APPROVED.value,
        },
    )
    return [_Candidate(row[0], row[1], row[2], float(row[3])) for row in rows]


def _postgres_snippets(session: Session, query: str, document_ids: Sequence[int]) -> dict[int, str]:
    """Excerpts from the body, or from the title when only the title matched."""
    if not document_ids:
        return {}
    options = (
        'MaxFragments=1, MaxWords=32, MinWords=12, ShortWord=2, StartSel="", StopSel="",'
        ' FragmentDelimiter=" … "'
    )
    rows = session.execute(
        text(
            f"""
            SELECT d.id,
                   CASE WHEN to_tsvector('english', d.title) @@ {_POSTGRES_QUERY}
                             AND NOT to_tsvector('english', d.body) @@ {_POSTGRES_QUERY}
                        THEN ts_headline('english', d.title, {_POSTGRES_QUERY}, :options)
                        ELSE ts_headline('english', d.body, {_POSTGRES_QUERY}, :options)
                   END
            FROM search_documents AS d
            WHERE d.id IN :ids
            """  # noqa: S608 -- only module constants are formatted in; input is bound
        ).bindparams(bindparam("ids", expanding=True)),
        {"words": query, "options": options, "ids": list(document_ids)},
    )
    return {row[0]: row[1] or "" for row in rows}


def _group_by_paper(candidates: Iterable[_Candidate], limit: int) -> list[_PaperHits]:
    """Papers ordered by their best document; ties go to the newer document."""
    papers: dict[int, _PaperHits] = {}
    for candidate in sorted(candidates, key=lambda c: (-c.score, -c.document_id)):
        paper = papers.get(candidate.paper_id)
        if paper is None:
            paper = papers[candidate.paper_id] = _PaperHits(
                candidate.paper_id, candidate.score, candidate.document_id
            )
        if candidate.summary_id is not None:
            paper.summary_ids.append(candidate.summary_id)
    return list(papers.values())[:limit]


def _clip(snippet: str) -> str:
    """One line of at most SNIPPET_CHARS, cut at a word boundary when there is one."""
    flat = _WHITESPACE.sub(" ", snippet).strip()
    if len(flat) <= SNIPPET_CHARS:
        return flat
    cut = flat[: SNIPPET_CHARS - 1]
    if " " in cut[SNIPPET_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


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
    dialect_insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = dialect_insert(SearchDocument).values(
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


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"full-text search supports SQLite and PostgreSQL, not {name}")
    return name
