"""What the service writes beside its database is ignored by git, so a checkout used to
run the service stays clean."""

from __future__ import annotations

import fnmatch
import warnings
from datetime import UTC, datetime
from pathlib import Path

from storage import migrate
from storage.database import Database
from storage.leader import SchedulerLock

REPO = Path(__file__).resolve().parents[1]


def _ignored(name: str) -> bool:
    patterns = [
        line.strip()
        for line in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "/" not in line.strip()
    ]
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def test_the_files_beside_the_database_are_ignored(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    lock = SchedulerLock(db)
    try:
        migrate.upgrade(db)
        assert lock.try_acquire(datetime.now(UTC))
        written = sorted(path.name for path in tmp_path.iterdir())
    finally:
        lock.release()
        db.dispose()
    assert "shortscience.db.scheduler.lock" in written
    assert [name for name in written if not _ignored(name)] == []


def test_every_python_file_compiles_without_a_warning() -> None:
    """An invalid escape such as ``"\\m"`` in a docstring is only a warning today, shown once
    when the file is first compiled, and an error in a later Python."""
    sources = [
        path
        for folder in ("bot", "publishers", "storage", "bench", "tests")
        for path in sorted((REPO / folder).rglob("*.py"))
    ]
    assert len(sources) > 100
    for path in sources:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
