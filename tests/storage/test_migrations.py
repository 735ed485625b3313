"""The shipped migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.exc import IntegrityError

from storage import migrate
from storage.database import Database
from storage.migrate import include_name
from storage.models import Base, add_partial_indexes


def test_upgrade_creates_every_table(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        before, after = migrate.upgrade(db)
        assert before is None
        assert after == migrate.head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        db.dispose()


def test_migrated_schema_has_no_drift_from_the_models(db: Database) -> None:
    add_partial_indexes()  # as the migrations' environment does
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_twice_changes_nothing(db: Database) -> None:
    head = migrate.head_revision()
    assert migrate.upgrade(db) == (head, head)
    assert migrate.is_up_to_date(db)


def test_downgrade_to_base_and_up_again(db: Database) -> None:
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert not set(Base.metadata.tables) & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)


def test_rebuilding_tables_keeps_the_rows_that_point_at_them(database_url: str) -> None:
    """SQLite rebuilds a table to change it; with foreign keys on, dropping the old table
    would cascade into search documents and queue cards (cards since 0011). Upgrading must
    lose nothing."""
    db = Database.connect(database_url)
    try:
        migrate.upgrade(db, "0004")
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO users (id, platform, external_id, display_name, created_at)"
                " VALUES (1, 'console', 'ada', 'Ada', CURRENT_TIMESTAMP)",
                "INSERT INTO papers (id, key, arxiv_id, title, abstract, created_at)"
                " VALUES (1, 'arxiv:1606.04474', '1606.04474', 'T', '', CURRENT_TIMESTAMP)",
                "INSERT INTO summaries (id, paper_id, author_id, tldr, body, status, revision,"
                " created_at, updated_at) VALUES (1, 1, 1, 'tl', 'body', 'approved', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO search_documents (doc_key, paper_id, summary_id, title, body)"
                " VALUES ('summary:1', 1, 1, 'T', 'body')",
                "INSERT INTO queue_cards (summary_id, revision, claimed_at)"
                " VALUES (1, 1, CURRENT_TIMESTAMP)",
            ):
                connection.exec_driver_sql(statement)
        migrate.upgrade(db)
        with db.engine.connect() as connection:
            counts = [
                connection.scalar(select(func.count()).select_from(table(name)))
                for name in ("summaries", "search_documents", "cards")
            ]
        assert counts == [1, 1, 1]
    finally:
        db.dispose()


CARD_ROWS_0010 = (
    "INSERT INTO users (id, platform, external_id, display_name, created_at)"
    " VALUES (1, 'console', 'ada', 'Ada', '2026-11-27 10:00:00')",
    "INSERT INTO papers (id, key, arxiv_id, title, abstract, created_at)"
    " VALUES (1, 'arxiv:1606.04474', '1606.04474', 'T', '', '2026-11-27 10:00:00')",
    "INSERT INTO summaries (id, paper_id, author_id, tldr, body, status, revision,"
    " anonymous, imported_votes, created_at, updated_at) VALUES (1, 1, 1, 'tl', 'body',"
    " 'pending', 2, false, 0, '2026-11-27 10:00:00', '2026-11-27 10:00:00')",
    "INSERT INTO channels (id, name, kind, origin, schedule, timezone, require_approval,"
    " max_items, enabled, created_at, updated_at) VALUES (1, 'x-main', 'outbox', 'config',"
    " '0 9 * * *', 'UTC', true, 5, true, '2026-11-27 10:00:00', '2026-11-27 10:00:00')",
    "INSERT INTO digests (id, channel_id, status, created_at, revision)"
    " VALUES (1, 1, 'draft', '2026-11-27 10:00:00', 3)",
    # Revision 1's card was posted and closed, revision 2's is claimed, not yet posted.
    "INSERT INTO queue_cards (summary_id, revision, claimed_at, attempts, discord_channel_id,"
    " discord_message_id, posted_at, closed_at) VALUES (1, 1, '2026-11-27 10:01:00', 1,"
    " 1186000000000000777, 1186000000000000901, '2026-11-27 10:01:01',"
    " '2026-11-27 10:05:00')",
    "INSERT INTO queue_cards (summary_id, revision, claimed_at, attempts)"
    " VALUES (1, 2, '2026-11-27 10:05:00', 2)",
    "INSERT INTO digest_cards (digest_id, claimed_at, attempts, revision, discord_channel_id,"
    " discord_message_id, posted_at) VALUES (1, '2026-11-27 10:02:00', 1, 2,"
    " 1186000000000000777, 1186000000000000902, '2026-11-27 10:02:01')",
)


def _rows(db: Database, sql: str) -> list[tuple[object, ...]]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql).all()]


def test_cards_of_both_kinds_are_carried_into_the_ledger_and_back(database_url: str) -> None:
    """0011 moves queue_cards and digest_cards into one table; Discord's ids become the
    front end's references, and a downgrade turns them into ids again."""
    db = Database.connect(database_url)
    try:
        migrate.upgrade(db, "0010")
        with db.engine.begin() as connection:
            for statement in CARD_ROWS_0010:
                connection.exec_driver_sql(statement)
        migrate.upgrade(db)
        carried = _rows(
            db,
            "SELECT kind, subject_id, key_revision, revision, attempts, place, message_ref,"
            " posted_at IS NOT NULL, closed_at IS NOT NULL FROM cards"
            " ORDER BY kind, subject_id, key_revision",
        )
        assert carried == [
            ("digest", 1, 0, 2, 1, "1186000000000000777", "1186000000000000902", True, False),
            ("summary", 1, 1, 1, 1, "1186000000000000777", "1186000000000000901", True, True),
            ("summary", 1, 2, 2, 2, None, None, False, False),
        ]
        assert not {"queue_cards", "digest_cards"} & set(inspect(db.engine).get_table_names())
        migrate.downgrade(db, "0010")
        assert _rows(
            db,
            "SELECT summary_id, revision, attempts, discord_channel_id, discord_message_id"
            " FROM queue_cards ORDER BY revision",
        ) == [(1, 1, 1, 1186000000000000777, 1186000000000000901), (1, 2, 2, None, None)]
        assert _rows(
            db,
            "SELECT digest_id, revision, discord_channel_id, discord_message_id FROM digest_cards",
        ) == [(1, 2, 1186000000000000777, 1186000000000000902)]
        assert "cards" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def _add_channel(connection: Connection, name: str, kind: str) -> None:
    connection.execute(
        text(
            "INSERT INTO channels (name, kind, origin, schedule, timezone, require_approval,"
            " max_items, enabled, created_at, updated_at) VALUES (:name, :kind, 'config',"
            " '0 9 * * *', 'UTC', false, 5, true, '2026-12-06 10:00:00', '2026-12-06 10:00:00')"
        ),
        {"name": name, "kind": kind},
    )


def test_0013_admits_the_four_new_kinds_and_nothing_else(database_url: str) -> None:
    """The kind's CHECK is the schema's word: before 0013 a Slack channel is refused, after
    it the four new kinds are taken and a misspelt kind still is not; going back refuses
    while a channel of a new kind exists, naming it."""
    db = Database.connect(database_url)
    try:
        migrate.upgrade(db, "0012")
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            _add_channel(connection, "lab", "slack")
        with db.engine.begin() as connection:
            _add_channel(connection, "x-main", "x")
        migrate.upgrade(db)
        with db.engine.begin() as connection:
            for kind in ("slack", "telegram", "matrix", "email"):
                _add_channel(connection, f"c-{kind}", kind)
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            _add_channel(connection, "irc", "irc")
        assert _rows(db, "SELECT count(*) FROM channels") == [(5,)]
        with pytest.raises(RuntimeError, match="c-slack \\(slack\\)"):
            migrate.downgrade(db, "0012")
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM channels WHERE name <> 'x-main'")
        migrate.downgrade(db, "0012")
        assert _rows(db, "SELECT name FROM channels") == [("x-main",)]
        assert "rich" not in {
            column["name"] for column in inspect(db.engine).get_columns("deliveries")
        }
    finally:
        db.dispose()
