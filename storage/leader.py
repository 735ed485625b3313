"""Which process runs the scheduler: exactly one, and another takes over when it dies.

PostgreSQL: a session-level advisory lock on a connection of its own, held for as long
as the process lives; when the process dies its connection closes and the lock is free
for the next process that asks. SQLite: an exclusive ``flock`` on a file beside the
database, freed by the kernel when the process dies; a second process on the same file
stands by and says why.

Who holds it is written in ``scheduler_holder`` (host, pid, since) for `shortscience
health`, which trusts that row only while the lock is really held.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, delete, select, text

from storage.database import Database
from storage.models import SchedulerHolder
from storage.writes import dialect_insert

log = logging.getLogger(__name__)

LOCK_KEY = 0x5353_0002
"""The scheduler's advisory lock (the migration lock is 0x5353_0001)."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    since: datetime

    def describe(self) -> str:
        """Who holds the lock, as `health` shows it."""
        return f"{self.host} pid {self.pid} since {self.since:%Y-%m-%d %H:%M:%S} UTC"


class SchedulerLock:
    """This process's claim to run the scheduler."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock now."""
        return self._connection is not None or self._file is not None

    def try_acquire(self, now: datetime) -> bool:
        """Take the lock if it is free; True if this process holds it now."""
        if self.held:
            return True
        if self.db.engine.dialect.name == "postgresql":
            self._connection = _advisory_lock(self.db, LOCK_KEY, wait=False)
        else:
            self._file = _file_lock(_lock_path(self.db), wait=False)
        if not self.held:
            return False
        self._record(now)
        return True

    def still_held(self) -> bool:
        """False when the lock's connection was lost (the database restarted): stop then."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except Exception:
            self._drop()
            return False
        return True

    def release(self) -> None:
        """Give the lock up (a clean stop), so another process takes over without waiting."""
        if not self.held:
            return
        try:
            with self.db.transaction() as session:
                session.execute(delete(SchedulerHolder))
        except Exception as error:  # the lock itself goes with its connection or file
            log.warning("could not clear the scheduler holder row: %s", error)
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
        if self._file is not None:
            _unlock_file(self._file)
            self._file = None

    def _record(self, now: datetime) -> None:
        with self.db.transaction() as session:
            statement = dialect_insert(session, SchedulerHolder).values(
                id=1, host=socket.gethostname(), pid=os.getpid(), since=now
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[SchedulerHolder.id],
                    set_={"host": statement.excluded.host, "pid": statement.excluded.pid,
                          "since": statement.excluded.since},
                )
            )  # fmt: skip


def holder(db: Database) -> Holder | None:
    """Who runs the scheduler now, or None when nobody does."""
    if not _lock_taken(db):
        return None
    with db.sessions() as session:
        row = session.scalars(select(SchedulerHolder)).first()
    if row is None:
        return None
    return Holder(row.host, row.pid, row.since)


def _lock_taken(db: Database) -> bool:
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objid = :key AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"key": LOCK_KEY},
            ).scalar()
        return bool(count)
    path = _lock_path(db)
    if not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _lock_path(db: Database) -> Path:
    database = db.url.database or ""
    if not database or database == ":memory:":
        raise RuntimeError("the scheduler lock needs a database file")
    return Path(database).with_name(Path(database).name + ".scheduler.lock")


ARCHIVE_LOCK_KEY = 0x5353_0003
"""The archive's advisory lock: held while a process writes the kept site folder."""


class ArchiveLock:
    """Whose turn it is to write the archive folder: one process at a time, across
    processes and machines on one database (the same kinds of lock as the scheduler's:
    a PostgreSQL advisory lock, or a ``flock`` beside a SQLite file). Held for one pass or
    one full build, not for the life of the process, so `site build` of the kept folder
    from the terminal simply waits for the running service's pass to end."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    def acquire(self, *, wait: bool) -> bool:
        """Take the lock; with ``wait``, block until it is free. True if held now."""
        if self.db.engine.dialect.name == "postgresql":
            self._connection = _advisory_lock(self.db, ARCHIVE_LOCK_KEY, wait=wait)
            return self._connection is not None
        database = self.db.url.database or ""
        path = Path(database).with_name(Path(database).name + ".archive.lock")
        self._file = _file_lock(path, wait=wait)
        return self._file is not None

    def release(self) -> None:
        """Give the lock back."""
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ARCHIVE_LOCK_KEY}
                )
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            _unlock_file(self._file)
            self._file = None


def _advisory_lock(db: Database, key: int, *, wait: bool) -> Connection | None:
    """A connection of its own holding the advisory lock ``key`` (released when it closes),
    or None when another session holds it and ``wait`` is False."""
    connection = db.engine.connect()
    try:
        if wait:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            got = True
        else:
            got = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            )
        connection.commit()
    except Exception:
        connection.close()
        raise
    if not got:
        connection.close()
        return None
    return connection


def _file_lock(path: Path, *, wait: bool) -> IO[str] | None:
    """The open file holding an exclusive ``flock`` on ``path`` (freed when it closes, or
    when the process dies), or None when another holds it and ``wait`` is False."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open by the caller
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        handle.close()
        return None
    return handle


def _unlock_file(handle: IO[str]) -> None:
    """Free a :func:`_file_lock` and close its file."""
    try:
        fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
