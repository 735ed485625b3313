"""votes, anonymous summaries, imported summaries

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("imported_votes", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("import_key", sa.String(length=400), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_summaries_import_key"), ["import_key"])
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.alter_column("anonymous", server_default=None)
        batch_op.alter_column("imported_votes", server_default=None)

    op.create_table(
        "votes",
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value IN (-1, 1)", name=op.f("ck_votes_value")),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summaries.id"],
            name=op.f("fk_votes_summary_id_summaries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_votes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("summary_id", "user_id", name=op.f("pk_votes")),
    )


def downgrade() -> None:
    op.drop_table("votes")
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_summaries_import_key"), type_="unique")
        batch_op.drop_column("import_key")
        batch_op.drop_column("imported_votes")
        batch_op.drop_column("anonymous")
