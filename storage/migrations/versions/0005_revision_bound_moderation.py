"""revision-bound moderation: one card per revision, one active summary per author and paper

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

- summaries: the TL;DR is counted in graphemes by the commands; the database keeps a
  code-point backstop of 2000 (TEXT instead of VARCHAR(280)). A partial unique index
  makes "one pending or approved summary per author and paper" hold under concurrency.
- queue_cards: keyed by (summary, revision), so an outdated card keeps its message id and
  can be edited to say it was superseded; ``closed_at`` and ``attempts`` added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('pending', 'approved')"


def _refuse_duplicates() -> None:
    """The unique index cannot be built over rows that break it; say which ones they are."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT author_id, paper_id, count(*) FROM summaries "
                "WHERE status IN ('pending', 'approved') "
                "GROUP BY author_id, paper_id HAVING count(*) > 1"
            )
        )
        .all()
    )
    if rows:
        pairs = ", ".join(f"author {a} paper {p} ({n})" for a, p, n in rows[:10])
        raise RuntimeError(
            "cannot add the one-active-summary rule: these authors have several pending or "
            f"approved summaries of one paper: {pairs}. Withdraw or reject the extra ones "
            "(shortscience chat --moderator, /reject), then run `shortscience db upgrade` again."
        )


def upgrade() -> None:
    _refuse_duplicates()
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_summaries_tldr_length"), type_="check")
        batch_op.alter_column(
            "tldr", existing_type=sa.String(length=280), type_=sa.Text(), existing_nullable=False
        )
        batch_op.create_check_constraint(
            op.f("ck_summaries_tldr_length"), "length(tldr) BETWEEN 1 AND 2000"
        )
        batch_op.create_index(
            "uq_summaries_author_id_paper_id_active",
            ["author_id", "paper_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )

    with op.batch_alter_table("queue_cards", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("pk_queue_cards"), type_="primary")
        batch_op.create_primary_key(op.f("pk_queue_cards"), ["summary_id", "revision"])
        batch_op.create_index(
            "ix_queue_cards_open", ["discord_message_id", "closed_at"], unique=False
        )
    with op.batch_alter_table("queue_cards", schema=None) as batch_op:
        batch_op.alter_column("attempts", server_default=None)


def downgrade() -> None:
    # Keep the newest card of each summary: the old key allowed one.
    op.execute(
        "DELETE FROM queue_cards WHERE revision < "
        "(SELECT max(q.revision) FROM queue_cards q WHERE q.summary_id = queue_cards.summary_id)"
    )
    with op.batch_alter_table("queue_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_cards_open")
        batch_op.drop_constraint(op.f("pk_queue_cards"), type_="primary")
        batch_op.create_primary_key(op.f("pk_queue_cards"), ["summary_id"])
        batch_op.drop_column("closed_at")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.drop_index("uq_summaries_author_id_paper_id_active")
        batch_op.drop_constraint(op.f("ck_summaries_tldr_length"), type_="check")
        batch_op.alter_column(
            "tldr", existing_type=sa.Text(), type_=sa.String(length=280), existing_nullable=False
        )
        batch_op.create_check_constraint(
            op.f("ck_summaries_tldr_length"), "length(tldr) BETWEEN 1 AND 280"
        )
