"""papers still waiting for arXiv: a partial index of their ids

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

``shortscience run`` asks at start and every five minutes which papers were stored as
placeholders (an arXiv id, no details yet) to fetch them. Without an index both databases
walked every paper by id to find the few, or none, left: at 485,437 papers a whole-table
scan of a quarter of a second each time, whose pages then stayed in the process's cache
(about 2 MB of an idle run). The index holds only the waiting papers, so it is empty when
none waits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UNFETCHED = "fetched_at IS NULL AND arxiv_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_papers_unfetched",
        "papers",
        ["id"],
        unique=False,
        sqlite_where=sa.text(UNFETCHED),
        postgresql_where=sa.text(UNFETCHED),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ANALYZE ix_papers_unfetched")


def downgrade() -> None:
    op.drop_index("ix_papers_unfetched", table_name="papers")
