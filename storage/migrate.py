"""Schema migrations, run from code: the Alembic scripts ship inside this package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.database import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SEARCH_INDEX_PREFIX = "search_documents_fts"
"""Names of the per-database search machinery (FTS5 table and its shadow tables, triggers,
the GIN index) that migration 0002 creates by raw DDL and the models do not describe."""


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's name filter: compare everything but the search machinery.

    Without it the drift check (and any autogenerate) would see SQLite's FTS5 table,
    its shadow tables and PostgreSQL's expression index as tables and indexes to drop.
    """
    return not (name or "").startswith(SEARCH_INDEX_PREFIX)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Create or upgrade the schema; returns the revisions before and after."""
    before = current_revision(db)
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(db) or ""


def downgrade(db: Database, revision: str) -> None:
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def is_up_to_date(db: Database) -> bool:
    return current_revision(db) == head_revision()
