"""How fast is ``storage.search.search`` on a big database? A script, not a test.

It builds a database of ``--summaries`` approved summaries (10 per paper, each paper
with its own document too) from synthetic text over a fixed vocabulary, in which a few
words are in most documents ("network" in ~90%, "learning" ~80%, "model" ~60%) and a few
in very few, then times ``search()`` per word class and prints median and p95 per query.
On SQLite it also times the naive query ``search()`` avoids, bm25 over every match
(``ORDER BY rank``), for comparison; on PostgreSQL the same with ``ts_rank``.

Run from the repository root:

    python bench/search_bench.py                       # 200,000 summaries, temporary SQLite
    python bench/search_bench.py --summaries 1000000 --queries 50 --db sqlite:////tmp/s1m.db
    python bench/search_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

The 1,000,000 case takes several minutes to build on a 2-core machine (most of it is
the FTS5 / GIN indexing); give it a file with ``--db`` and a second run reuses the
database instead of building it again. A PostgreSQL database must be empty (or hold a
previous run of the same size): the script creates the schema with the migrations.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Table, func, insert, select, text

from storage import migrate
from storage.database import Database
from storage.models import Paper, SearchDocument, Summary, SummaryStatus, User
from storage.search import CANDIDATE_LIMIT, POSTGRES_DOCUMENT_VECTOR, search

SUMMARIES_PER_PAPER = 10
BATCH_ROWS = 10_000
"""Rows per executemany."""
COMMIT_ROWS = 200_000
"""Rows per transaction: big enough to be fast, small enough to keep the WAL in check."""
SEED = 20261126

COMMON_WORDS = {"network": 0.9, "learning": 0.8, "model": 0.6, "training": 0.5}
"""Words and the share of documents they are put in."""
MEDIUM_WORDS = {"attention": 0.05, "convolution": 0.01}
RARE_EVERY = {"zeolite": 50_000, "quasar": 5_000}
"""Words put in one document out of that many: 20 and 200 per 1,000,000."""

QUERIES = {
    "common": ["network", "learning", "network learning", "model training"],
    "medium": ["attention", "convolution", "attention network"],
    "rare": ["zeolite", "quasar", "quasar network"],
    "absent": ["xylophone", "network xylophone"],
}

SYLLABLES = [consonant + vowel for consonant in "bdfgklmnprstvz" for vowel in "aeiou"]


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    """Made-up words of 2 to 4 syllables: many distinct terms, none of the query words."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    return sorted(words)


