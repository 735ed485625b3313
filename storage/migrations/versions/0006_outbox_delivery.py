"""the outbox: deliveries in order, claims with leases, stopped channels, moderator notices

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_DIGEST = ("draft", "awaiting_approval", "approved", "sent", "failed")
NEW_DIGEST = ("draft", "approved", "sending", "sent", "failed", "rejected")
OLD_DELIVERY = ("pending", "sending", "sent", "failed", "cancelled")
NEW_DELIVERY = ("pending", "sending", "sent", "failed", "held", "cancelled")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    op.execute("UPDATE digests SET status = 'draft' WHERE status = 'awaiting_approval'")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=_enum(OLD_DIGEST, "digest_status"),
            type_=_enum(NEW_DIGEST, "digest_status"),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("notice", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.alter_column("revision", server_default=None)

    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("stop_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("replies_refused_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "state",
            existing_type=_enum(OLD_DELIVERY, "delivery_state"),
            type_=_enum(NEW_DELIVERY, "delivery_state"),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column("post", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("position", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("summary_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("has_url", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("link", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("remote_cid", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("remote_url", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("needs_lookup", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_deliveries_summary_id_summaries"),
            "summaries",
            ["summary_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_unique_constraint(
            op.f("uq_deliveries_digest_id_post_position"), ["digest_id", "post", "position"]
        )
        batch_op.create_check_constraint(
            op.f("ck_deliveries_post_position"), "post >= 0 AND position >= 0"
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        for column in ("post", "position", "has_url", "needs_lookup"):
            batch_op.alter_column(column, server_default=None)

    op.create_table(
        "publishing_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_publishing_notices_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_publishing_notices_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_notices")),
    )
    with op.batch_alter_table("publishing_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_publishing_notices_posted_at"), ["posted_at"], unique=False
        )

    op.create_table(
        "digest_cards",
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_message_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_digest_cards_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest_id", name=op.f("pk_digest_cards")),
    )


def downgrade() -> None:
    op.drop_table("digest_cards")
    with op.batch_alter_table("publishing_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publishing_notices_posted_at"))
    op.drop_table("publishing_notices")
    op.execute("UPDATE deliveries SET state = 'failed' WHERE state = 'held'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_deliveries_post_position"), type_="check")
        batch_op.drop_constraint(op.f("uq_deliveries_digest_id_post_position"), type_="unique")
        batch_op.drop_constraint(op.f("fk_deliveries_summary_id_summaries"), type_="foreignkey")
        for column in (
            "lease_until",
            "claim_token",
            "needs_lookup",
            "first_attempt_at",
            "remote_url",
            "remote_cid",
            "link",
            "has_url",
            "summary_id",
            "position",
            "post",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column(
            "state",
            existing_type=_enum(NEW_DELIVERY, "delivery_state"),
            type_=_enum(OLD_DELIVERY, "delivery_state"),
            existing_nullable=False,
        )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("replies_refused_at")
        batch_op.drop_column("stop_reason")
        batch_op.drop_column("stopped_at")
    op.execute("UPDATE digests SET status = 'failed' WHERE status IN ('sending', 'rejected')")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_column("revision")
        batch_op.drop_column("notice")
        batch_op.alter_column(
            "status",
            existing_type=_enum(NEW_DIGEST, "digest_status"),
            type_=_enum(OLD_DIGEST, "digest_status"),
            existing_nullable=False,
        )
