"""channels.digest_due_at: a scheduled digest waiting to be built, by any process

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

One process holds the scheduler; at 09:00 it may have thousands of digests due at once.
Its jobs mark each channel due, and every running process builds marked channels, each
taking the next one under a row lock that the others skip (PostgreSQL), so the work is
shared and each digest is still built once. The partial index holds only the marked
channels, so it is empty between scheduled times.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

DUE = "digest_due_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("digest_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_channels_digest_due",
        "channels",
        ["digest_due_at"],
        unique=False,
        sqlite_where=sa.text(DUE),
        postgresql_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_channels_digest_due", table_name="channels")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("digest_due_at")
