"""``bench.site`` end to end on a tiny filled SQLite file: the shape of its results, that its
counts agree with each other and with the files on disk, that each update wrote the
changed paper's page, and that the database is left as the fill made it (no timing limits:
the figures depend on the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.fill import fill
from bench.site import lines, measure, search_index
from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.builder import SiteBuilder
from storage.database import Database
from storage.models import ModerationEvent, Paper, SearchDocument, Summary, Vote

APPROVALS = 2
SETTLE_S = 1.0
"""What the harness waits after its own deletions here (a minute at full size)."""


def _state(db: Database) -> dict[str, object]:
    """What the measured commands change, counted."""
    with db.sessions() as session:
        statuses = dict(
            session.execute(select(Summary.status, func.count()).group_by(Summary.status)).all()
        )
        return {
            "statuses": statuses,
            "approved_at": session.scalar(select(func.count(Summary.approved_at))),
            "events": session.scalar(select(func.count()).select_from(ModerationEvent)),
            "votes": session.scalar(select(func.count()).select_from(Vote)),
            "documents": session.scalar(select(func.count()).select_from(SearchDocument)),
        }


def _page_of(db: Database, summary_id: int) -> str:
    with db.sessions() as session:
        paper = session.scalar(
            select(Paper)
            .join(Summary, Summary.paper_id == Paper.id)
            .where(Summary.id == summary_id)
        )
        assert paper is not None
        return paths.paper_page(paper)


def test_measure_builds_the_floor_and_updates_and_leaves_the_database_alone(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    db = Database.connect(url)
    try:
        fill(db, 300)
        before = _state(db)
        results = measure(db, url, approvals=APPROVALS, settle_s=SETTLE_S)
        after = _state(db)
        pages_of = {
            run["summary_id"]: _page_of(db, run["summary_id"])
            for kind in ("approval", "vote", "withdrawal")
            for run in results["site_update"][kind]["runs"]
        }
    finally:
        db.dispose()

    assert set(results) == {
        "site_build",
        "site_rebuild",
        "site_floor",
        "site_update",
        "site_search_index",
    }
    assert after == before

    build = results["site_build"]
    assert build["files"] == build["pages"], "every page the builder reports is a file on disk"
    assert build["bytes"] == build["bytes_reported"]
    assert build["summaries"] == 300
    assert build["files"] > build["papers"] > 0  # a page per paper, and the lists
    assert build["bytes"] > build["files"] * 100
    assert build["seconds"] > 0
    assert build["pages_per_s"] == pytest.approx(build["files"] / build["seconds"], rel=0.01)
    assert build["workers"] == 0, "300 summaries are built in the one process"
    # A Python interpreter with SQLAlchemy and Jinja2 loaded is well over 20 MB.
    assert build["peak_rss_mb"] >= build["rss_before_build_mb"] > 20
    assert build["child_s"] >= build["seconds"]
    # CPU beside the wall time: the build's own process (no workers at this size).
    assert build["cpu_user_s"] > 0 and build["worker_cpu_user_s"] >= 0
    spent = sum(build[k] for k in build if k.endswith(("cpu_user_s", "cpu_system_s")))
    assert build["cpu_ms_per_page"] == pytest.approx(spent / build["files"] * 1000, abs=1e-3)
    assert isinstance(build["meets_target"], bool)
    # A fresh folder: nothing to remove after it, and nothing deleted before it to wait for.
    assert not build["over_a_built_folder"] and build["since_deletion_s"] is None
    assert build["live_s"] <= build["seconds"]

    # The build over the built folder removes the old pages after the new ones are live,
    # and says how long each part took.
    rebuild = results["site_rebuild"]
    assert rebuild["over_a_built_folder"]
    assert rebuild["pages"] == build["pages"]
    assert rebuild["bytes_reported"] == build["bytes_reported"]
    assert rebuild["files"] > rebuild["pages"], "the search index is left where it was"
    assert rebuild["live_s"] > 0 and rebuild["retired_s"] > 0
    assert rebuild["live_s"] + rebuild["retired_s"] <= rebuild["seconds"] + 1e-5  # rounded

    floor = results["site_floor"]
    assert (floor["files"], floor["bytes"]) == (build["files"], build["bytes"])
    assert floor["processes"] == max(build["workers"], 1)
    assert floor["seconds"] > 0
    # The rebuild and the site were just deleted: the harness let the disk settle.
    assert floor["since_deletion_s"] >= SETTLE_S
    assert floor["build_to_floor"] == pytest.approx(build["seconds"] / floor["seconds"], rel=0.01)

    update = results["site_update"]
    assert set(update) == {"drain", "approval", "vote", "withdrawal"}
    approvals = update["approval"]
    assert len(approvals["runs"]) == APPROVALS
    assert len({run["summary_id"] for run in approvals["runs"]}) == APPROVALS
    assert 0 < approvals["median_s"] <= approvals["max_s"]
    for kind in ("approval", "vote"):
        for run in update[kind]["runs"]:
            assert run["seconds"] > 0
            assert not run["full_build"], "one change is a page-by-page pass"
            assert pages_of[run["summary_id"]] in run["pages_written"], (kind, run)
            assert run["pages_removed"] == []

    index = results["site_search_index"]
    assert "failed" not in index, index
    assert index["pages"] == build["papers"], "Pagefind indexes the paper pages"
    assert index["seconds"] > 0
    assert index["peak_pagefind_rss_mb"] > 0
    assert 1 <= index["shards"] <= 16 and 0 < index["largest_shard_pages"] <= index["pages"]
    assert index["reindexed_shards"] == 1, "one page written again: its shard alone"
    assert index["reindex_one_page_s"] > 0

    printed = "\n".join(lines(results))
    assert f"{build['files']:,} files" in printed
    assert f"the old ones removed in {rebuild['retired_s']:.1f} s more" in printed
    assert f"CPU {build['cpu_ms_per_page']:.3f} ms a page" in printed
    assert printed.count("site update") == 3
    assert f"{index['pages']:,} pages in" in printed
    assert f"{index['shards']} shards" in printed
    assert "search reindex   one page written again" in printed


def test_a_search_index_past_its_memory_cap_is_reported_as_failed(tmp_path: Path) -> None:
    """Pagefind holds its index in memory: past the cap it fails alone, and says so, instead
    of taking the machine down with it."""
    db = Database.connect(f"sqlite:///{tmp_path / 'bench.db'}")
    try:
        fill(db, 300)
        SiteBuilder(db, Templates(), search=False).build(site := tmp_path / "site")
    finally:
        db.dispose()

    # 40 MiB: the child's Python fits (~30 MB), Pagefind's start does not. The timeout
    # stops a Pagefind that hangs instead of failing where its threads cannot start.
    index = search_index(site, memory_cap=40 * 2**20, timeout=60)

    assert index["memory_cap_mb"] == 40
    assert "Pagefind" in index["failed"]
    assert "pages" not in index
    assert "failed after" in "\n".join(lines({"site_search_index": index}))
