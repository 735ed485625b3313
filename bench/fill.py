"""A fast, realistic fill: papers, their authors and categories, users, summaries (mostly
approved, some pending) and their search documents, written in bulk (through SQLAlchemy
Core; on PostgreSQL by COPY) so every constraint is checked and the search index is kept
by the database itself (SQLite's FTS5 triggers, PostgreSQL's generated ``tsvector``
column), built once at the end.

The text is drawn from a fixed vocabulary so word classes have known frequencies:
``COMMON`` is in ~90 % of documents, ``MID`` in ~5 %, ``RARE`` in ~0.04 %, and
``TWO`` are two common words together.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from storage import migrate
from storage.database import Database
from storage.models import (
    Paper,
    PaperAuthor,
    PaperCategory,
    SearchDocument,
    Summary,
    SummaryStatus,
    User,
)
from storage.search import bulk_indexing

COMMON = "network"
MID = "gradient"
RARE = "zebrafish"
TWO = "network learning"
_FILLER_TEXT = (
    "model data training loss layer deep representation method result task approach "
    "feature image language policy reward graph attention kernel sample estimate bound "
    "theorem proof dataset benchmark baseline error performance architecture parameter "
    "inference posterior prior variational latent encoder decoder sequence token vision "
    "robust adversarial convex stochastic optimal regret agent environment embedding"
)
FILLER = _FILLER_TEXT.split()
CATEGORIES = ("cs.LG", "cs.CV", "cs.CL", "stat.ML", "cs.AI", "math.OC", "cs.RO", "q-bio.NC")
VENUES = ("arXiv", "NeurIPS", "ICML", "ICLR", "CVPR", "ACL", "JMLR")
USERS = 5000
PENDING_EVERY = 50
"""One paper in this many also has a pending summary (for ``queue``)."""
RARE_EVERY = 2000
"""One summary in this many has the rare word (~0.04 % of the documents)."""
BATCH = 5000
START = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Filled:
    papers: int
    summaries: int
    seconds: float


def arxiv_id(number: int) -> str:
    """A valid new-style arXiv id for the ``number``-th paper (0-based)."""
    month = number // 99_999
    return f"{20 + month // 12:02d}{month % 12 + 1:02d}.{number % 99_999 + 1:05d}"


MAX_PER_PAPER = 6


def summaries_of(number: int) -> int:
    """Approved summaries of paper ``number``: every 50th has 6, else 1 or 3 alternately."""
    if number % 50 == 0:
        return MAX_PER_PAPER
    return 1 if number % 2 else 3


def _sentence(rng: random.Random, words: int) -> str:
    chosen = rng.choices(FILLER, k=words)
    roll = rng.random()
    if roll < 0.9:
        chosen[rng.randrange(words)] = COMMON
    if rng.random() < 0.6:
        chosen[rng.randrange(words)] = "learning"
    if rng.random() < 0.025:  # two sentences a document: ~5 % of them
        chosen[rng.randrange(words)] = MID
    return " ".join(chosen)


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(table.insert(), rows)


def fill(db: Database, summaries: int, *, seed: int = 1, copy: bool | None = None) -> Filled:
    """Migrate ``db`` and fill it with about ``summaries`` approved summaries (2 per paper
    on average), in one pass; the database must be empty. ``copy``: write by PostgreSQL's
    COPY (the default there; elsewhere there is none) or by bulk inserts."""
    if copy is None:
        copy = db.engine.dialect.name == "postgresql"
    elif copy and db.engine.dialect.name != "postgresql":
        raise ValueError("COPY is PostgreSQL's")
    started = time.perf_counter()
    migrate.upgrade(db)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    tables: dict[str, Table] = {
        name: model.__table__  # type: ignore[misc]
        for name, model in (
            ("users", User),
            ("papers", Paper),
            ("authors", PaperAuthor),
            ("categories", PaperCategory),
            ("summaries", Summary),
            ("documents", SearchDocument),
        )
    }
    with db.engine.connect().execution_options(shortscience_write=True) as connection:
        with connection.begin():
            _insert(
                connection,
                tables["users"],
                [
                    {
                        "id": u + 1,
                        "platform": "console",
                        "external_id": f"user{u}",
                        "display_name": f"User {u}",
                        "created_at": START,
                    }
                    for u in range(USERS)
                ],
            )
        with bulk_indexing(connection):
            made, number = _fill_rows(connection, tables, rng, now, summaries, copy=copy)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                for name in ("users", "papers", "summaries", "search_documents"):
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                            f" (SELECT max(id) FROM {name}))"
                        )
                    )
        analyze(connection)
    return Filled(papers=number, summaries=made, seconds=time.perf_counter() - started)


def _fill_rows(
    connection: Connection,
    tables: dict[str, Table],
    rng: random.Random,
    now: datetime,
    summaries: int,
    *,
    copy: bool,
) -> tuple[int, int]:
    """Papers with their summaries in batches; returns (approved summaries, papers).

    With ``copy`` the rows go in by PostgreSQL's COPY (``_copy``), else by bulk inserts;
    the rows are the same."""
    made = 0
    papers = 0
    with _archive_triggers_off(connection) if copy else nullcontext():
        for rows in _paper_batches(rng, now, summaries):
            made += sum(1 for row in rows["summaries"] if row["approved_at"] is not None)
            papers += len(rows["papers"])
            with connection.begin():
                for name in ("papers", "authors", "categories", "summaries", "documents"):
                    if copy:
                        _copy(connection, tables[name], rows[name])
                    else:
                        _insert(connection, tables[name], rows[name])
    return made, papers


def _paper_batches(
    rng: random.Random, now: datetime, summaries: int
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The rows of papers and what belongs to them, a batch of about ``BATCH`` summaries at
    a time, until ``summaries`` approved ones (whole papers: a few more)."""
    made = 0
    number = 0
    summary_id = 0
    document_id = 0
    while made < summaries:
        rows: dict[str, list[dict[str, Any]]] = {
            name: [] for name in ("papers", "authors", "categories", "summaries", "documents")
        }
        while made < summaries and len(rows["summaries"]) < BATCH:
            paper_id = number + 1
            when = START + timedelta(minutes=number)
            title = _sentence(rng, 8).capitalize()
            abstract = _sentence(rng, 40)
            identifier = arxiv_id(number)
            rows["papers"].append(
                {
                    "id": paper_id,
                    "key": f"arxiv:{identifier}",
                    "arxiv_id": identifier,
                    "arxiv_version": 1,
                    "title": title,
                    "abstract": abstract,
                    "primary_category": CATEGORIES[number % len(CATEGORIES)],
                    "venue": VENUES[number % len(VENUES)],
                    "year": 2010 + number % 16,
                    "journal_ref": None,
                    "comment": None,
                    "doi": None,
                    "url": f"https://arxiv.org/abs/{identifier}",
                    "published_at": when,
                    "updated_at": when,
                    "fetched_at": now,
                    "created_at": when,
                }
            )
            rows["authors"].extend(
                {"paper_id": paper_id, "position": p, "name": f"Author {(number + p) % 9973}"}
                for p in range(3)
            )
            rows["categories"].extend(
                {"paper_id": paper_id, "category": CATEGORIES[(number + c) % len(CATEGORIES)]}
                for c in range(2)
            )
            document_id += 1
            rows["documents"].append(
                {
                    "id": document_id,
                    "doc_key": f"paper:{paper_id}",
                    "paper_id": paper_id,
                    "summary_id": None,
                    "title": title,
                    "body": abstract,
                }
            )
            count = summaries_of(number)
            for k in range(count + (1 if number % PENDING_EVERY == 1 else 0)):
                approved = k < count
                summary_id += 1
                tldr = _sentence(rng, 10)
                if summary_id % RARE_EVERY == 1:
                    tldr = f"{tldr} {RARE}"
                body = _sentence(rng, 50)
                rows["summaries"].append(
                    {
                        "id": summary_id,
                        "paper_id": paper_id,
                        "author_id": (number * 7 + k) % USERS + 1,
                        "tldr": tldr,
                        "body": body,
                        "status": SummaryStatus.APPROVED if approved else SummaryStatus.PENDING,
                        "revision": 1,
                        "created_at": when,
                        "updated_at": when,
                        "approved_at": when if approved else None,
                        "moderated_by_id": 1 if approved else None,
                        "moderated_at": when if approved else None,
                        "moderation_reason": None,
                        "anonymous": k == 2,
                        "imported_votes": (number + k) % 5,
                        "import_key": None,
                    }
                )
                if approved:
                    made += 1
                    document_id += 1
                    rows["documents"].append(
                        {
                            "id": document_id,
                            "doc_key": f"summary:{summary_id}",
                            "paper_id": paper_id,
                            "summary_id": summary_id,
                            "title": title,
                            "body": f"{tldr}\n{body}",
                        }
                    )
            number += 1
        yield rows


