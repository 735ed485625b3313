"""Ranking on PostgreSQL: ts_rank over the newest matching documents, read either from the
GIN index on the stored vector or by walking the newest documents, and excerpts."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.orm import Session

from storage.models import SummaryStatus
from storage.search.candidates import CANDIDATE_LIMIT, Candidate, candidates_of

POSTGRES_DOCUMENT_VECTOR = (
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))"
)
"""The indexed expression of migration 0002 (replaced by POSTGRES_VECTOR_COLUMN in 0009)."""

POSTGRES_VECTOR_COLUMN = "search_documents_fts_vector"
"""Migration 0009's stored, GIN-indexed column: the weighted vector of title (A) and body
(B), computed once when the row is written, so neither a recheck nor ranking tokenizes."""

_POSTGRES_QUERY = "websearch_to_tsquery('english', :words)"


_POSTGRES_WEIGHTED_VECTOR = "{row}." + POSTGRES_VECTOR_COLUMN
"""The ranking's view of a document, title above body, stored (see migration 0009); it
matches the same words as POSTGRES_DOCUMENT_VECTOR (``||`` keeps the positions running on)."""


def _statement(sql: str, *, below: bool) -> TextClause:
    """``sql`` with its ``{below}`` condition: ``AND id < :below`` to read only documents
    older than those already read, or nothing to read from the newest."""
    return text(sql.format(below="AND id < :below" if below else ""))


# Reads the matches from the GIN index on the stored vector (migration 0009).
# "id + 0" hides the primary key's order from the planner, which could otherwise walk it
# instead (a walk is chosen here, by _postgres_rest_walk). The ranking is computed outside
# the LIMIT subquery (never flattened), so only the bounded candidates are ranked.
_POSTGRES_FROM_INDEX = f"""
    SELECT c.id, c.paper_id, c.summary_id,
           ts_rank({_POSTGRES_WEIGHTED_VECTOR.format(row="c")}, {_POSTGRES_QUERY})
    FROM (
        SELECT id, paper_id, summary_id, {POSTGRES_VECTOR_COLUMN}
        FROM search_documents
        WHERE {POSTGRES_VECTOR_COLUMN} @@ {_POSTGRES_QUERY} {{below}}
        ORDER BY id + 0 DESC
        LIMIT :candidates
    ) AS c
    """  # noqa: S608 -- only module constants are formatted in; input is bound

# Tests the stored vectors of the :walk newest documents (no tokenizing since 0009) and
# stops at the :candidates-th match.
_POSTGRES_NEWEST_FIRST = f"""
    SELECT d.id, d.paper_id, d.summary_id, ts_rank(d.{POSTGRES_VECTOR_COLUMN}, {_POSTGRES_QUERY})
    FROM (
        SELECT id, paper_id, summary_id, {POSTGRES_VECTOR_COLUMN}
        FROM search_documents
        WHERE true {{below}}
        ORDER BY id DESC
        LIMIT :walk
    ) AS d
    WHERE d.{POSTGRES_VECTOR_COLUMN} @@ {_POSTGRES_QUERY}
    ORDER BY d.id DESC
    LIMIT :candidates
    """  # noqa: S608 -- only module constants are formatted in; input is bound

_FROM_INDEX = {below: _statement(_POSTGRES_FROM_INDEX, below=below) for below in (False, True)}
_NEWEST_FIRST = {below: _statement(_POSTGRES_NEWEST_FIRST, below=below) for below in (False, True)}

POSTGRES_PROBE = 1000
"""The newest documents every search tests first. A word in half of them or more has its
CANDIDATE_LIMIT newest matches there, in one statement; for the others, the matches found
say how common the word is among the newest documents, which decides how the rest is read
(``_postgres_rest_walk``). A rare word wastes this walk: about a millisecond at
1,000,000 summaries, what asking the planner for an estimate cost before."""

POSTGRES_WALK_TO_FETCH_RATIO = 1.0
"""What testing one walked document costs in units of reading one match through the GIN
index (``python -m bench`` data at 1,000,000 summaries on PostgreSQL 15: walking 8,435
documents took 6-8 ms, reading a word's 97,018 matches from the index 51 ms before any
row was fetched, 505 matches and their rows 0.6 ms: about 0.6; 1 leans to the index,
whose cost is bounded by the number of matches)."""


@contextmanager
def postgres_custom_plans(session: Session) -> Iterator[None]:
    """Plan these queries for the words at hand: psycopg prepares none of them in the block.

    psycopg prepares a statement it has run five times, and PostgreSQL may then switch to
    one generic plan for all words: for the index query a parallel scan whose workers
    alone cost more than a rare word's whole search (measured: 2 ms became 40 ms). The
    connection's prepare threshold is lifted for the block and put back after: a setting
    on this side, where ``SET LOCAL plan_cache_mode`` and putting it back cost two round
    trips, each a millisecond or more on a busy machine.
    """
    driver: Any = session.connection().connection.driver_connection
    if not hasattr(driver, "prepare_threshold"):  # a driver that prepares nothing itself
        yield
        return
    previous = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = previous


def _postgres_rest_walk(found: int, below: int | None) -> int | None:
    """How many more documents, older than id ``below``, to walk after the probe found
    ``found`` (fewer than CANDIDATE_LIMIT) matches among the POSTGRES_PROBE newest; None to
    read the rest from the GIN index.

    The GIN index cannot hand matches out newest first: PostgreSQL reads all M of them
    and keeps the newest (cost ~ M), where the walk tests documents downwards until enough
    match (~ the remaining candidates / the share of documents that match). The share
    comes from the probe, the number of older documents from ``below`` (ids are given in
    order, so there are about that many). The walk is capped at twice its expected length,
    so a word that is common only among the newest documents costs a bounded detour before
    the index is read for what is still missing.
    """
    if found <= 0 or below is None:
        return None
    share = found / POSTGRES_PROBE
    walk = (CANDIDATE_LIMIT - found) / share
    if walk * POSTGRES_WALK_TO_FETCH_RATIO > share * below:
        return None
    return math.ceil(2 * walk)


def _postgres_read(
    session: Session, query: str, *, walk: int | None, below: int | None, wanted: int
) -> list[Candidate]:
    """The ``wanted`` newest matches older than ``below``: from walking ``walk`` documents
    (all the matches among them, when fewer) or, for ``walk`` None, from the index."""
    parameters: dict[str, Any] = {"words": query, "candidates": wanted}
    if below is not None:
        parameters["below"] = below
    if walk is None:
        return candidates_of(session.execute(_FROM_INDEX[below is not None], parameters).all())
    parameters["walk"] = walk
    return candidates_of(session.execute(_NEWEST_FIRST[below is not None], parameters).all())


def postgres_candidates(
    session: Session, query: str, *, walk: int | Literal["auto"] | None = "auto"
) -> list[Candidate]:
    """The CANDIDATE_LIMIT newest matches, ranked.

    "auto" walks the POSTGRES_PROBE newest documents, then the rest as
    ``_postgres_rest_walk`` says; a number walks that many first, None reads the index
    only (both for tests). A walk that comes up short leaves the older matches to the
    index, so every way returns the same candidates.
    """
    if walk is None:
        return _postgres_read(session, query, walk=None, below=None, wanted=CANDIDATE_LIMIT)
    first = POSTGRES_PROBE if walk == "auto" else walk
    found = _postgres_read(session, query, walk=first, below=None, wanted=CANDIDATE_LIMIT)
    below = _oldest(found, None)
    if walk == "auto" and len(found) < CANDIDATE_LIMIT:
        rest = _postgres_rest_walk(len(found), below)
        if rest is not None:
            more = _postgres_read(
                session, query, walk=rest, below=below, wanted=CANDIDATE_LIMIT - len(found)
            )
            found += more
            below = _oldest(more, below)
    if len(found) < CANDIDATE_LIMIT:
        found += _postgres_read(
            session, query, walk=None, below=below, wanted=CANDIDATE_LIMIT - len(found)
        )
    return found


def _oldest(candidates: Sequence[Candidate], otherwise: int | None) -> int | None:
    """The lowest document id among ``candidates``: every match older than it is unread."""
    return min((c.document_id for c in candidates), default=otherwise)


def postgres_snippets(
    session: Session, query: str, document_ids: Sequence[int], summary_ids: Collection[int]
) -> tuple[dict[int, str], set[int]]:
    """Excerpts of ``document_ids`` (from the body, or from the title when only the title
    matched), and which of ``summary_ids`` are approved (see
    ``candidates.approved_summaries``): one statement, one round trip fewer per search."""
    if not document_ids and not summary_ids:
        return {}, set()
    options = (
        'MaxFragments=1, MaxWords=32, MinWords=12, ShortWord=2, StartSel="", StopSel="",'
        ' FragmentDelimiter=" … "'
    )
    rows = session.execute(
        text(
            f"""
            SELECT 'document', d.id,
                   CASE WHEN ts_filter(d.{POSTGRES_VECTOR_COLUMN}, '{{a}}') @@ {_POSTGRES_QUERY}
                             AND NOT ts_filter(d.{POSTGRES_VECTOR_COLUMN}, '{{b}}')
                                     @@ {_POSTGRES_QUERY}
                        THEN ts_headline('english', d.title, {_POSTGRES_QUERY}, :options)
                        ELSE ts_headline('english', d.body, {_POSTGRES_QUERY}, :options)
                   END
            FROM search_documents AS d
            WHERE d.id IN :ids
            UNION ALL
            SELECT 'summary', s.id, NULL
            FROM summaries AS s
            WHERE s.id IN :summary_ids AND s.status = :approved
            """  # noqa: S608 -- only module constants are formatted in; input is bound
        ).bindparams(bindparam("ids", expanding=True), bindparam("summary_ids", expanding=True)),
        {
            "words": query,
            "options": options,
            "ids": list(document_ids),
            "summary_ids": list(summary_ids),
            "approved": SummaryStatus.APPROVED.value,
        },
    ).all()
    excerpts = {id_: excerpt or "" for kind, id_, excerpt in rows if kind == "document"}
    return excerpts, {id_ for kind, id_, _ in rows if kind == "summary"}
