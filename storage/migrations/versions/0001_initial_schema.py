"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "x",
                "facebook",
                "discord",
                "mastodon",
                "bluesky",
                "outbox",
                name="channel_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "origin",
            sa.Enum(
                "config",
                "discord",
                name="channel_origin",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("max_items", sa.Integer(), nullable=False),
        sa.Column("api_base", sa.String(length=300), nullable=True),
        sa.Column("category_filter", sa.String(length=300), nullable=True),
        sa.Column("discord_guild_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'discord' OR origin <> 'discord' OR discord_channel_id IS NOT NULL",
            name=op.f("ck_channels_discord_target"),
        ),
        sa.CheckConstraint("max_items BETWEEN 1 AND 50", name=op.f("ck_channels_max_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("discord_channel_id", name=op.f("uq_channels_discord_channel_id")),
        sa.UniqueConstraint("name", name=op.f("uq_channels_name")),
    )
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("arxiv_id", sa.String(length=40), nullable=True),
        sa.Column("arxiv_version", sa.Integer(), nullable=True),
        sa.Column("doi", sa.String(length=200), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("primary_category", sa.String(length=40), nullable=True),
        sa.Column("venue", sa.String(length=300), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("journal_ref", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "arxiv_id IS NULL OR key = 'arxiv:' || arxiv_id", name=op.f("ck_papers_arxiv_key")
        ),
        sa.CheckConstraint(
            "arxiv_version IS NULL OR arxiv_version >= 1", name=op.f("ck_papers_arxiv_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_papers")),
        sa.UniqueConstraint("arxiv_id", name=op.f("uq_papers_arxiv_id")),
        sa.UniqueConstraint("key", name=op.f("uq_papers_key")),
    )
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_papers_doi"), ["doi"], unique=False)
        batch_op.create_index(batch_op.f("ix_papers_year"), ["year"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_users_platform_external_id")),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "awaiting_approval",
                "approved",
                "sent",
                "failed",
                name="digest_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_digests_channel_id_channels"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_digests_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("id", "channel_id", name=op.f("uq_digests_id_channel_id")),
    )
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_digests_channel_id_status", ["channel_id", "status"], unique=False
        )

    op.create_table(
        "paper_authors",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_paper_authors_position")),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_authors_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", "position", name=op.f("pk_paper_authors")),
    )
    op.create_table(
        "paper_categories",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_paper_categories_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", "category", name=op.f("pk_paper_categories")),
    )
    with op.batch_alter_table("paper_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_categories_category"), ["category"], unique=False
        )

    op.create_table(
        "summaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("tldr", sa.String(length=280), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                "withdrawn",
                name="summary_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderated_by_id", sa.Integer(), nullable=True),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderation_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("length(body) >= 1", name=op.f("ck_summaries_body_not_empty")),
        sa.CheckConstraint("length(tldr) BETWEEN 1 AND 280", name=op.f("ck_summaries_tldr_length")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_summaries_revision")),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_summaries_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["moderated_by_id"],
            ["users.id"],
            name=op.f("fk_summaries_moderated_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_summaries_paper_id_papers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summaries")),
    )
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_summaries_author_id_created_at", ["author_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_summaries_paper_id_status", ["paper_id", "status"], unique=False)
        batch_op.create_index(
            "ix_summaries_status_approved_at", ["status", "approved_at"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "failed",
                "cancelled",
                name="delivery_state",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_deliveries_attempts")),
        sa.CheckConstraint("part >= 0", name=op.f("ck_deliveries_part")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_deliveries_channel_id_channels"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_deliveries_digest_id_digests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("digest_id", "part", name=op.f("uq_deliveries_digest_id_part")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "digest_items",
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_digest_items_position")),
        sa.ForeignKeyConstraint(
            ["digest_id", "channel_id"],
            ["digests.id", "digests.channel_id"],
            name=op.f("fk_digest_items_digest_id_channel_id_digests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summaries.id"],
            name=op.f("fk_digest_items_summary_id_summaries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("digest_id", "summary_id", name=op.f("pk_digest_items")),
        sa.UniqueConstraint(
            "channel_id", "summary_id", name=op.f("uq_digest_items_channel_id_summary_id")
        ),
        sa.UniqueConstraint(
            "digest_id", "position", name=op.f("uq_digest_items_digest_id_position")
        ),
    )
    op.create_table(
        "moderation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "submitted",
                "edited",
                "withdrawn",
                "approved",
                "rejected",
                name="moderation_action",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_moderation_events_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summaries.id"],
            name=op.f("fk_moderation_events_summary_id_summaries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_events")),
    )
    with op.batch_alter_table("moderation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_moderation_events_summary_id"), ["summary_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("moderation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderation_events_summary_id"))

    op.drop_table("moderation_events")
    op.drop_table("digest_items")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state_next_attempt_at")

    op.drop_table("deliveries")
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.drop_index("ix_summaries_status_approved_at")
        batch_op.drop_index("ix_summaries_paper_id_status")
        batch_op.drop_index("ix_summaries_author_id_created_at")

    op.drop_table("summaries")
    with op.batch_alter_table("paper_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_categories_category"))

    op.drop_table("paper_categories")
    op.drop_table("paper_authors")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index("ix_digests_channel_id_status")

    op.drop_table("digests")
    op.drop_table("users")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_papers_year"))
        batch_op.drop_index(batch_op.f("ix_papers_doi"))

    op.drop_table("papers")
    op.drop_table("channels")