class TextMaker:
    """Summary text: filler sentences drawn Zipf-like from the vocabulary plus the marked
    words at their rates. A pool of sentences keeps it fast enough for a million rows."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        vocabulary = _vocabulary(self.rng)
        weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
        self.sentences = [
            " ".join(self.rng.choices(vocabulary, weights=weights, k=10)) + "."
            for _ in range(20_000)
        ]

    def body(self, number: int) -> str:
        parts = self.rng.choices(self.sentences, k=8)
        for word, share in (*COMMON_WORDS.items(), *MEDIUM_WORDS.items()):
            if self.rng.random() < share:
                parts.insert(self.rng.randrange(len(parts) + 1), word)
        for word, every in RARE_EVERY.items():
            if number % every == every // 2:
                parts.insert(self.rng.randrange(len(parts) + 1), word)
        return " ".join(parts)

    def title(self, number: int) -> str:
        return f"On {' '.join(self.rng.choice(self.sentences).split()[:5])} ({number})"


Rows = list[dict[str, object]]


def _bulk(db: Database, batches: Iterator[list[tuple[Table, Rows]]], label: str) -> None:
    """executemany per table and batch, committing every COMMIT_ROWS rows."""
    started = time.perf_counter()
    done = 0
    commit_at = COMMIT_ROWS
    connection: Connection | None = None
    try:
        for batch in batches:
            if connection is None:
                connection = db.engine.connect()
                connection.begin()
            for table, rows in batch:
                connection.execute(insert(table), rows)
            done += len(batch[0][1])
            if done >= commit_at:
                commit_at += COMMIT_ROWS
                connection.commit()
                connection.close()
                connection = None
                print(f"  {label}: {done:,}, {time.perf_counter() - started:.0f} s", flush=True)
        if connection is not None:
            connection.commit()
    finally:
        if connection is not None:
            connection.close()
    print(f"  {label}: {done:,} in {time.perf_counter() - started:.1f} s", flush=True)


def build(db: Database, summaries: int) -> None:
    """Papers, then summaries with their documents (and each paper's document just before
    its first summary's), oldest first, as indexing them one by one over time would."""
    papers = math.ceil(summaries / SUMMARIES_PER_PAPER)
    texts = TextMaker(SEED)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    paper_table: Table = Paper.__table__  # type: ignore[assignment]
    summary_table: Table = Summary.__table__  # type: ignore[assignment]
    document_table: Table = SearchDocument.__table__  # type: ignore[assignment]
    with db.transaction() as session:
        # One author per summary of a paper: an author has one active summary of a paper.
        session.add_all(
            User(id=n, platform="bench", external_id=f"bench{n}", display_name=f"bench{n}")
            for n in range(1, SUMMARIES_PER_PAPER + 1)
        )

    titles = [texts.title(number) for number in range(papers)]
    abstracts = [texts.body(number * 7 + 3) for number in range(papers)]

    def paper_batches() -> Iterator[list[tuple[Table, Rows]]]:
        for first in range(0, papers, BATCH_ROWS):
            rows: Rows = [
                {
                    "id": number + 1,
                    "key": f"bench:{number}",
                    "title": titles[number],
                    "abstract": abstracts[number],
                    "created_at": start + timedelta(minutes=number * SUMMARIES_PER_PAPER),
                }
                for number in range(first, min(first + BATCH_ROWS, papers))
            ]
            yield [(paper_table, rows)]

    def summary_batches() -> Iterator[list[tuple[Table, Rows]]]:
        for first in range(0, summaries, BATCH_ROWS):
            summary_rows: Rows = []
            document_rows: Rows = []
            for number in range(first, min(first + BATCH_ROWS, summaries)):
                at = start + timedelta(minutes=number)
                paper = number // SUMMARIES_PER_PAPER
                tldr = f"Summary {number}: {texts.rng.choice(texts.sentences)}"[:280]
                body = texts.body(number)
                summary_rows.append(
                    {
                        "id": number + 1,
                        "paper_id": paper + 1,
                        "author_id": number % SUMMARIES_PER_PAPER + 1,
                        "tldr": tldr,
                        "body": body,
                        "status": SummaryStatus.APPROVED.value,
                        "revision": 1,
                        "created_at": at,
                        "updated_at": at,
                        "approved_at": at,
                    }
                )
                if number % SUMMARIES_PER_PAPER == 0:
                    document_rows.append(
                        {
                            "doc_key": f"paper:{paper + 1}",
                            "paper_id": paper + 1,
                            "summary_id": None,
                            "title": titles[paper],
                            "body": abstracts[paper],
                        }
                    )
                document_rows.append(
                    {
                        "doc_key": f"summary:{number + 1}",
                        "paper_id": paper + 1,
                        "summary_id": number + 1,
                        "title": titles[paper],
                        "body": f"{tldr}\n{body}",
                    }
                )
            yield [(summary_table, summary_rows), (document_table, document_rows)]

    _bulk(db, paper_batches(), "papers")
    _bulk(db, summary_batches(), "summaries and their documents")
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE")
            )


