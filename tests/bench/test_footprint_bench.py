"""bench/footprint.py end to end on a small migrated SQLite file: the shape of its result,
and that it leaves no process running and the database as it found it (no timing limits:
the figures depend on the machine)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.footprint import measure
from storage import leader, migrate
from storage.database import Database

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads VmRSS from /proc (Linux only)"
)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (zombies included: an unreaped child counts)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def test_measure_reports_rss_and_startup_and_stops_its_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'footprint.db'}"
    db = Database.connect(url)
    try:
        migrate.upgrade(db)
        head = migrate.current_revision(db)
    finally:
        db.dispose()
    before = set(_children(os.getpid()))

    result = measure(url, runs=2, idle_s=1.0)

    for key in (
        "idle_rss_mb",
        "idle_rss_floor_mb",
        "rss_ratio",
        "startup_s",
        "startup_floor_s",
        "startup_cpu_s",
        "startup_cpu_floor_s",
    ):
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    # The measured starts loaded the service's own modules compiled, from the scratch
    # cache the warm-up start filled (not from source, whatever the shell had set).
    assert result["compiled_service_modules"] > 10
    assert result["compiled_modules"] > result["compiled_service_modules"]
    assert len(result["startup_cpu_runs_s"]) == 2
    assert len(result["load_average"]) == 3
    # A Python interpreter with SQLAlchemy (or discord.py) loaded is well over 10 MB.
    assert result["idle_rss_mb"] > 10
    assert result["idle_rss_floor_mb"] > 10
    assert result["peak_rss_mb"] >= result["idle_rss_mb"]
    assert result["rss_ratio"] == pytest.approx(
        result["idle_rss_mb"] / result["idle_rss_floor_mb"], abs=0.01
    )
    assert len(result["startup_runs_s"]) == len(result["startup_floor_runs_s"]) == 2
    assert isinstance(result["meets_rss_target"], bool)
    assert isinstance(result["meets_startup_target"], bool)
    # Stopped by SIGTERM, the service shut down cleanly, every time, and posted nothing.
    assert result["exit_codes"] == [0, 0]
    assert result["scratch_files"] == []
    assert set(_children(os.getpid())) <= before

    db = Database.connect(url)
    try:
        assert migrate.current_revision(db) == head
        assert leader.holder(db) is None  # the scheduler lock was released
    finally:
        db.dispose()
