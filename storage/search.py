"""Full-text search over papers (title + abstract) and approved summaries (TL;DR + body).

Every searchable text is a row of ``search_documents`` (see ``SearchDocument``); what
indexes those rows is per database and made by migration 0002:

- SQLite: the FTS5 table ``search_documents_fts`` (porter stemming, diacritics folded),
  kept in step by triggers, so writing ``search_documents`` is all indexing takes;
- PostgreSQL: a stored ``tsvector`` column, ``POSTGRES_VECTOR_COLUMN`` (migration 0009),
  with a GIN index on it.

Why results are "the best of the newest matches", not "the best of all matches"
---------------------------------------------------------------------------------
Ranking every match is proportional to the number of matches: SQLite's default bm25
ordering took about a second per query for a word found in most of 1,000,000 summaries.
So ``search`` first takes a bounded candidate set cheaply, the ``CANDIDATE_LIMIT`` newest
matching documents (FTS5 walks its index in descending rowid order and stops; on
PostgreSQL see ``_postgres_walk``), ranks only those (bm25 / ts_rank), groups them by
paper and returns the top ``limit`` papers. The price: for a word in more than
``CANDIDATE_LIMIT`` documents, an old paper that would rank first overall can be missed,
because it is never a candidate. For rarer words (fewer matches than the bound) the
result is exactly the best-ranked one. Documents get ids in the order they are indexed,
so "newest" means "most recently indexed" (``rebuild_index`` re-assigns ids oldest first).

What the bound does not remove (figures from ``python -m bench``): on SQLite, bm25()
counts the documents holding each query word (its IDF) by reading that word's whole
posting list, about 35 ms per very common word at 1,000,000 documents, so for words in
many documents ``_sqlite_ranked_here`` applies bm25's formula to the candidates itself
with an estimated count (the order stays bm25()'s; see there). On PostgreSQL,
until migration 0009 the expression index stored no vectors, so each candidate was
tokenized again to rank it (~80 ms for 500 candidates); since 0009 the vector is a
stored, GIN-indexed column and a word that is not very common costs reading its matches'
ids from the index to find the newest.

Functions take a ``Session`` and never commit: the caller owns the transaction, so a
summary's approval and its indexing land together or not at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Integer,
    Select,
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
from sqlalchemy.orm import Session

from storage.models import Paper, SearchDocument, Summary, SummaryStatus
from storage.writes import dialect_insert

CANDIDATE_LIMIT = 500
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
"""The indexed expression of migration 0002 (replaced by POSTGRES_VECTOR_COLUMN in 0009)."""

POSTGRES_VECTOR_COLUMN = "search_documents_fts_vector"
"""Migration 0009's stored, GIN-indexed column: the weighted vector of title (A) and body
(B), computed once when the row is written, so neither a recheck nor ranking tokenizes."""

_POSTGRES_QUERY = "websearch_to_tsquery('english', :words)"

# Control characters, and lone surrogates (JSON can carry them) that no driver can encode.
_UNUSABLE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
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
    if _dialect(session) == "sqlite":
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


def search(session: Session, words: str, *, limit: int = 10) -> list[SearchHit]:
    """The papers best matching all of ``words``, at most ``limit``, best first.

    Any input is accepted and none makes it fail: it is reduced to plain words (see
    ``query_words``). SQLite gets them as quoted strings, never as FTS5 syntax;
    PostgreSQL reads them with ``websearch_to_tsquery``, which has no syntax errors and
    does honour "quoted phrases", ``-word`` and ``or`` (and skips English stop words,
    which SQLite matches). Only the ``CANDIDATE_LIMIT`` newest matching documents are
    ranked (see the module docstring for why and what that costs).
    """
    terms = query_words(words)
    if not terms or limit <= 0:
        return []
    if _dialect(session) == "sqlite":
        match = sqlite_match_expression(terms)
        candidates = _sqlite_ranked_here(session, terms)
        if candidates is None:
            candidates = _sqlite_candidates(session, match)
        papers = _group_by_paper(candidates, limit)
        snippets = _sqlite_snippets(session, match, [p.best_document_id for p in papers])
    else:
        query = " ".join(terms)
        with _postgres_custom_plans(session):
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
    """The words of a user's query: unusable characters out, words without a letter or
    digit dropped (they cannot match anything), duplicates and words past
    ``MAX_QUERY_WORDS`` ignored."""
    seen: set[str] = set()
    terms: list[str] = []
    for word in _UNUSABLE_CHARACTERS.sub(" ", words).split():
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


def _approved_candidates(rows: Iterable[Sequence[Any]]) -> list[_Candidate]:
    """Rows of (document id, paper id, summary id, score, summary status) as candidates.

    A document whose summary is no longer approved is dropped here, in case a caller
    changed the status but did not unindex it: such text must never be shown.
    """
    return [
        _Candidate(document_id, paper_id, summary_id, float(score))
        for document_id, paper_id, summary_id, score, status in rows
        if summary_id is None or status == SummaryStatus.APPROVED.value
    ]


def _sqlite_candidates(session: Session, match: str) -> list[_Candidate]:
    # The inner query walks the FTS index newest first and stops after the bound, so bm25
    # runs for at most CANDIDATE_LIMIT rows. A LIMIT subquery is never flattened into the
    # joins, so the bound holds. (bm25 still reads each word's whole posting list once to
    # count the documents holding it: that is what grows with the number of matches.)
    rows = session.execute(
        text(
            """
            SELECT d.id, d.paper_id, d.summary_id, -c.rank AS score, s.status
            FROM (
                SELECT rowid AS id, bm25(search_documents_fts, :title_weight, 1.0) AS rank
                FROM search_documents_fts
                WHERE search_documents_fts MATCH :match
                ORDER BY rowid DESC
                LIMIT :candidates
            ) AS c
            JOIN search_documents AS d ON d.id = c.id
            LEFT JOIN summaries AS s ON s.id = d.summary_id
            """
        ),
        {"match": match, "title_weight": TITLE_WEIGHT, "candidates": CANDIDATE_LIMIT},
    )
    return _approved_candidates(rows)


BM25_K1 = 1.2
BM25_B = 0.75
"""FTS5's bm25() constants (SQLite's fts5_aux.c), which ``_sqlite_ranked_here`` repeats."""
FTS5_MIN_IDF = 1e-6
"""What FTS5 uses as a phrase's IDF when the formula gives zero or less (a phrase in more
than half of the documents)."""
HERE_MAX_PHRASES = 4
"""Queries of more words are ranked by bm25() in SQL."""
HERE_FROM_DOCUMENTS = 200_000
"""bm25() in SQL reads every posting of each word (~0.04 µs a document); reading the
candidates' frequencies here costs ~20 ms whatever the words. Words held by fewer
documents than this in all are left to bm25()."""
HERE_MAX_SCANNED = 4 * CANDIDATE_LIMIT
"""Matches of one word ``_sqlite_ranked_here`` reads to count it in the candidates."""

_MARK = "\x01"
_NEWEST_MATCHES = text(
    "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH :match"
    " ORDER BY rowid DESC LIMIT :candidates"
)
_CANDIDATES_WITH_SIZES = text(
    """
    SELECT d.id, d.paper_id, d.summary_id, s.status, z.sz
    FROM (
        SELECT rowid AS id FROM search_documents_fts
        WHERE search_documents_fts MATCH :match
        ORDER BY rowid DESC
        LIMIT :candidates
    ) AS c
    JOIN search_documents AS d ON d.id = c.id
    LEFT JOIN summaries AS s ON s.id = d.summary_id
    LEFT JOIN search_documents_fts_docsize AS z ON z.id = c.id
    """
)
_PHRASE_COUNTS = text(
    """
    SELECT rowid, title, body,
           highlight(search_documents_fts, 0, :mark, ''),
           highlight(search_documents_fts, 1, :mark, '')
    FROM search_documents_fts
    WHERE search_documents_fts MATCH :match AND rowid BETWEEN :low AND :high
    """
)


def _varints(blob: bytes) -> list[int]:
    """SQLite's variable-length integers, as FTS5 stores its sizes and totals."""
    values, position = [], 0
    while position < len(blob):
        value = 0
        for index in range(9):
            byte = blob[position]
            position += 1
            if index == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        values.append(value)
    return values


