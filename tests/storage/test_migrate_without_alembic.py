"""storage.migrate answers "which revision?" without Alembic; the answers must be Alembic's."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage import migrate
from storage.database import Database


def test_the_schema_head_constant_is_alembics_head() -> None:
    """Fails when a migration is added without moving ``SCHEMA_HEAD`` on to it."""
    alembic_head = ScriptDirectory.from_config(migrate._alembic_config()).get_current_head()
    assert migrate.SCHEMA_HEAD == alembic_head == migrate.alembic_head()
    assert migrate.head_revision() == alembic_head


def _alembic_current(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_current_revision_is_alembics(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        assert migrate.current_revision(db) is None  # no table yet
        assert _alembic_current(db) is None
        migrate.upgrade(db, "0003")
        assert migrate.current_revision(db) == "0003" == _alembic_current(db)
        assert migrate.upgrade(db) == ("0003", migrate.head_revision())
        assert migrate.current_revision(db) == migrate.head_revision() == _alembic_current(db)
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
        assert migrate.current_revision(db) is None
        assert _alembic_current(db) is None
    finally:
        db.dispose()
