"""Ranking on PostgreSQL: ts_rank over the newest matching documents, read either from the
GIN index on the stored vector or by walking the newest documents, and excerpts."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from storage.search.candidates import CANDIDATE_LIMIT, Candidate, approved_candidates

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


def postgres_candidates(
    session: Session, query: str, *, walk: int | Literal["auto"] | None = "auto"
) -> list[Candidate]:
    """The CANDIDATE_LIMIT newest matches, ranked; ``walk`` overrides the access path."""
    if walk == "auto":
        walk = _postgres_walk(session, query)
    parameters = {"words": query, "candidates": CANDIDATE_LIMIT}
    if walk is not None:
        rows = session.execute(_POSTGRES_NEWEST_FIRST, {**parameters, "walk": walk}).all()
        if len(rows) == CANDIDATE_LIMIT:
            return approved_candidates(rows)
        # Fewer matches among the newest documents than expected: they are older.
    return approved_candidates(session.execute(_POSTGRES_FROM_INDEX, parameters))


def postgres_snippets(session: Session, query: str, document_ids: Sequence[int]) -> dict[int, str]:
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
                   CASE WHEN ts_filter(d.{POSTGRES_VECTOR_COLUMN}, '{{a}}') @@ {_POSTGRES_QUERY}
                             AND NOT ts_filter(d.{POSTGRES_VECTOR_COLUMN}, '{{b}}')
                                     @@ {_POSTGRES_QUERY}
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