@dataclass(frozen=True)
class _WordCount:
    """How many documents hold a word, from its newest CANDIDATE_LIMIT matches: all of
    them when it has fewer (exact), else their spacing (an estimate)."""

    holding: float
    matches: Sequence[int] | None
    """Every match, when there were fewer than CANDIDATE_LIMIT."""
    density: float

    @classmethod
    def of(cls, newest_matches: Sequence[int], *, documents: int, newest: int) -> _WordCount:
        if len(newest_matches) < CANDIDATE_LIMIT:
            return cls(float(len(newest_matches)), newest_matches, 0.0)
        density = len(newest_matches) / max(1, newest - newest_matches[-1] + 1)
        return cls(min(float(documents), density * documents), None, density)

    def between(self, low: int, high: int) -> float:
        """Its matches with ids in [low, high]: what reading them there costs."""
        if self.matches is not None:
            return float(sum(1 for id_ in self.matches if low <= id_ <= high))
        return self.density * (high - low + 1)


def _sqlite_ranked_here(session: Session, terms: Sequence[str]) -> list[_Candidate] | None:
    """The CANDIDATE_LIMIT newest matches ranked as FTS5's bm25() ranks them, or None to
    leave it to bm25() in SQL.

    bm25() first counts the documents holding each word, reading the word's whole posting
    list: ~35 ms for a word in 90 % of 1,000,000 documents, the whole cost of such a
    search. When the words are held by many documents (``HERE_FROM_DOCUMENTS``), the count
    comes instead from the spacing of each word's newest CANDIDATE_LIMIT matches (exact when
    it has fewer), each candidate's frequency of each word from highlight() over the
    candidates' id range, its length from FTS5's own sizes; the formula is bm25()'s. The
    order is bm25()'s for one word (the IDF is a common factor) and for words with fewer
    matches than CANDIDATE_LIMIT; otherwise the IDF is an estimate. A word in more than half
    of the documents gets FTS5's minimal IDF, so beside a rarer word it only breaks ties:
    it is not counted then. A query where a counted word would need too many of its
    matches read (a common word beside a rare one that is not minimal) stays with bm25().
    """
    if len(terms) > HERE_MAX_PHRASES:
        return None
    phrases = [sqlite_match_expression([term]) for term in terms]
    averages = session.execute(
        text("SELECT block FROM search_documents_fts_data WHERE id = 1")
    ).scalar_one_or_none()
    totals = _varints(averages or b"")
    documents = totals[0] if totals else 0
    if documents <= 0:
        return None
    newest = session.execute(text("SELECT max(rowid) FROM search_documents_fts")).scalar() or 0
    counts = {
        phrase: _WordCount.of(
            session.execute(_NEWEST_MATCHES, {"match": phrase, "candidates": CANDIDATE_LIMIT})
            .scalars()
            .all(),
            documents=documents,
            newest=newest,
        )
        for phrase in phrases
    }
    if sum(count.holding for count in counts.values()) < HERE_FROM_DOCUMENTS:
        return None
    rows = session.execute(
        _CANDIDATES_WITH_SIZES,
        {"match": " ".join(phrases), "candidates": CANDIDATE_LIMIT},
    ).all()
    if not rows:
        return []
    if any(row.sz is None for row in rows):
        return None
    average_length = sum(totals[1:]) / documents
    low, high = min(row.id for row in rows), max(row.id for row in rows)
    weights = {}
    for phrase, count in counts.items():
        idf = math.log((documents - count.holding + 0.5) / (count.holding + 0.5))
        weights[phrase] = idf if idf > 0 else FTS5_MIN_IDF
    if any(weight > FTS5_MIN_IDF for weight in weights.values()):
        counted = [phrase for phrase in phrases if weights[phrase] > FTS5_MIN_IDF]
    else:
        counted = phrases
    if any(counts[phrase].between(low, high) > HERE_MAX_SCANNED for phrase in counted):
        return None
    candidates = {row.id: row for row in rows}
    scores = dict.fromkeys(candidates, 0.0)
    lengths = {row.id: sum(_varints(row.sz)) for row in rows}
    for phrase in counted:
        matches = session.execute(
            _PHRASE_COUNTS, {"match": phrase, "low": low, "high": high, "mark": _MARK}
        )
        for rowid, title, body, marked_title, marked_body in matches:
            if rowid not in candidates:
                continue
            frequency = TITLE_WEIGHT * (marked_title.count(_MARK) - (title or "").count(_MARK)) + (
                marked_body.count(_MARK) - (body or "").count(_MARK)
            )
            if frequency <= 0:
                continue
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[rowid] / average_length)
            scores[rowid] += weights[phrase] * frequency * (BM25_K1 + 1) / (frequency + norm)
    return _approved_candidates(
        (row.id, row.paper_id, row.summary_id, scores[row.id], row.status) for row in rows
    )


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


