"""The benchmark's fill: on PostgreSQL, COPY writes the same rows as the bulk inserts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.fill import fill
from storage.database import Database

TABLES = {
    "users": "id",
    "papers": "id",
    "paper_authors": "paper_id, position",
    "paper_categories": "paper_id, category",
    "summaries": "id",
    "search_documents": "id",
    "archive_changes": "id",
}
"""Every table the fill writes (the archive's change log by triggers), with its order."""


@pytest.fixture
def two_schemas(postgres_server: str) -> Iterator[tuple[str, str]]:
    """Two fresh schemas on the server, as database URLs."""
    admin = create_engine(postgres_server)
    names = [f"t_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    urls = [
        make_url(postgres_server)
        .update_query_dict({"options": f"-csearch_path={name}"})
        .render_as_string(hide_password=False)
        for name in names
    ]
    try:
        yield urls[0], urls[1]
    finally:
        with admin.begin() as connection:
            for name in names:
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def _contents(db: Database) -> dict[str, Any]:
    """Every row of the filled tables (the search vector as text; a paper's fetched_at,
    the fill's own clock, left out), and each id sequence's next value."""
    out: dict[str, Any] = {}
    with db.engine.connect() as connection:
        for table, order in TABLES.items():
            columns = [
                name
                for (name,) in connection.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name"
                        " = :table AND table_schema = current_schema() ORDER BY ordinal_position"
                    ),
                    {"table": table},
                )
                if name != "fetched_at"
            ]
            listed = ", ".join(f"{name}::text" for name in columns)
            query = f"SELECT {listed} FROM {table} ORDER BY {order}"  # noqa: S608 (the schema's names)
            out[table] = (columns, connection.execute(text(query)).all())
        for table in ("users", "papers", "summaries", "search_documents", "archive_changes"):
            out[f"{table} next id"] = connection.execute(
                text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
            ).scalar_one()
    return out


@pytest.mark.postgres
def test_copy_writes_the_rows_the_inserts_write(two_schemas: tuple[str, str]) -> None:
    inserted, copied = (Database.connect(url) for url in two_schemas)
    try:
        by_insert = fill(inserted, 300, copy=False)
        by_copy = fill(copied, 300, copy=True)
        assert (by_copy.papers, by_copy.summaries) == (by_insert.papers, by_insert.summaries)
        expected, found = _contents(inserted), _contents(copied)
    finally:
        inserted.dispose()
        copied.dispose()
    assert found.keys() == expected.keys()
    for table in TABLES:
        columns, rows = expected[table]
        assert rows, table
        assert found[table] == (columns, rows), table
    assert len(expected["archive_changes"][1]) == by_insert.summaries  # one per approval
    for key in expected.keys() - TABLES.keys():
        assert found[key] == expected[key], key


@pytest.mark.postgres
def test_after_a_copy_the_archive_triggers_and_the_search_index_work(postgres_url: str) -> None:
    db = Database.connect(postgres_url)
    try:
        fill(db, 300)  # COPY, the default on PostgreSQL
        with db.engine.begin() as connection:
            before = connection.execute(text("SELECT count(*) FROM archive_changes")).scalar_one()
            connection.execute(
                text("INSERT INTO paper_authors (paper_id, position, name) VALUES (1, 9, 'New')")
            )
            after = connection.execute(text("SELECT count(*) FROM archive_changes")).scalar_one()
            index = connection.execute(
                text("SELECT to_regclass('search_documents_fts_vector_gin') IS NOT NULL")
            ).scalar_one()
    finally:
        db.dispose()
    assert after == before + 1  # paper 1 has approved summaries: its pages change
    assert index


def test_copy_is_postgresql_s(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'fill.db'}")
    try:
        with pytest.raises(ValueError, match="COPY"):
            fill(db, 10, copy=True)
    finally:
        db.dispose()
