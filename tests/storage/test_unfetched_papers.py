"""Papers waiting for arXiv's details are found without walking every paper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.fill import fill
from storage import papers
from storage.database import Database
from storage.models import Paper
from tests.storage.test_query_plans import _postgres_plan, _sqlite_plan, _statements

INDEX = "ix_papers_unfetched"


@pytest.fixture
def filled(db: Database) -> Database:
    fill(db, 4000)  # every paper fetched, as in a service that has run a while
    return db


def test_the_waiting_papers_come_from_their_partial_index(filled: Database) -> None:
    statements = _statements(filled, lambda session: papers.unfetched(session))
    sql, parameters = next((q, p) for q, p in statements if "FROM papers" in q)
    if filled.engine.dialect.name == "sqlite":
        plan = _sqlite_plan(filled, sql, parameters)
        assert f"INDEX {INDEX}" in plan, plan
    else:
        nodes = _postgres_plan(filled, sql, parameters)
        assert INDEX in {node.get("Index Name") for node in nodes}, nodes
        assert not any(node["Node Type"] == "Seq Scan" for node in nodes), nodes


def test_the_index_holds_exactly_the_waiting_papers(filled: Database) -> None:
    with filled.transaction() as session:
        assert papers.unfetched(session) == []
        placeholder = papers.placeholder(session, "2501.00001", datetime.now(UTC))
        waiting = session.get(Paper, placeholder)
        assert waiting is not None and waiting.fetched_at is None
    with filled.transaction() as session:
        assert papers.unfetched(session) == ["2501.00001"]
        session.get(Paper, placeholder).fetched_at = datetime.now(UTC)  # type: ignore[union-attr]
    with filled.transaction() as session:
        assert papers.unfetched(session) == []
