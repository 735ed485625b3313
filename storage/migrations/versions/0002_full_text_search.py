"""full-text search over papers and approved summaries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

``search_documents`` is a plain table on both databases (it is in the models). What
indexes it depends on the database and is created here only, by raw DDL, with names
starting ``search_documents_fts`` so ``storage.migrate.include_name`` keeps them out of
the drift check:

- SQLite: an FTS5 external-content table over ``search_documents`` and three triggers
  keeping it in step with every insert, delete and update;
- PostgreSQL: a GIN index on the ``to_tsvector`` expression ``storage.search`` queries.

Existing papers and approved summaries are copied in, oldest first, so a database that
already has content is searchable right after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A frozen copy of what storage.search builds: a migration must not follow later code.
_BACKFILL = """
INSERT INTO search_documents (doc_key, paper_id, summary_id, title, body)
SELECT doc_key, paper_id, summary_id, title, body FROM (
    SELECT 'paper:' || p.id AS doc_key, p.id AS paper_id, CAST(NULL AS INTEGER) AS summary_id,
           p.title AS title, p.abstract AS body,
           p.created_at AS sort_at, 0 AS kind, p.id AS sort_id
    FROM papers p
    UNION ALL
    SELECT 'summary:' || s.id, s.paper_id, s.id,
           p.title, s.tldr || :newline || s.body,
           coalesce(s.approved_at, s.created_at), 1, s.id
    FROM summaries s JOIN papers p ON p.id = s.paper_id
    WHERE s.status = 'approved'
) AS docs
ORDER BY sort_at, kind, sort_id
"""

_SQLITE_UP = (
    """
    CREATE VIRTUAL TABLE search_documents_fts USING fts5(
        title, body,
        content='search_documents', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER search_documents_fts_after_insert AFTER INSERT ON search_documents BEGIN
        INSERT INTO search_documents_fts (rowid, title, body)
        VALUES (new.id, new.title, new.body);
    END
    """,
    """
    CREATE TRIGGER search_documents_fts_after_delete AFTER DELETE ON search_documents BEGIN
        INSERT INTO search_documents_fts (search_documents_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END
    """,
    """
    CREATE TRIGGER search_documents_fts_after_update AFTER UPDATE ON search_documents BEGIN
        INSERT INTO search_documents_fts (search_documents_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO search_documents_fts (rowid, title, body)
        VALUES (new.id, new.title, new.body);
    END
    """,
    # The rows backfilled before the table existed.
    "INSERT INTO search_documents_fts (search_documents_fts) VALUES ('rebuild')",
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS search_documents_fts_after_update",
    "DROP TRIGGER IF EXISTS search_documents_fts_after_delete",
    "DROP TRIGGER IF EXISTS search_documents_fts_after_insert",
    "DROP TABLE IF EXISTS search_documents_fts",
)

# storage.search.postgres_ranking.POSTGRES_DOCUMENT_VECTOR must stay exactly this expression.
_POSTGRES_UP = (
    """
    CREATE INDEX search_documents_fts_gin ON search_documents USING gin (
        to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))
    )
    """,
)

_POSTGRES_DOWN = ("DROP INDEX IF EXISTS search_documents_fts_gin",)


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_key", sa.String(length=40), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(summary_id IS NULL AND doc_key = 'paper:' || paper_id) OR (summary_id IS NOT NULL AND doc_key = 'summary:' || summary_id)",
            name=op.f("ck_search_documents_doc_key"),
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_search_documents_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summaries.id"],
            name=op.f("fk_search_documents_summary_id_summaries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("doc_key", name=op.f("uq_search_documents_doc_key")),
        sa.UniqueConstraint("summary_id", name=op.f("uq_search_documents_summary_id")),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_documents_paper_id"), ["paper_id"], unique=False
        )

    bind = op.get_bind()
    # Filled before the index exists: one bulk build is cheaper than row-by-row upkeep.
    bind.execute(sa.text(_BACKFILL), {"newline": "\n"})

    dialect = bind.dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRES_DOWN:
            op.execute(statement)

    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_documents_paper_id"))

    op.drop_table("search_documents")
