"""The hot queries use the intended indexes (plans, not timings).

On a database filled like ``python -m bench`` fills it (thousands of summaries, so a
sequential scan or a walk of every approved summary is no longer the cheap plan), the
plan of ``/summary``'s summaries query and of ``/search`` must name the index each was
built for; a schema or query change that brings the full walk back fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from bench.fill import MID, RARE, fill
from storage import migrate, search, summaries
from storage.database import Database

SIZE = 4000
PAPER_INDEX = "ix_summaries_paper_id_status"
QUEUE_INDEX = "ix_summaries_status_created_at_id"


def _statements(db: Database, run: Any) -> list[tuple[str, Any]]:
    """The SQL statements (and their parameters) that ``run(session)`` sends."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _m: bool) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.sessions() as session:
            run(session)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def _nodes(plan: Any) -> list[dict[str, Any]]:
    """Every node of a PostgreSQL JSON plan."""
    found: list[dict[str, Any]] = []
    stack = [node["Plan"] for node in plan] if isinstance(plan, list) else [plan]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found


def _summaries_query(db: Database) -> tuple[str, Any]:
    statements = _statements(db, lambda s: summaries.approved_for_paper(s, 3))
    return next((sql, p) for sql, p in statements if "FROM summaries" in sql)


@pytest.fixture
def filled(db: Database) -> Database:
    fill(db, SIZE)
    return db


def _sqlite_plan(db: Database, sql: str, parameters: Any) -> str:
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _postgres_plan(db: Database, sql: str, parameters: Any) -> list[dict[str, Any]]:
    with db.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", parameters).scalar_one()
    return _nodes(plan)


def test_summaries_of_a_paper_are_found_by_the_paper_index(filled: Database) -> None:
    sql, parameters = _summaries_query(filled)
    if filled.engine.dialect.name == "sqlite":
        plan = _sqlite_plan(filled, sql, parameters)
        assert f"USING INDEX {PAPER_INDEX} (paper_id=? AND status=?)" in plan, plan
        # Without that index the planner walks every approved summary: the guard bites.
        with filled.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP INDEX {PAPER_INDEX}")
        filled.engine.dispose()  # connections cache prepared statements and their plans
        without = _sqlite_plan(filled, sql, parameters)
        assert "USING INDEX ix_summaries_status_" in without, without
    else:
        nodes = _postgres_plan(filled, sql, parameters)
        reads = [node for node in nodes if node.get("Relation Name") == "summaries"]
        assert reads, nodes
        assert all(node.get("Index Name") == PAPER_INDEX for node in reads), reads


def test_the_moderation_queue_walks_the_pending_index(filled: Database) -> None:
    """The oldest pending summaries come off the index in order, not from a sort of all."""
    statements = _statements(filled, lambda s: summaries.pending(s, limit=25))
    sql, parameters = next((q, p) for q, p in statements if "ORDER BY" in q)
    if filled.engine.dialect.name == "sqlite":
        plan = _sqlite_plan(filled, sql, parameters)
        assert f"USING INDEX {QUEUE_INDEX} (status=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        nodes = _postgres_plan(filled, sql, parameters)
        assert {node.get("Index Name") for node in nodes} >= {QUEUE_INDEX}, nodes
        assert not any(node["Node Type"] in ("Sort", "Incremental Sort") for node in nodes)


def test_sqlite_has_planner_statistics_after_migrating(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL's autovacuum analyzes by itself."""
    db = Database.connect(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate.upgrade(db)
        with db.engine.connect() as connection:
            assert (
                connection.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
                ).scalar_one()
                == 1
            )
    finally:
        db.dispose()


@pytest.mark.parametrize("word", [MID, RARE])
def test_search_reads_the_full_text_index(filled: Database, word: str) -> None:
    if filled.engine.dialect.name == "sqlite":
        statements = _statements(filled, lambda s: search.search(s, word))
        sql, parameters = next((q, p) for q, p in statements if "MATCH" in q)
        plan = _sqlite_plan(filled, sql, parameters)
        assert "VIRTUAL TABLE INDEX" in plan and "search_documents_fts" in plan, plan
        return
    statements = _statements(filled, lambda s: search.search(s, word))
    # A word in 5 % or fewer of the documents: after the probe of the newest documents,
    # the rest is read from the index (at this size walking further is the dearer way).
    sql, parameters = next((q, p) for q, p in statements if "ORDER BY id + 0" in q)
    assert len([q for q, _ in statements if "LIMIT %(walk)s" in q]) == 1
    if word != RARE:
        return  # at this size scanning a few thousand rows is fairly cheaper for 5 %
    nodes = _postgres_plan(filled, sql, parameters)
    indexes = {node.get("Index Name") for node in nodes}
    assert "search_documents_fts_vector_gin" in indexes, nodes
    with filled.engine.connect() as connection:
        assert (
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'search_documents_fts_gin'"
                    " AND schemaname = current_schema()"
                )
            ).scalar_one()
            == 0
        )