def _copy(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``rows`` into ``table`` by PostgreSQL's COPY, in the connection's transaction:
    several times faster than INSERTs, with the same constraints checked and the same
    generated columns computed."""
    if not rows:
        return
    import psycopg  # only on PostgreSQL, where it is the driver
    from psycopg import sql

    names = list(rows[0])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"COPY needs psycopg's connection, not {type(raw).__name__}")
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            # A StrEnum goes in as its value, as SQLAlchemy's Enum column stores it.
            copy.write_row(
                [value.value if isinstance(value, enum.Enum) else value for value in row.values()]
            )


@contextmanager
def _archive_triggers_off(connection: Connection) -> Iterator[None]:
    """Within the block, the archive's change log is not kept row by row; at its end it
    gets what its triggers would have written for this fill, in one statement.

    The authors' and categories' insert triggers (each looks for an approved summary of
    the paper) cost ten to twenty times their rows' COPY (100,000 summaries: 25 s of
    the fill's 45). The fill writes each paper with its authors and categories before its
    summaries, so the only rows these triggers write are one per approved summary, in
    the summaries' order (``tests/bench/test_fill.py`` compares the two paths). The three
    insert triggers are off for every session (``ALTER TABLE``, committed) until the
    block ends: for a fill that owns the database."""
    triggers = (
        ("summaries", "archive_changes_summary_insert"),
        ("paper_authors", "archive_changes_author_insert"),
        ("paper_categories", "archive_changes_category_insert"),
    )
    with connection.begin():
        top = connection.execute(text("SELECT coalesce(max(id), 0) FROM summaries")).scalar_one()
        for table, trigger in triggers:
            connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        with connection.begin():
            for table, trigger in triggers:
                connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            connection.execute(
                text(
                    "INSERT INTO archive_changes (paper_id) SELECT paper_id FROM summaries"
                    " WHERE id > :top AND status = 'approved' ORDER BY id"
                ),
                {"top": top},
            )


def analyze(connection: Connection) -> None:
    """What an operator runs after a bulk load (``storage.database`` does it on SQLite as
    connections close, by ``PRAGMA optimize``)."""
    if connection.in_transaction():
        connection.commit()
    if connection.dialect.name == "postgresql":
        # VACUUM too: until it sets the visibility map, index-only scans read the heap
        # (search p99 on 1,000,000 summaries went from 115 to 36 ms). It cannot run in
        # a transaction.
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        return
    connection.exec_driver_sql("ANALYZE")
    connection.commit()  # statistics are transactional


def filled_size(db: Database) -> int:
    """Approved summaries already in ``db`` (0 for an empty or new database)."""
    try:
        with db.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Summary)
                    .where(Summary.status == SummaryStatus.APPROVED)
                )
                or 0
            )
    except Exception:  # a database without the schema holds nothing
        return 0
