"""Engine set-up: SQLite gets WAL and foreign keys; relative files sit beside the config."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Database, describe_url, resolve_url


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.dispose()


def test_relative_sqlite_file_is_placed_in_the_base_dir(tmp_path: Path) -> None:
    url = resolve_url("sqlite:///data/shortscience.db", base_dir=tmp_path)
    assert url.database == str(tmp_path / "data" / "shortscience.db")


def test_absolute_sqlite_file_is_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "abs.db"
    assert resolve_url(f"sqlite:///{absolute}", base_dir=Path("/elsewhere")).database == str(
        absolute
    )


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgres_urls_use_psycopg_3(given: str, driver: str) -> None:
    assert resolve_url(given).drivername == driver


def test_described_url_never_shows_the_password() -> None:
    described = describe_url(resolve_url("postgresql://user:hunter22@db.example.org/prod"))
    assert "hunter22" not in described
    assert "db.example.org" in described
