"""autolookup channels and cooldowns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autolookup_channels",
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=False),
        sa.Column("discord_guild_id", sa.BigInteger(), nullable=True),
        sa.Column("enabled_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enabled_by_id"],
            ["users.id"],
            name=op.f("fk_autolookup_channels_enabled_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("discord_channel_id", name=op.f("pk_autolookup_channels")),
    )
    op.create_table(
        "autolookup_replies",
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_autolookup_replies_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "discord_channel_id", "paper_id", name=op.f("pk_autolookup_replies")
        ),
    )


def downgrade() -> None:
    op.drop_table("autolookup_replies")
    op.drop_table("autolookup_channels")
