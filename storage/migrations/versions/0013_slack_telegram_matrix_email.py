"""four more channel kinds (slack, telegram, matrix, email) and a part's rich form

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

- channels: the kind's CHECK also takes slack, telegram, matrix and email.
- deliveries: ``rich``, the part in the forms a network takes beside its plain text
  (Slack's blocks, Matrix's and email's HTML, an email's subject), as JSON. It is written
  with the part when the digest is built, so every try sends the same message.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD_KINDS = ("x", "facebook", "discord", "mastodon", "bluesky", "outbox")
NEW_KINDS = ("slack", "telegram", "matrix", "email")


def _kinds_check(kinds: tuple[str, ...]) -> str:
    return "kind IN ({})".format(", ".join(f"'{kind}'" for kind in kinds))


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_channels_channel_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_channels_channel_kind"), _kinds_check(OLD_KINDS + NEW_KINDS)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rich", sa.JSON(), nullable=True))


def _refuse_new_kinds() -> None:
    """Going back would orphan the new kinds' channels; say which ones stand in the way."""
    rows = (
        op.get_bind()
        .execute(
            sa.text("SELECT name, kind FROM channels WHERE kind IN :kinds").bindparams(
                sa.bindparam("kinds", NEW_KINDS, expanding=True)
            )
        )
        .all()
    )
    if rows:
        names = ", ".join(f"{name} ({kind})" for name, kind in rows[:10])
        raise RuntimeError(
            f"cannot go back before 0013: these channels are of a kind it does not know: {names}"
        )


def downgrade() -> None:
    _refuse_new_kinds()
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("rich")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_channels_channel_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_channels_channel_kind"), _kinds_check(OLD_KINDS))
