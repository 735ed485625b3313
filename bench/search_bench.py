"""Full-text search speed on a large synthetic corpus (a benchmark, not a test).

    python bench/search_bench.py                      # 200,000 summaries on SQLite
    python bench/search_bench.py --summaries 1000000  # the case the product must stay fast on
    python bench/search_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test

It builds a migrated database with that many approved summaries (ten per paper), every one
indexed like a real approval, where a few words ("network", "learning") appear in nearly
every summary. It then times ``storage.search.search`` for common, middling and rare words,
and on SQLite also the naive query that ranks every match with bm25, which is what
``search`` avoids. A PostgreSQL URL gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import migrate, search
from storage.database import Database

COMMON = ["network", "learning", "model", "training", "data"]
FILLER = [f"word{i}" for i in range(5000)]
RARE = [f"zyx{i}" for i in range(2000)]
BATCH = 20_000


def _summary_text(rng: random.Random, index: int) -> str:
    words = rng.sample(FILLER, 40)
    words += [word for word in COMMON if rng.random() < 0.9]
    if index % 1000 == 0:
        words.append(RARE[(index // 1000) % len(RARE)])
    rng.shuffle(words)
    return " ".join(words)


def build(db: Database, summaries: int, seed: int = 7) -> float:
    """Papers, a user and approved summaries, with their search documents; returns seconds."""
    rng = random.Random(seed)
    started = time.perf_counter()
    papers = max(1, summaries // 10)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, platform, external_id, display_name, created_at) "
                "VALUES (1, 'bench', 'bench', 'bench', CURRENT_TIMESTAMP)"
            )
        )
    for start in range(0, papers, BATCH):
        rows = [
            {
                "id": i + 1,
                "key": f"bench:{i + 1}",
                "title": f"Paper {i + 1} on {rng.choice(FILLER)}",
            }
            for i in range(start, min(papers, start + BATCH))
        ]
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO papers (id, key, title, abstract, created_at) "
                    "VALUES (:id, :key, :title, '', CURRENT_TIMESTAMP)"
                ),
                rows,
            )
    for start in range(0, summaries, BATCH):
        rows = []
        for i in range(start, min(summaries, start + BATCH)):
            body = _summary_text(rng, i)
            rows.append(
                {
                    "id": i + 1,
                    "paper": i // 10 + 1,
                    "tldr": body[:100],
                    "body": body,
                    "key": f"summary:{i + 1}",
                    "title": f"Paper {i // 10 + 1}",
                }
            )
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO summaries (id, paper_id, author_id, tldr, body, status, revision,"
                    " created_at, updated_at, approved_at) VALUES (:id, :paper, 1, :tldr, :body,"
                    " 'approved', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                rows,
            )
            connection.execute(
                text(
                    "INSERT INTO search_documents (doc_key, paper_id, summary_id, title, body) "
                    "VALUES (:key, :paper, :id, :title, :body)"
                ),
                rows,
            )
        print(f"  {min(summaries, start + BATCH):>9,} summaries indexed", flush=True)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def timed(runs: int, query: Callable[[], object]) -> tuple[float, float]:
    """Median and 95th percentile in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        query()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def run(url: str, summaries: int, queries: int) -> None:
    db = Database.connect(url)
    migrate.upgrade(db)
    print(f"building {summaries:,} summaries on {db.engine.dialect.name} ...")
    seconds = build(db, summaries)
    print(f"built in {seconds:.1f} s")
    cases = {
        "common word (in ~90%)": "network",
        "two common words": "network learning",
        "middling word": FILLER[17],
        "rare word": RARE[3],
    }
    print(f"{'query':<24} {'median ms':>10} {'p95 ms':>10}  (storage.search.search, limit 10)")
    for label, words in cases.items():
        with db.sessions() as session:
            median, p95 = timed(queries, lambda w=words, s=session: search.search(s, w, limit=10))
            hits = len(search.search(session, words, limit=10))
        print(f"{label:<24} {median:>10.1f} {p95:>10.1f}  {hits} papers")
    if db.engine.dialect.name == "sqlite":
        naive = text(
            "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH :q "
            "ORDER BY bm25(search_documents_fts) LIMIT 10"
        )
        with db.engine.connect() as connection:
            median, p95 = timed(
                max(3, queries // 10),
                lambda: connection.execute(naive, {"q": "network"}).all(),
            )
        print(f"{'naive bm25 over all':<24} {median:>10.1f} {p95:>10.1f}  (the cost avoided)")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summaries", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if args.db is None:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args.summaries, args.queries)
        return
    url = make_url(args.db)
    if url.get_backend_name() != "postgresql":
        run(args.db, args.summaries, args.queries)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        run(scoped.render_as_string(hide_password=False), args.summaries, args.queries)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
