"""Full-text search over papers (title + abstract) and approved summaries (TL;DR + body).

Every searchable text is a row of ``search_documents`` (see ``SearchDocument``); what
indexes those rows is per database and made by migration 0002:

- SQLite: the FTS5 table ``search_documents_fts`` (porter stemming, diacritics folded),
  kept in step by triggers, so writing ``search_documents`` is all indexing takes;
- PostgreSQL: a stored ``tsvector`` column, ``POSTGRES_VECTOR_COLUMN`` (migration 0009),
  with a GIN index on it.

This package's ``search`` is the entry point; its parts, one module each: ``indexing``
(writing those rows), ``query`` (a user's input as plain words), ``candidates`` (the
bounded set a ranking scores), ``sqlite_ranking`` and ``postgres_ranking`` (each database's
candidates, scores and excerpts) and ``dialect`` (which of the two a session gets).

Why results are "the best of the newest matches", not "the best of all matches"
---------------------------------------------------------------------------------
Ranking every match is proportional to the number of matches: SQLite's default bm25
ordering took about a second per query for a word found in most of 1,000,000 summaries.
So ``search`` first takes a bounded candidate set cheaply, the ``CANDIDATE_LIMIT`` newest
matching documents (FTS5 walks its index in descending rowid order and stops; on
PostgreSQL see ``postgres_ranking.postgres_candidates``), ranks only those (bm25 / ts_rank),
groups them by paper and returns the top ``limit`` papers. The price: for a word in more than
``CANDIDATE_LIMIT`` documents, an old paper that would rank first overall can be missed,
because it is never a candidate. For rarer words (fewer matches than the bound) the
result is exactly the best-ranked one. Documents get ids in the order they are indexed,
so "newest" means "most recently indexed" (``rebuild_index`` re-assigns ids oldest first).

What the bound does not remove (figures from ``python -m bench``): on SQLite, bm25()
counts the documents holding each query word (its IDF) by reading that word's whole
posting list, about 35 ms per very common word at 1,000,000 documents, so for words in
many documents ``sqlite_ranking.sqlite_ranked_here`` applies bm25's formula to the candidates itself
with an estimated count (the order stays bm25()'s; see there). On PostgreSQL,
until migration 0009 the expression index stored no vectors, so each candidate was
tokenized again to rank it (~80 ms for 500 candidates); since 0009 the vector is a
stored, GIN-indexed column and a word that is not very common costs reading its matches'
ids from the index to find the newest; a word in a few percent of the documents is found
by walking the newest ones (~8,000 rows for a word in 6 %, about 8 ms at 1,000,000
summaries), which is still the largest part of its search there.

Whether a summary is still approved is read after the candidates are grouped, for the
summaries of the papers shown only (``_shown_papers``), not joined to every candidate.

Functions take a ``Session`` and never commit: the caller owns the transaction, so a
summary's approval and its indexing land together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from sqlalchemy.orm import Session

from storage.search.candidates import CANDIDATE_LIMIT, Candidate, approved_summaries
from storage.search.dialect import search_dialect
from storage.search.indexing import (
    bulk_indexing,
    index_paper,
    index_summary,
    rebuild_index,
    unindex_summary,
)
from storage.search.postgres_ranking import (
    POSTGRES_DOCUMENT_VECTOR,
    POSTGRES_VECTOR_COLUMN,
    postgres_candidates,
    postgres_custom_plans,
    postgres_snippets,
)
from storage.search.query import MAX_QUERY_WORDS, query_words
from storage.search.sqlite_ranking import (
    TITLE_WEIGHT,
    sqlite_candidates,
    sqlite_match_expression,
    sqlite_ranked_here,
    sqlite_snippets,
)

__all__ = [
    "CANDIDATE_LIMIT",
    "MAX_QUERY_WORDS",
    "POSTGRES_DOCUMENT_VECTOR",
    "POSTGRES_VECTOR_COLUMN",
    "SNIPPET_CHARS",
    "TITLE_WEIGHT",
    "SearchHit",
    "bulk_indexing",
    "index_paper",
    "index_summary",
    "query_words",
    "rebuild_index",
    "search",
    "sqlite_match_expression",
    "unindex_summary",
]

SNIPPET_CHARS = 200
"""The longest excerpt a hit carries."""

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
    if search_dialect(session) == "sqlite":
        match = sqlite_match_expression(terms)
        candidates = sqlite_ranked_here(session, terms)
        if candidates is None:
            candidates = sqlite_candidates(session, match)
        papers = _shown_papers(
            candidates, limit, lambda _shown, ids: approved_summaries(session, ids)
        )
        snippets = sqlite_snippets(session, match, [p.best_document_id for p in papers])
    else:
        query = " ".join(terms)
        snippets = {}

        def approved_with_excerpts(shown: list[_PaperHits], ids: set[int]) -> set[int]:
            excerpts, approved = postgres_snippets(
                session, query, [paper.best_document_id for paper in shown], ids
            )
            snippets.update(excerpts)
            return approved

        with postgres_custom_plans(session):
            candidates = postgres_candidates(session, query)
            papers = _shown_papers(candidates, limit, approved_with_excerpts)
    return [
        SearchHit(
            paper_id=paper.paper_id,
            score=paper.score,
            summary_ids=tuple(paper.summary_ids),
            snippet=_clip(snippets.get(paper.best_document_id, "")),
        )
        for paper in papers
    ]


def _shown_papers(
    candidates: list[Candidate],
    limit: int,
    approved_of: Callable[[list[_PaperHits], set[int]], set[int]],
) -> list[_PaperHits]:
    """The first ``limit`` papers, from approved summaries' documents and papers' own only.

    ``approved_of(papers, summary_ids)`` says which summaries these papers would show are
    approved (asked at least once: on PostgreSQL it brings the excerpts too); a refused
    one drops out and the papers are grouped again (another paper may move up), until
    every summary shown is approved. The documents of summaries that are no longer
    approved are removed when their status changes, so the first check nearly always
    passes."""
    checked: set[int] = set()
    while True:
        papers = _group_by_paper(candidates, limit)
        unchecked = {i for paper in papers for i in paper.summary_ids if i not in checked}
        refused = unchecked - approved_of(papers, unchecked)
        if not refused:
            return papers
        checked |= unchecked
        candidates = [c for c in candidates if c.summary_id not in refused]


def _group_by_paper(candidates: Iterable[Candidate], limit: int) -> list[_PaperHits]:
    """Papers ordered by their best document; ties go to the newer document.

    Only the first ``limit`` papers are made: the other candidates can only add their
    summaries to those (a search has hundreds of candidates and shows ten papers)."""
    papers: dict[int, _PaperHits] = {}
    # Best first: score, then document id, both descending (ids are unique, so no ties).
    for candidate in sorted(candidates, key=_SCORE_THEN_DOCUMENT, reverse=True):
        paper = papers.get(candidate.paper_id)
        if paper is None:
            if len(papers) == limit:
                continue
            paper = papers[candidate.paper_id] = _PaperHits(
                candidate.paper_id, candidate.score, candidate.document_id
            )
        if candidate.summary_id is not None:
            paper.summary_ids.append(candidate.summary_id)
    return list(papers.values())


_SCORE_THEN_DOCUMENT = itemgetter(3, 0)
"""A candidate's (score, document id), for ``_group_by_paper``'s sort."""


def _clip(snippet: str) -> str:
    """One line of at most SNIPPET_CHARS, cut at a word boundary when there is one."""
    flat = _WHITESPACE.sub(" ", snippet).strip()
    if len(flat) <= SNIPPET_CHARS:
        return flat
    cut = flat[: SNIPPET_CHARS - 1]
    if " " in cut[SNIPPET_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"
