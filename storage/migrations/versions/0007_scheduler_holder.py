"""scheduler holder: which process runs the scheduler

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

APScheduler keeps its jobs in its own table (``apscheduler_jobs``). It is created here, in
the shape APScheduler 3's SQLAlchemy job store defines, rather than by APScheduler at
start: on SQLite its "create if missing" reads then writes in one transaction, which two
writers at once turn into "database is locked". The drift check leaves the table out
(``storage.migrate.include_name``): it belongs to APScheduler, not to the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_holder",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_scheduler_holder_single")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_holder")),
    )

    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_apscheduler_jobs_next_run_time",
        "apscheduler_jobs",
        ["next_run_time"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("scheduler_holder")
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
