"""The shipped migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, table

from storage import migrate
from storage.database import Database
from storage.migrate import include_name
from storage.models import Base


def test_upgrade_creates_every_table(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        before, after = migrate.upgrade(db)
        assert before is None
        assert after == migrate.head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        db.dispose()


def test_migrated_schema_has_no_drift_from_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_twice_changes_nothing(db: Database) -> None:
    head = migrate.head_revision()
    assert migrate.upgrade(db) == (head, head)
    assert migrate.is_up_to_date(db)


def test_downgrade_to_base_and_up_again(db: Database) -> None:
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert not set(Base.metadata.tables) & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)


def test_rebuilding_tables_keeps_the_rows_that_point_at_them(database_url: str) -> None:
    """SQLite rebuilds a table to change it; with foreign keys on, dropping the old table
    would cascade into search documents and queue cards. Upgrading must lose nothing."""
    db = Database.connect(database_url)
    try:
        migrate.upgrade(db, "0004")
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO users (id, platform, external_id, display_name, created_at)"
                " VALUES (1, 'console', 'ada', 'Ada', CURRENT_TIMESTAMP)",
                "INSERT INTO papers (id, key, arxiv_id, title, abstract, created_at)"
                " VALUES (1, 'arxiv:1606.04474', '1606.04474', 'T', '', CURRENT_TIMESTAMP)",
                "INSERT INTO summaries (id, paper_id, author_id, tldr, body, status, revision,"
                " created_at, updated_at) VALUES (1, 1, 1, 'tl', 'body', 'approved', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO search_documents (doc_key, paper_id, summary_id, title, body)"
                " VALUES ('summary:1', 1, 1, 'T', 'body')",
                "INSERT INTO queue_cards (summary_id, revision, claimed_at)"
                " VALUES (1, 1, CURRENT_TIMESTAMP)",
            ):
                connection.exec_driver_sql(statement)
        migrate.upgrade(db)
        with db.engine.connect() as connection:
            counts = [
                connection.scalar(select(func.count()).select_from(table(name)))
                for name in ("summaries", "search_documents", "queue_cards")
            ]
        assert counts == [1, 1, 1]
    finally:
        db.dispose()
