"""moderation queue index: pending summaries oldest first

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

``/queue`` lists the oldest pending summaries. With only ``(status, approved_at)`` to go
by, both databases read every pending summary and sorted them (57 ms on SQLite, 69 ms on
PostgreSQL at 10,000 pending, ``python -m bench``); an index in the order asked for is a
walk of 25 entries. SQLite gets the new index's statistics at once, as 0009 did for the rest.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_summaries_status_created_at_id",
        "summaries",
        ["status", "created_at", "id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ANALYZE ix_summaries_status_created_at_id")


def downgrade() -> None:
    op.drop_index("ix_summaries_status_created_at_id", table_name="summaries")
