"""one card ledger: queue_cards and digest_cards become cards, with neutral message references

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

Summary cards and digest cards were one protocol (claim, send, confirm, close) kept in two
tables with Discord's column names. ``cards`` holds both, told apart by ``kind``; the key
(kind, subject, ``key_revision``) is the revision for summary cards (one card per
revision) and 0 for digest cards (one card per digest, drawn again). Discord's channel and
message ids are carried over as the front end's references ``place`` and ``message_ref``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column(
            "kind",
            sa.Enum(
                "summary",
                "digest",
                name="card_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("key_revision", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=True),
        sa.Column("message_ref", sa.String(length=100), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_cards_revision")),
        sa.CheckConstraint(
            "key_revision = 0 OR key_revision = revision", name=op.f("ck_cards_key_revision")
        ),
        sa.PrimaryKeyConstraint("kind", "subject_id", "key_revision", name=op.f("pk_cards")),
    )
    op.create_index("ix_cards_kind_closed_at", "cards", ["kind", "closed_at"], unique=False)
    op.execute(
        "INSERT INTO cards (kind, subject_id, key_revision, revision, claimed_at, attempts,"
        " place, message_ref, posted_at, closed_at) SELECT 'summary', summary_id, revision,"
        " revision, claimed_at, attempts, CAST(discord_channel_id AS VARCHAR(100)),"
        " CAST(discord_message_id AS VARCHAR(100)), posted_at, closed_at FROM queue_cards"
    )
    op.execute(
        "INSERT INTO cards (kind, subject_id, key_revision, revision, claimed_at, attempts,"
        " place, message_ref, posted_at, closed_at) SELECT 'digest', digest_id, 0, revision,"
        " claimed_at, attempts, CAST(discord_channel_id AS VARCHAR(100)),"
        " CAST(discord_message_id AS VARCHAR(100)), posted_at, closed_at FROM digest_cards"
    )
    op.drop_index("ix_queue_cards_open", table_name="queue_cards")
    op.drop_table("queue_cards")
    op.drop_table("digest_cards")


def downgrade() -> None:
    op.create_table(
        "queue_cards",
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_message_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_queue_cards_revision")),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summaries.id"],
            name=op.f("fk_queue_cards_summary_id_summaries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("summary_id", "revision", name=op.f("pk_queue_cards")),
    )
    op.create_index(
        "ix_queue_cards_open", "queue_cards", ["discord_message_id", "closed_at"], unique=False
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
    # Only Discord wrote cards before this revision: its references are numbers again. A
    # card whose subject is gone has no row to point at any more and stays behind.
    op.execute(
        "INSERT INTO queue_cards (summary_id, revision, claimed_at, discord_channel_id,"
        " discord_message_id, posted_at, attempts, closed_at) SELECT subject_id, revision,"
        " claimed_at, CAST(place AS BIGINT), CAST(message_ref AS BIGINT), posted_at, attempts,"
        " closed_at FROM cards"
        " WHERE kind = 'summary' AND subject_id IN (SELECT id FROM summaries)"
    )
    op.execute(
        "INSERT INTO digest_cards (digest_id, claimed_at, attempts, revision,"
        " discord_channel_id, discord_message_id, posted_at, closed_at) SELECT subject_id,"
        " claimed_at, attempts, revision, CAST(place AS BIGINT), CAST(message_ref AS BIGINT),"
        " posted_at, closed_at FROM cards"
        " WHERE kind = 'digest' AND subject_id IN (SELECT id FROM digests)"
    )
    op.drop_index("ix_cards_kind_closed_at", table_name="cards")
    op.drop_table("cards")
