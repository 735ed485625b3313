"""Write statements that decide a rule in one step, on both databases the project runs on.

A rule that must hold when two processes write at once (a user's first command, a
search document, a decision) is one statement rather than a read followed by a write:
``INSERT ... ON CONFLICT``, which SQLAlchemy spells per dialect, or an ``UPDATE ...
WHERE`` whose count of changed rows says who won.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def dialect_insert(session: Session, table: Any) -> Any:
    """``insert(table)`` of the session's dialect, which has ``on_conflict_do_*``."""
    # Each dialect's module is imported here, by the database in use: a process on SQLite
    # never loads PostgreSQL's (~2 MB resident), nor the reverse.
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise NotImplementedError(f"the project runs on SQLite and PostgreSQL, not {name}")


def changed_rows(session: Session, statement: Executable) -> int:
    """Run a conditional UPDATE or DELETE; how many rows it changed (who won a race)."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount
