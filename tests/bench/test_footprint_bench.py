"""bench/footprint.py end to end on a small migrated SQLite file: the shape of its result,
and that it leaves no process running and the database as it found it (no timing limits:
the figures depend on the machine)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.footprint import file_group, measure, psycopg_impl, resident_files
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
    # What the RSS is made of: the kernel's parts add up to it (one read of the status
    # file), the largest files are named, and SQLite's service loaded no libpq.
    for prefix in ("idle_rss", "idle_rss_floor"):
        parts = result[f"{prefix}_anon_mb"] + result[f"{prefix}_file_mb"]
        assert 0 < parts <= result[f"{prefix}_mb"] + 0.1, prefix
        assert parts > result[f"{prefix}_mb"] - 1.0, prefix  # shared memory: next to none
    assert any(name.startswith("libpython") for name in result["largest_files_mb"]) or any(
        name.startswith("python") for name in result["largest_files_mb"]
    )
    assert list(result["largest_files_mb"].values()) == sorted(
        result["largest_files_mb"].values(), reverse=True
    )
    assert sum(result["largest_files_mb"].values()) <= result["idle_rss_file_mb"] + 0.1
    assert result["psycopg_impl"] is None
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


@pytest.mark.postgres
def test_measure_on_postgresql_names_the_driver_and_its_libraries(postgres_url: str) -> None:
    """On PostgreSQL the service loads psycopg: the result says which implementation (the
    `postgres` extra installs psycopg-binary, which brings its own libpq)."""
    db = Database.connect(postgres_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()

    result = measure(postgres_url, runs=1, idle_s=0.5)

    assert result["exit_codes"] == [0]
    assert result["psycopg_impl"] in ("binary", "c", "python")
    if result["psycopg_impl"] == "binary":
        assert "psycopg_binary.libs" in result["largest_files_mb"]


SMAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234     /usr/bin/python3.11
Size:                  4 kB
Rss:                   4 kB
VmFlags: rd mr mw me sd
7f00-7f01 rw-p 00000000 00:00 0
Rss:                1024 kB
7f02-7f03 r-xp 00001000 08:01 2222 /s/site-packages/psycopg_binary.libs/libpq-e9.so.5
Rss:                 200 kB
7f03-7f04 r--p 00000000 08:01 2223 /s/site-packages/psycopg_binary.libs/libcrypto-3a.so.3
Rss:                1800 kB
7f04-7f05 r-xp 00000000 08:01 2224 /s/site-packages/psycopg_binary/_psycopg.so
Rss:                 400 kB
7f05-7f06 rw-p 00000000 00:00 0        [heap]
Rss:                2048 kB
7f06-7f07 r-xp 00000000 08:01 3333     /usr/lib/x86_64-linux-gnu/libcrypto.so.3
Rss:                3072 kB
7f07-7f07 rw-p 00100000 08:01 3333     /usr/lib/x86_64-linux-gnu/libcrypto.so.3
Rss:                   4 kB
"""


def test_resident_files_groups_by_package_and_leaves_out_anonymous_memory() -> None:
    files, paths = resident_files(SMAPS)

    assert files == {
        "libcrypto.so.3": 3076 / 1024,
        "psycopg_binary.libs": 2000 / 1024,
        "psycopg_binary": 400 / 1024,
        "python3.11": 4 / 1024,
    }
    assert len(paths) == 5  # each file once, the anonymous mappings and the heap not at all
    assert psycopg_impl(paths) == "binary"


def test_psycopg_implementation_from_the_mapped_files() -> None:
    system_libpq = "/usr/lib/x86_64-linux-gnu/libpq.so.5.15"
    compiled = "/v/lib/python3.11/site-packages/psycopg_c/_psycopg.cpython-311.so"
    assert psycopg_impl(["/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"]) is None
    assert psycopg_impl([system_libpq]) == "python"
    assert psycopg_impl([compiled, system_libpq]) == "c"
    assert file_group(system_libpq) == "libpq.so.5.15"
    assert file_group("/v/lib/python3/dist-packages/pydantic_core/_core.so") == "pydantic_core"
