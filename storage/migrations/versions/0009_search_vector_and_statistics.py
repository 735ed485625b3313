"""stored search vector on PostgreSQL, planner statistics on SQLite

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

PostgreSQL: the GIN index of 0002 is on a ``to_tsvector`` expression, so every row it
hands out is tokenized again on recheck and again to rank it (270 ms for a word in 5 %
of 1,000,000 documents). A stored generated column holds the weighted vector once
(title weight A, body weight B: it matches the same words as 0002's expression, ``||``
keeps the positions running on) and the GIN index is on that column. Its name starts
with ``search_documents_fts`` so ``storage.migrate.include_name`` keeps it out of the
drift check, like the rest of the search machinery.

SQLite: ``ANALYZE``, so the planner has statistics (``sqlite_stat1``) and looks a
paper's summaries up by ``ix_summaries_paper_id_status`` instead of walking every
approved summary by ``ix_summaries_status_approved_at``. ``storage.database`` keeps the
statistics current with ``PRAGMA optimize`` when connections close.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# storage.search.postgres_ranking.POSTGRES_VECTOR_COLUMN names this column.
_POSTGRES_UP = (
    """
    ALTER TABLE search_documents ADD COLUMN search_documents_fts_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
    ) STORED
    """,
    "CREATE INDEX search_documents_fts_vector_gin ON search_documents"
    " USING gin (search_documents_fts_vector)",
    "DROP INDEX IF EXISTS search_documents_fts_gin",
    "ANALYZE search_documents",
)

_POSTGRES_DOWN = (
    """
    CREATE INDEX search_documents_fts_gin ON search_documents USING gin (
        to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))
    )
    """,
    "DROP INDEX IF EXISTS search_documents_fts_vector_gin",
    "ALTER TABLE search_documents DROP COLUMN IF EXISTS search_documents_fts_vector",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in _POSTGRES_UP:
            op.execute(statement)
    elif dialect == "sqlite":
        op.execute("ANALYZE")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRES_DOWN:
            op.execute(statement)
