"""Which of the two full-text implementations a session's database gets."""

from __future__ import annotations

from sqlalchemy.orm import Session


def search_dialect(session: Session) -> str:
    """``sqlite`` or ``postgresql``; any other database is refused here, by name, rather
    than failing somewhere in SQL it does not speak."""
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"full-text search supports SQLite and PostgreSQL, not {name}")
    return name