_POSTGRES_WEIGHTED_VECTOR = "{row}." + POSTGRES_VECTOR_COLUMN
"""The ranking's view of a document, title above body, stored (see migration 0009); it
matches the same words as POSTGRES_DOCUMENT_VECTOR (``||`` keeps the positions running on)."""

# Reads the matches from the GIN index on the stored vector (migration 0009).
# "d.id + 0" hides the primary key's order from the planner, which could otherwise walk it
# instead (see _postgres_walk). Only the bounded candidates are ranked, from the stored vector.
_POSTGRES_FROM_INDEX = text(
    f"""
    SELECT c.id, c.paper_id, c.summary_id,
           ts_rank({_POSTGRES_WEIGHTED_VECTOR.format(row="c")}, {_POSTGRES_QUERY}), s.status
    FROM (
        SELECT d.id, d.paper_id, d.summary_id, d.{POSTGRES_VECTOR_COLUMN}
        FROM search_documents AS d
        WHERE d.{POSTGRES_VECTOR_COLUMN} @@ {_POSTGRES_QUERY}
        ORDER BY d.id + 0 DESC
        LIMIT :candidates
    ) AS c
    LEFT JOIN summaries AS s ON s.id = c.summary_id
    """  # noqa: S608 -- only module constants are formatted in; input is bound
)

# Tests the stored vectors of the :walk newest documents (no tokenizing since 0009).
_POSTGRES_NEWEST_FIRST = text(
    f"""
    SELECT c.id, c.paper_id, c.summary_id, c.score, s.status
    FROM (
        SELECT d.id, d.paper_id, d.summary_id,
               ts_rank(d.{POSTGRES_VECTOR_COLUMN}, {_POSTGRES_QUERY}) AS score
        FROM (
            SELECT id, paper_id, summary_id, {POSTGRES_VECTOR_COLUMN}
            FROM search_documents
            ORDER BY id DESC
            LIMIT :walk
        ) AS d
        WHERE d.{POSTGRES_VECTOR_COLUMN} @@ {_POSTGRES_QUERY}
        ORDER BY d.id DESC
        LIMIT :candidates
    ) AS c
    LEFT JOIN summaries AS s ON s.id = c.summary_id
    """  # noqa: S608 -- only module constants are formatted in; input is bound
)

_POSTGRES_ESTIMATE = text(
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM search_documents"  # noqa: S608 -- constants only
    f" WHERE {POSTGRES_VECTOR_COLUMN} @@ {_POSTGRES_QUERY}"
)

POSTGRES_TOKENIZE_TO_FETCH_RATIO = 2
"""What testing one walked document costs in units of fetching one matching row through
the GIN index. Before migration 0009 the walk tokenized (~0.16 ms against ~1.3 µs: 120);
with the stored vector it only reads and tests it (``python -m bench --small`` on
PostgreSQL, a word in 13 % of 30,000 documents: walking took 6-13 ms, reading the 3,844
matches 34-49 ms, so the walk wins earlier than this ratio says; 2 stays conservative)."""


