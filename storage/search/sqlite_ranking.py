"""Ranking on SQLite: FTS5's bm25 over the newest matching documents, and excerpts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from storage.search.candidates import CANDIDATE_LIMIT, Candidate, candidates_of

TITLE_WEIGHT = 2.0
"""bm25 weight of a title match against a body match (1.0) on SQLite."""


def sqlite_match_expression(terms: Iterable[str]) -> str:
    """An FTS5 query that can only mean "all of these words".

    Each word becomes a double-quoted string (inner quotes doubled), which FTS5 reads as
    a phrase of that word's tokens and never as an operator, column filter or prefix;
    strings side by side are ANDed.
    """
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms if term)


def sqlite_candidates(session: Session, match: str) -> list[Candidate]:
    """The CANDIDATE_LIMIT newest matches, ranked by FTS5's bm25() in SQL."""
    # The inner query walks the FTS index newest first and stops after the bound, so bm25
    # runs for at most CANDIDATE_LIMIT rows. A LIMIT subquery is never flattened into the
    # joins, so the bound holds. (bm25 still reads each word's whole posting list once to
    # count the documents holding it: that is what grows with the number of matches.)
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
            """
        ),
        {"match": match, "title_weight": TITLE_WEIGHT, "candidates": CANDIDATE_LIMIT},
    ).all()  # whole: SQLAlchemy's row-by-row iteration costs more than the rows
    return candidates_of(rows)


BM25_K1 = 1.2
BM25_B = 0.75
"""FTS5's bm25() constants (SQLite's fts5_aux.c), which ``sqlite_ranked_here`` repeats."""
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
"""Matches of one word ``sqlite_ranked_here`` reads to count it in the candidates."""

_MARK = "\x01"
_NEWEST_MATCHES = text(
    "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH :match"
    " ORDER BY rowid DESC LIMIT :candidates"
)
_CANDIDATES_WITH_SIZES = text(
    """
    SELECT d.id, d.paper_id, d.summary_id, z.sz
    FROM (
        SELECT rowid AS id FROM search_documents_fts
        WHERE search_documents_fts MATCH :match
        ORDER BY rowid DESC
        LIMIT :candidates
    ) AS c
    JOIN search_documents AS d ON d.id = c.id
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


def _document_length(sizes: bytes) -> int:
    """A document's tokens, all columns together, from its FTS5 sizes; most are below 128
    per column, one byte each, and are summed without decoding."""
    if max(sizes, default=0) < 0x80:
        return sum(sizes)
    return sum(_varints(sizes))


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


def sqlite_ranked_here(session: Session, terms: Sequence[str]) -> list[Candidate] | None:
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
    # Fetched whole (.all()): SQLAlchemy's row-by-row iteration costs more than the rows.
    rows = session.execute(
        _CANDIDATES_WITH_SIZES,
        {"match": " ".join(phrases), "candidates": CANDIDATE_LIMIT},
    ).all()
    if not rows:
        return []
    sizes = {row[0]: row[3] for row in rows}
    if None in sizes.values():
        return None
    average_length = sum(totals[1:]) / documents
    low, high = min(sizes), max(sizes)
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
    norms = {
        id_: BM25_K1 * (1 - BM25_B + BM25_B * _document_length(size) / average_length)
        for id_, size in sizes.items()
    }
    scores = dict.fromkeys(norms, 0.0)
    for phrase in counted:
        weight = weights[phrase] * (BM25_K1 + 1)
        matches = session.execute(
            _PHRASE_COUNTS, {"match": phrase, "low": low, "high": high, "mark": _MARK}
        ).all()
        for rowid, title, body, marked_title, marked_body in matches:
            norm = norms.get(rowid)
            if norm is None:
                continue
            # highlight() marks each instance once; a mark already in the text is no instance.
            frequency = TITLE_WEIGHT * (marked_title.count(_MARK) - (title or "").count(_MARK)) + (
                marked_body.count(_MARK) - (body or "").count(_MARK)
            )
            if frequency <= 0:
                continue
            scores[rowid] += weight * frequency / (frequency + norm)
    return candidates_of(
        (id_, paper_id, summary_id, scores[id_]) for id_, paper_id, summary_id, _ in rows
    )


def sqlite_snippets(session: Session, match: str, document_ids: Sequence[int]) -> dict[int, str]:
    """Excerpts for the few documents shown, not for every candidate: each one rereads
    and re-tokenizes its document.

    The documents are among the CANDIDATE_LIMIT newest matches, so the matches between the
    lowest and the highest of them are walked (a read of the index in order) and only the
    shown ones get an excerpt: FTS5 takes ``rowid IN (...)`` as one lookup per id, each
    a seek in every word's posting list (~0.15 ms a document for two common words). The
    walk stops after CANDIDATE_LIMIT matches; a document past that gets no excerpt.
    """
    if not document_ids:
        return {}
    rows = session.execute(
        text(
            """
            SELECT rowid,
                   CASE WHEN rowid IN :ids
                        THEN snippet(search_documents_fts, -1, '', '', '…', 32) END
            FROM search_documents_fts
            WHERE search_documents_fts MATCH :match AND rowid BETWEEN :low AND :high
            ORDER BY rowid DESC
            LIMIT :candidates
            """
        ).bindparams(bindparam("ids", expanding=True)),
        {
            "match": match,
            "ids": list(document_ids),
            "low": min(document_ids),
            "high": max(document_ids),
            "candidates": CANDIDATE_LIMIT,
        },
    )
    return {row[0]: row[1] or "" for row in rows if row[1] is not None}
