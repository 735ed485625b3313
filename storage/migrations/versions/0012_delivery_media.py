"""pictures attached to post parts: delivery_media

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

A post part may carry pictures (equation cards). Their bytes are stored with the part
when the digest is built, so every try sends the same picture, and the network's answer
to an upload is kept beside them, so a retry reuses the upload.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_media",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("mime_type", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("alt", sa.Text(), nullable=False),
        sa.Column("remote_ref", sa.Text(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("position >= 0", name=op.f("ck_delivery_media_position")),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_delivery_media_size")),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_media_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "position", name=op.f("pk_delivery_media")),
    )


def downgrade() -> None:
    op.drop_table("delivery_media")