@contextmanager
def _postgres_custom_plans(session: Session) -> Iterator[None]:
    """Plan these queries for the words at hand, then put the caller's setting back.

    psycopg prepares a statement it has run five times, and PostgreSQL may then switch to
    one generic plan for all words: for the index query a parallel scan whose workers
    alone cost more than a rare word's whole search (measured: 2 ms became 40 ms).
    """
    previous = session.execute(
        text(
            "SELECT current_setting('plan_cache_mode'),"
            " set_config('plan_cache_mode', 'force_custom_plan', true)"
        )
    ).scalar_one()
    yield
    # Skipped when the block raised: restoring could fail in an aborted transaction and
    # hide the error; SET LOCAL ends with the transaction anyway.
    session.execute(
        text("SELECT set_config('plan_cache_mode', :previous, true)"), {"previous": previous}
    )


def _postgres_walk(session: Session, query: str) -> int | None:
    """How many of the newest documents to tokenize in search of the candidates, or None
    to read every match from the GIN index instead.

    The expression index cannot hand matches out newest first. PostgreSQL can read all M
    matches from it and keep the newest (cost ~ M row fetches), or walk ids downwards
    running ``to_tsvector`` on each document until CANDIDATE_LIMIT match (~ CANDIDATE_LIMIT
    * N / M tokenizations). The walk wins only for words in a large share of the N
    documents, but the planner believes ``to_tsvector`` costs next to nothing and walks
    for words in a few percent of them too, tokenizing tens of thousands (seconds). So the
    choice is made here, from the planner's own estimate of M (the statistics ANALYZE keeps
    for the expression index). The walk is capped at twice the expected length, so a word
    that is common only among old documents costs a bounded detour; without statistics
    the index is read, whose cost is bounded by the number of matches.
    """
    plan = session.execute(_POSTGRES_ESTIMATE, {"words": query}).scalar_one()
    matches = float(plan[0]["Plan"]["Plan Rows"])
    total = session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('search_documents')")
    ).scalar()
    if not total or total <= 0 or matches <= 0:
        return None
    if matches * matches < CANDIDATE_LIMIT * POSTGRES_TOKENIZE_TO_FETCH_RATIO * total:
        return None
    return math.ceil(2 * CANDIDATE_LIMIT * total / matches)


def _postgres_candidates(
    session: Session, query: str, *, walk: int | Literal["auto"] | None = "auto"
) -> list[_Candidate]:
    """The CANDIDATE_LIMIT newest matches, ranked; ``walk`` overrides the access path."""
    if walk == "auto":
        walk = _postgres_walk(session, query)
    parameters = {"words": query, "candidates": CANDIDATE_LIMIT}
    if walk is not None:
        rows = session.execute(_POSTGRES_NEWEST_FIRST, {**parameters, "walk": walk}).all()
        if len(rows) == CANDIDATE_LIMIT:
            return _approved_candidates(rows)
        # Fewer matches among the newest documents than expected: they are older.
    return _approved_candidates(session.execute(_POSTGRES_FROM_INDEX, parameters))


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


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"full-text search supports SQLite and PostgreSQL, not {name}")
    return name