def _existing_documents(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(SearchDocument)) or 0


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def _report(label: str, times: Sequence[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    print(
        f"  {label:<34} median {statistics.median(ordered) * 1000:8.1f} ms"
        f"   p95 {p95 * 1000:8.1f} ms   (n={len(ordered)})",
        flush=True,
    )


NAIVE_SQLITE = text(
    "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH :match"
    " ORDER BY rank LIMIT 10"
)
NAIVE_POSTGRES = text(
    "SELECT id FROM search_documents"
    f" WHERE {POSTGRES_DOCUMENT_VECTOR} @@ websearch_to_tsquery('english', :words)"
    f" ORDER BY ts_rank({POSTGRES_DOCUMENT_VECTOR}, websearch_to_tsquery('english', :words))"
    " DESC LIMIT 10"
)
COUNT_SQLITE = text(
    "SELECT count(*) FROM search_documents_fts WHERE search_documents_fts MATCH :match"
)
COUNT_POSTGRES = text(
    "SELECT count(*) FROM search_documents"
    f" WHERE {POSTGRES_DOCUMENT_VECTOR} @@ websearch_to_tsquery('english', :words)"
)


def measure(db: Database, queries: int, naive_runs: int) -> None:
    sqlite = db.engine.dialect.name == "sqlite"
    with db.sessions() as session:
        print(f"\nmatches per query (CANDIDATE_LIMIT = {CANDIDATE_LIMIT}):")
        for words in (word for group in QUERIES.values() for word in group):
            match = " ".join(f'"{word}"' for word in words.split())
            count = session.scalar(
                COUNT_SQLITE if sqlite else COUNT_POSTGRES, {"match": match, "words": words}
            )
            print(f"  {words!r:<24} {count:>10,}")
        for group in QUERIES.values():  # warm the caches before timing
            for words in group:
                search(session, words)

        print(f"\nsearch(), {queries} runs per word class (its words taken in turn), limit=10:")
        for group_name, group in QUERIES.items():
            per_word: dict[str, list[float]] = {words: [] for words in group}
            for run in range(queries):
                words = group[run % len(group)]
                per_word[words] += _timed(lambda words=words: search(session, words), 1)
            _report(group_name, [t for times in per_word.values() for t in times])
            for words, times in per_word.items():
                _report(f"  {words!r}", times)

        kind = "bm25 ORDER BY rank" if sqlite else "ts_rank ORDER BY"
        print(f"\nnaive: rank every match ({kind}), LIMIT 10, {naive_runs} runs:")
        for words in (*QUERIES["common"][:2], QUERIES["rare"][1]) if naive_runs > 0 else ():
            match = " ".join(f'"{word}"' for word in words.split())
            statement = NAIVE_SQLITE if sqlite else NAIVE_POSTGRES
            parameters = {"match": match, "words": words}
            _report(
                repr(words),
                _timed(lambda s=statement, p=parameters: session.execute(s, p).all(), naive_runs),
            )
        session.rollback()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--summaries", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=50, help="timed runs per word class")
    parser.add_argument(
        "--naive-runs",
        type=int,
        default=5,
        help="timed runs of the naive query (0: skip it; on PostgreSQL one run can take minutes)",
    )
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)

    temporary = None
    url = args.db
    if url is None:
        temporary = tempfile.TemporaryDirectory(prefix="search-bench-")
        url = f"sqlite:///{Path(temporary.name) / 'bench.db'}"
    db = Database.connect(url)
    try:
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        migrate.upgrade(db)
        expected = args.summaries + math.ceil(args.summaries / SUMMARIES_PER_PAPER)
        existing = _existing_documents(db)
        if existing == expected:
            print(f"reusing the {existing:,} documents already there")
        elif existing:
            print(f"the database holds {existing:,} documents, not {expected:,}: use another")
            return 2
        else:
            print(f"building {args.summaries:,} summaries, {expected:,} documents:")
            started = time.perf_counter()
            build(db, args.summaries)
            print(f"built in {time.perf_counter() - started:.0f} s")
        if db.engine.dialect.name == "sqlite" and db.engine.url.database:
            size = Path(db.engine.url.database).stat().st_size
            print(f"database file: {size / 1e6:,.0f} MB")
        measure(db, args.queries, args.naive_runs)
    finally:
        db.dispose()
        if temporary is not None:
            temporary.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
