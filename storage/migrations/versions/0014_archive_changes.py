"""the archive's change log: which papers' pages to rewrite

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

``archive_changes`` gets a row for a paper whenever something its archive pages show
changes, written by triggers so that every writer is covered (a chat command, the terminal,
an import, another process, a hand-made SQL fix):

- a summary inserted approved, updated while or into approved (approval, edit,
  withdrawal, a vote count imported), deleted while approved;
- a vote cast, changed or taken back on an approved summary;
- the paper itself, its authors or its categories changed, when it has an approved summary;
- a user's display name changed, for the papers of their approved, signed summaries.

The updater (``publishers.site.updater``) reads the rows, rewrites the pages and deletes
what it handled. Trigger and function names start with ``archive_changes`` so the drift
check's name filter can tell them apart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_APPROVED = "'approved'"
_HAS_APPROVED = (
    "EXISTS (SELECT 1 FROM summaries s WHERE s.paper_id = {paper} AND s.status = 'approved')"
)

# (trigger suffix, table, event, condition or None, the INSERT's SELECT list body)
# Each body is an INSERT INTO archive_changes (paper_id) <select>, with NEW/OLD as named.
_TRIGGERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("summary_insert", "summaries", "INSERT", f"NEW.status = {_APPROVED}", "SELECT NEW.paper_id"),
    (
        "summary_update",
        "summaries",
        "UPDATE",
        f"OLD.status = {_APPROVED} OR NEW.status = {_APPROVED}",
        "SELECT NEW.paper_id UNION SELECT OLD.paper_id",
    ),
    ("summary_delete", "summaries", "DELETE", f"OLD.status = {_APPROVED}", "SELECT OLD.paper_id"),
    (
        "vote_insert",
        "votes",
        "INSERT",
        None,
        "SELECT paper_id FROM summaries WHERE id = NEW.summary_id AND status = 'approved'",
    ),
    (
        "vote_update",
        "votes",
        "UPDATE",
        None,
        "SELECT paper_id FROM summaries WHERE id = NEW.summary_id AND status = 'approved'",
    ),
    (
        "vote_delete",
        "votes",
        "DELETE",
        None,
        "SELECT paper_id FROM summaries WHERE id = OLD.summary_id AND status = 'approved'",
    ),
    (
        "paper_update",
        "papers",
        "UPDATE",
        _HAS_APPROVED.format(paper="NEW.id"),
        "SELECT NEW.id",
    ),
    (
        "author_insert",
        "paper_authors",
        "INSERT",
        _HAS_APPROVED.format(paper="NEW.paper_id"),
        "SELECT NEW.paper_id",
    ),
    (
        "author_update",
        "paper_authors",
        "UPDATE",
        _HAS_APPROVED.format(paper="NEW.paper_id"),
        "SELECT NEW.paper_id",
    ),
    (
        "author_delete",
        "paper_authors",
        "DELETE",
        _HAS_APPROVED.format(paper="OLD.paper_id"),
        "SELECT OLD.paper_id",
    ),
    (
        "category_insert",
        "paper_categories",
        "INSERT",
        _HAS_APPROVED.format(paper="NEW.paper_id"),
        "SELECT NEW.paper_id",
    ),
    (
        "category_update",
        "paper_categories",
        "UPDATE",
        _HAS_APPROVED.format(paper="NEW.paper_id"),
        "SELECT NEW.paper_id",
    ),
    (
        "category_delete",
        "paper_categories",
        "DELETE",
        _HAS_APPROVED.format(paper="OLD.paper_id"),
        "SELECT OLD.paper_id",
    ),
    (
        "user_update",
        "users",
        "UPDATE",
        "OLD.display_name <> NEW.display_name",
        "SELECT DISTINCT paper_id FROM summaries WHERE author_id = NEW.id"
        " AND status = 'approved' AND NOT anonymous",
    ),
)


def _sqlite_trigger(name: str, table: str, event: str, when: str | None, select: str) -> str:
    condition = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER archive_changes_{name} AFTER {event} ON {table} FOR EACH ROW{condition}"
        f" BEGIN INSERT INTO archive_changes (paper_id) {select}; END"
    )


def _postgres_trigger(
    name: str, table: str, event: str, when: str | None, select: str
) -> tuple[str, str]:
    # PostgreSQL runs a function per trigger; the row's condition is the trigger's WHEN,
    # except where it reads another table (a WHEN may not hold a subquery): then inside.
    inline = when if when and "EXISTS" in when else None
    condition = f" WHEN ({when})" if when and inline is None else ""
    body = f"INSERT INTO archive_changes (paper_id) {select};"
    if inline:
        body = f"IF {inline} THEN {body} END IF;"
    function = (
        f"CREATE FUNCTION archive_changes_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {body} RETURN NULL; END $$"
    )
    trigger = (
        f"CREATE TRIGGER archive_changes_{name} AFTER {event} ON {table} FOR EACH ROW{condition}"
        f" EXECUTE FUNCTION archive_changes_{name}()"
    )
    return function, trigger


def upgrade() -> None:
    op.create_table(
        "archive_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("claim", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_changes")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, event, when, select in _TRIGGERS:
        if postgres:
            for statement in _postgres_trigger(name, table, event, when, select):
                op.execute(statement)
        else:
            op.execute(_sqlite_trigger(name, table, event, when, select))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, *_ in _TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS archive_changes_{name}" + (f" ON {table}" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS archive_changes_{name}()")
    op.drop_table("archive_changes")
