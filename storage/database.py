"""Engines and sessions: built by a function from a URL, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # the driver is loaded by SQLAlchemy, for a SQLite database only
    import sqlite3

WRITE_OPTION = "shortscience_write"
"""Execution option that marks a unit of work that will write (see _begin_sqlite)."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another (the console and the scheduler may overlap)."""

SQLITE_ANALYSIS_LIMIT = 1000
"""Rows per index that SQLite's ANALYZE samples (``PRAGMA analysis_limit``)."""


def resolve_url(url: str | URL, base_dir: Path | None = None) -> URL:
    """Parse a database URL; a relative SQLite file is placed in ``base_dir``.

    The config says ``sqlite:///shortscience.db``: that file belongs beside the config
    file, not in whatever directory the service happened to be started from.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver the `postgres` extra installs; "postgres://" is the
        # spelling some hosts hand out for the same thing.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute() and base_dir is not None:
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return parsed


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # The driver's own deferred BEGIN is switched off so that _begin_sqlite decides.
    dbapi_connection.isolation_level = None
    # Foreign keys are off by default in SQLite; WAL lets readers go on while one writes.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # ANALYZE (migration 0009, PRAGMA optimize) samples this many rows per index
        # instead of reading whole tables: seconds at a million rows become milliseconds.
        cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
    finally:
        cursor.close()


def _optimize_sqlite(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """Refresh the planner's statistics where they are missing or stale, as SQLite advises
    before closing a connection: without them a paper's summaries are found by walking
    every approved one. Cheap when nothing changed; never fails the close."""
    import sqlite3  # loaded already: this runs on SQLite connections only

    with suppress(sqlite3.Error):
        dbapi_connection.execute("PRAGMA optimize")


def _begin_sqlite(connection: Connection) -> None:
    """Writers take SQLite's write lock when they begin, not at their first write.

    With a deferred BEGIN, two writers that both read first (two moderators approving
    the same summary) meet at their writes and one fails with "database is locked"
    whatever the busy timeout; with BEGIN IMMEDIATE the second simply waits its turn.
    """
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | URL, *, base_dir: Path | None = None, echo: bool = False) -> Engine:
    """An engine for SQLite (one file, WAL, foreign keys on) or PostgreSQL."""
    resolved = resolve_url(url, base_dir)
    if resolved.get_backend_name() == "sqlite":
        if resolved.database not in (None, "", ":memory:"):
            Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, echo=echo)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        event.listen(engine, "close", _optimize_sqlite)
        return engine
    return create_engine(resolved, echo=echo, pool_pre_ping=True)


def describe_url(url: URL) -> str:
    """The URL as it may be shown in a log line: the password is never part of it."""
    return url.render_as_string(hide_password=True)


@dataclass
class Database:
    """The engine and its session factory, built once by the application and passed down."""

    engine: Engine
    sessions: sessionmaker[Session]
    writers: sessionmaker[Session]

    @classmethod
    def connect(
        cls, url: str | URL, *, base_dir: Path | None = None, echo: bool = False
    ) -> Database:
        """An engine for ``url`` with the project's settings (SQLite: WAL, foreign keys on)."""
        engine = make_engine(url, base_dir=base_dir, echo=echo)
        writer = engine.execution_options(**{WRITE_OPTION: True})
        return cls(
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            writers=sessionmaker(writer, expire_on_commit=False),
        )

    @property
    def url(self) -> URL:
        """The database URL, for start-up lines (print it with describe_url: no password)."""
        return self.engine.url

    @property
    def writer_engine(self) -> Engine:
        """The engine for code that writes outside our sessions (APScheduler's job store)."""
        return self.engine.execution_options(**{WRITE_OPTION: True})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work that writes: commits when the block ends, rolls back if it raises."""
        with self.writers.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close the pooled connections, so a test or a CLI command leaves none behind."""
        self.engine.dispose()
