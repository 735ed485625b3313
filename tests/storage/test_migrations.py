"""The shipped migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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
