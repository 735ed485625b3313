"""Alembic environment: runs on the connection that storage.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.migrate import include_name
from storage.models import Base, add_partial_indexes

add_partial_indexes()  # DDL is compared and made here: the models' partial indexes too
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search index's FTS5 tables and GIN index are made by raw DDL, not the models.
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `shortscience db upgrade` (storage.migrate)")
_run(connection)
