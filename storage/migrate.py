"""Schema migrations, run from code: the Alembic scripts ship inside this package.

Alembic (with Mako and Pygments, ~10 MB and ~120 ms) is imported only when the schema
is actually migrated: reading the current revision is one SELECT on ``alembic_version``,
and the head revision is the constant ``SCHEMA_HEAD`` (a test checks it against
Alembic's own answer), so a start on an up-to-date database never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from storage.database import WRITE_OPTION, Database

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

VERSION_TABLE = "alembic_version"
"""Alembic's default version table, which this project's env.py keeps."""
_SELECT_VERSIONS = text("SELECT version_num FROM alembic_version")

MIGRATION_LOCK_KEY = 0x5353_0001
"""PostgreSQL advisory lock taken while migrating: processes starting together take turns."""

SCHEDULER_JOB_TABLE = "apscheduler_jobs"
"""APScheduler's job store, which APScheduler creates and manages itself."""

SEARCH_INDEX_PREFIX = "search_documents_fts"
"""Names of the per-database search machinery (FTS5 table and its shadow tables, triggers,
the GIN index) that migration 0002 creates by raw DDL and the models do not describe."""


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic's name filter: compare everything but the search machinery.

    Without it the drift check (and any autogenerate) would see SQLite's FTS5 table,
    its shadow tables and PostgreSQL's expression index as tables and indexes to drop.
    """
    return not (name or "").startswith((SEARCH_INDEX_PREFIX, SCHEDULER_JOB_TABLE))


def _alembic_config() -> Config:
    from alembic.config import Config  # start-up: only migrating needs Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


SCHEMA_HEAD = "0016"
"""The newest migration's revision; a test checks it is Alembic's head, so adding a
migration without changing it fails there rather than leaving a database behind."""


def head_revision() -> str:
    """The revision an up-to-date database is at (known without loading Alembic)."""
    return SCHEMA_HEAD


def alembic_head() -> str:
    """The head as Alembic reads it off the scripts (what ``SCHEMA_HEAD`` must equal)."""
    from alembic.script import ScriptDirectory  # start-up: only migrating needs Alembic

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _read_revision(connection: Connection) -> str | None:
    """What Alembic's ``MigrationContext.get_current_revision`` answers, in plain SQL."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    heads = connection.execute(_SELECT_VERSIONS).scalars().all()
    if len(heads) > 1:
        from alembic.util import CommandError  # the error Alembic raises for this

        raise CommandError(
            f"Version table '{VERSION_TABLE}' has more than one head present; "
            "please use get_current_heads()"
        )
    return heads[0] if heads else None


def current_revision(db: Database) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    with db.engine.connect() as connection:
        return _read_revision(connection)


class MigrationError(RuntimeError):
    """A migration left the database inconsistent and was rolled back."""


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """One connection and transaction for migrating, safe against a second process.

    PostgreSQL: an advisory lock held to the end of the transaction, so two processes
    starting on a fresh database take turns and the second finds the work done.
    SQLite: the write lock from the start (BEGIN IMMEDIATE), and foreign keys off while
    tables are rebuilt, as SQLite's own ALTER TABLE procedure prescribes: rebuilding a
    table drops the old one, which with foreign keys on would cascade into the rows
    that point at it. The keys are checked before commit and switched back on after.
    """
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, as it must be
        try:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise MigrationError(
                            f"migration left {len(broken)} broken foreign keys, e.g. {broken[0]}"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Create or upgrade the schema; returns the revisions before and after.

    A database already at the head is left alone without loading Alembic (this is what
    every start on an up-to-date database does).
    """
    if revision == "head":
        current = current_revision(db)
        if current is not None and current == head_revision():
            return current, current
    from alembic import command  # start-up: only an actual migration needs Alembic

    config = _alembic_config()
    with _migrating(db) as connection:
        before = _read_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(db) or ""


def downgrade(db: Database, revision: str) -> None:
    """Migrate back to ``revision`` (tests and operators undoing an upgrade)."""
    from alembic import command  # start-up: only an actual migration needs Alembic

    config = _alembic_config()
    with _migrating(db) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def is_up_to_date(db: Database) -> bool:
    """Whether the schema is the newest, so `run` can refuse an old one with a clear line."""
    return current_revision(db) == head_revision()
