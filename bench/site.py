"""The public archive (issue 19, item 2): a full build beside its floor, and the
incremental update after one approval, one vote and one withdrawal.

- **full build**: ``SiteBuilder.build`` with the shipped templates into a scratch folder, in
  a child process (:mod:`bench.site_build`) so its peak RSS is the build's own: the child's
  ``ru_maxrss`` and its largest worker process's. Target: 5,000 pages/s at 1,000,000
  summaries on a 2-core machine, in bounded memory.
- **rebuild**: the full build again, over the built folder, as an operator's ``site build``
  of a published folder runs: the time until the new pages are live and the removal of the
  pages they replaced after it, apart and in all (the build returns after both).
- **floor**: the same number of files of the same sizes in the same folders, written with
  the calls a full build makes (pages created in a staging folder by as many processes as
  the build uses, each folder swapped in whole, the top files written atomically), with no
  database and no templating: what writing costs.
- **update**: ``ArchiveUpdater.update`` after a moderator approves a pending summary of a
  paper that already has approved summaries (through the command layer, as a moderator's
  button does), several times; then after a vote and after a withdrawal. Target: under
  1 second each at 1,000,000 summaries.
- **search index**: ``index_site`` (Pagefind) on the built folder, in a child process
  whose child is Pagefind, so its peak RSS is Pagefind's; under a memory cap, so that an
  index too big for the machine fails alone (it is then reported as failed).

Before each timed build and the floor, the harness writes everything back and lets the
disk settle after its own last deletion (:class:`Disk`: ext4 without a journal is slower to
create files for a minute after many were deleted).

The withdrawal is of a pending summary (the only kind a member can withdraw), which no page
shows: its pass should find nothing to do. The approvals, the vote and the withdrawal are
undone afterwards (the summaries' columns as they were, their moderation events, search
documents and the vote deleted) and the change log this writes is drained, so a ``--reuse``
file is as the fill left it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import aliased

from bench import chat
from bench.site_build import SITE_URL, write_manifest
from bot.commands import moderation, submissions
from bot.commands import votes as vote_commands
from bot.commands.context import Actor
from bot.commands.votes import VoteDirection
from publishers.render.templates import Templates
from publishers.site.builder import STATE_FOLDER, SiteBuilder
from publishers.site.files import REMOVERS, PageFiles, remove_tree
from publishers.site.paths import PAPER_FOLDER
from publishers.site.search_index import INDEX_FOLDER, MANIFEST, SHARD_RECORD
from publishers.site.updater import ArchiveUpdater
from storage.database import Database
from storage.models import ModerationEvent, Summary, SummaryStatus, User, Vote
from storage.search import unindex_summary

APPROVALS = 5
"""Approvals measured one at a time (median and max reported)."""
PAGES_PER_S_TARGET = 5000
UPDATE_TARGET_S = 1.0
INODE_REUSE_S = 60.0
"""Seconds after which ext4 without a journal hands out a freed inode again, once its
block is written back (:class:`Disk`)."""
MODERATOR = Actor("console", "user0", "User 0", is_moderator=True)
"""A user of the fill, made a moderator (never the author of what it approves)."""
VOTER = Actor("console", "user1", "User 1")
_RESTORED = (
    "status",
    "revision",
    "updated_at",
    "approved_at",
    "moderated_by_id",
    "moderated_at",
    "moderation_reason",
)
"""The columns of a summary that approving or withdrawing it changes."""


def measure(
    db: Database, url: str, *, approvals: int = APPROVALS, settle_s: float = INODE_REUSE_S
) -> dict[str, Any]:
    """Every archive measurement on the filled database ``db`` (at ``url``, which the build's
    child process opens). ``settle_s``: what a timed run waits after a deletion (:class:`Disk`)."""
    disk = Disk(settle_s)
    with tempfile.TemporaryDirectory(prefix="shortscience-site-") as scratch:
        folder = Path(scratch)
        site = folder / "site"
        build = _build(url, site, disk)
        manifest = folder / "manifest.txt"
        write_manifest(_files(site), manifest)
        results: dict[str, Any] = {"site_build": build}
        results["site_update"] = updates(db, site, approvals)
        results["site_search_index"] = search_index(site)
        results["site_rebuild"] = _build(url, site, disk)  # over the last: the operator's case
        disk.remove(site)  # the floor writes as many bytes again: keep the disk as it was
        processes = build["workers"]
        results["site_floor"] = _floor(
            manifest, folder / "floor", processes, build["seconds"], disk
        )
    return results


class Disk:
    """What this harness deleted, and when: a timed run waits until the disk has settled.

    ext4 without a journal (the target's disk) does not hand out again an inode freed less
    than 60 s ago, or less than 360 s ago while the freed inode's block of the inode table
    is not written back (its ``recently_deleted``): it passes over each such inode, looking
    its block up, to find another. A full build started right after the previous build's
    524,258 pages were deleted spent 22 s more of its workers' CPU in the kernel (``perf``:
    find_inode_bit and recently_deleted, 15 % of the workers' samples, about 1 % after a
    quiet spell). Before each timed run, :meth:`settle` writes everything back (``sync``)
    and waits out what is left of those 60 s since this harness last deleted pages. That
    takes most of it away, not all: a new inode dirties its block again, and the freed
    ones beside it are then within the 360 s (5 % of the samples in a build a minute after
    a deletion). Deletions by other processes are not known here."""

    def __init__(self, settle_s: float = INODE_REUSE_S) -> None:
        self.settle_s = settle_s
        self.deleted_at: float | None = None

    def remove(self, folder: Path) -> None:
        """Delete ``folder`` (as a build deletes an old generation), noting when."""
        remove_tree(folder, threads=REMOVERS)
        self.deleted()

    def deleted(self) -> None:
        """Pages were deleted just now (by this process or its child)."""
        self.deleted_at = time.monotonic()

    def settle(self) -> float | None:
        """Write everything back, then wait until ``settle_s`` have passed since the last
        deletion; the seconds since that deletion (None: none yet)."""
        os.sync()
        if self.deleted_at is None:
            return None
        time.sleep(max(0.0, self.deleted_at + self.settle_s - time.monotonic()))
        return round(time.monotonic() - self.deleted_at, 3)


def _child(*arguments: str) -> dict[str, Any]:
    """Run ``python -m bench.site_build`` with ``arguments``; its JSON line, and its wall time
    (start-up included) as ``child_s``."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module, no shell
        [sys.executable, "-m", "bench.site_build", *arguments],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"bench.site_build {arguments[0]} exited with {done.returncode}:\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["child_s"] = round(wall, 2)
    return result


def _files(directory: Path) -> Iterator[tuple[str, int]]:
    """(path relative to ``directory``, size) of every file under it but the builder's own
    state (its list file and what it was built with: not pages)."""
    for folder, folders, names in os.walk(directory):
        if folder == str(directory) and STATE_FOLDER in folders:
            folders.remove(STATE_FOLDER)
        for name in names:
            path = os.path.join(folder, name)
            yield os.path.relpath(path, directory), os.stat(path).st_size


def _build(url: str, site: Path, disk: Disk) -> dict[str, Any]:
    """The full build in its own process, with what it left on disk. Over a built folder
    (``site`` exists), the old pages are removed before the build returns: ``seconds`` is
    the whole build, ``live_s`` until the new pages were live, ``retired_s`` the removal
    of the old ones after it."""
    over = site.exists()
    settled = disk.settle()  # nothing written or deleted before is paid for in the build
    child = _child("build", url, str(site))
    if over:
        disk.deleted()
    files = 0
    size = 0
    for _, length in _files(site):
        files += 1
        size += length
    seconds = child["seconds"]
    pages = child["pages"]  # the files on disk, but for a search index built before
    rate = pages / seconds if seconds else 0.0
    cpu = (
        child["cpu_user_s"]
        + child["cpu_system_s"]
        + child["worker_cpu_user_s"]
        + child["worker_cpu_system_s"]
    )
    return {
        "files": files,
        "bytes": size,
        "pages": child["pages"],
        "bytes_reported": child["bytes"],
        "papers": child["papers"],
        "summaries": child["summaries"],
        "workers": child["workers"],
        "seconds": round(seconds, 6),
        "live_s": round(child["live_s"], 6),
        "retired_s": round(child["retired_s"], 6),
        "over_a_built_folder": over,
        "since_deletion_s": settled,
        "pages_per_s": round(rate, 1),
        "cpu_user_s": child["cpu_user_s"],
        "cpu_system_s": child["cpu_system_s"],
        "worker_cpu_user_s": child["worker_cpu_user_s"],
        "worker_cpu_system_s": child["worker_cpu_system_s"],
        "cpu_ms_per_page": round(cpu / pages * 1000, 4) if pages else 0.0,
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_worker_rss_mb": child["peak_worker_rss_mb"],
        "rss_before_build_mb": child["rss_before_build_mb"],
        "child_s": child["child_s"],
        "target_pages_per_s": PAGES_PER_S_TARGET,
        "meets_target": rate >= PAGES_PER_S_TARGET,
    }


def _floor(
    manifest: Path, target: Path, processes: int, build_s: float, disk: Disk
) -> dict[str, Any]:
    """The floor in its own process, beside the build's time."""
    settled = disk.settle()  # as before the build
    child = _child("floor", str(manifest), str(target), str(processes))
    written = sum(1 for _ in _files(target))
    disk.remove(target)
    if written != child["files"]:
        raise RuntimeError(f"the floor wrote {written} files, not {child['files']}")
    seconds = child["seconds"]
    return {
        "files": child["files"],
        "bytes": child["bytes"],
        "processes": child["processes"],
        "seconds": round(seconds, 6),
        "pages_per_s": round(child["files"] / seconds, 1) if seconds else 0.0,
        "build_to_floor": round(build_s / seconds, 2) if seconds else None,
        "since_deletion_s": settled,
        "child_s": child["child_s"],
    }


# -- the updater ---------------------------------------------------------------------------------


def _update(updater: ArchiveUpdater) -> dict[str, Any]:
    """One ``update()``, timed from outside, with the pages it wrote and removed."""
    started = time.perf_counter()
    report = updater.update()
    seconds = time.perf_counter() - started
    if report.skipped:
        raise RuntimeError(f"the archive update was skipped: {report.skipped}")
    return {
        "seconds": round(seconds, 6),
        "report_s": round(report.seconds, 6),
        "papers": report.papers,
        "changes": report.changes,
        "full_build": report.full_build is not None,
        "pages_written": list(report.pages_written),
        "pages_removed": list(report.pages_removed),
    }


def _stats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [run["seconds"] for run in runs]
    return {
        "median_s": round(statistics.median(seconds), 6),
        "max_s": round(max(seconds), 6),
        "target_s": UPDATE_TARGET_S,
        "meets_target": max(seconds) < UPDATE_TARGET_S,
        "runs": runs,
    }


def _user_id(db: Database, actor: Actor) -> int:
    with db.sessions() as session:
        found = session.scalar(
            select(User.id).where(
                User.platform == actor.platform, User.external_id == actor.external_id
            )
        )
    if found is None:
        raise RuntimeError(f"the fill has no user {actor.external_id}")
    return found


def pending_choices(db: Database, count: int, moderator_id: int) -> list[tuple[int, Actor]]:
    """``count`` pending summaries spread over the archive, each of a paper that already has
    an approved summary and not written by the moderator, with its author as an actor."""
    approved = aliased(Summary)
    with db.sessions() as session:
        rows = session.execute(
            select(Summary.id, User.external_id, User.display_name)
            .join(User, User.id == Summary.author_id)
            .where(
                Summary.status == SummaryStatus.PENDING,
                Summary.author_id != moderator_id,
                exists().where(
                    approved.paper_id == Summary.paper_id,
                    approved.status == SummaryStatus.APPROVED,
                ),
            )
            .order_by(Summary.id)
        ).all()
    if len(rows) < count:
        raise RuntimeError(f"the fill has {len(rows)} pending summaries to approve, not {count}")
    picked = [rows[index * len(rows) // count] for index in range(count)]
    return [(row.id, Actor("console", row.external_id, row.display_name)) for row in picked]


def _voted_summary(db: Database, voter_id: int) -> int:
    """An approved summary in the middle of the archive that the voter did not write."""
    with db.sessions() as session:
        middle = session.scalar(
            select(func.max(Summary.id)).where(Summary.status == SummaryStatus.APPROVED)
        )
        found = session.scalar(
            select(Summary.id)
            .where(
                Summary.status == SummaryStatus.APPROVED,
                Summary.author_id != voter_id,
                Summary.id <= (middle or 0) // 2,
            )
            .order_by(Summary.id.desc())
            .limit(1)
        )
    if found is None:
        raise RuntimeError("the fill has no approved summary to vote on")
    return found


def _snapshot(db: Database, ids: list[int]) -> dict[int, dict[str, Any]]:
    with db.sessions() as session:
        rows = session.execute(
            select(Summary.id, *(getattr(Summary, name) for name in _RESTORED)).where(
                Summary.id.in_(ids)
            )
        ).all()
    return {row.id: {name: getattr(row, name) for name in _RESTORED} for row in rows}


def _restore(
    db: Database,
    snapshot: dict[int, dict[str, Any]],
    last_event: int,
    vote: tuple[int, int],
) -> None:
    """Put back what the measured commands changed."""
    with db.transaction() as session:
        for summary_id, values in snapshot.items():
            session.execute(
                update(Summary)
                .where(Summary.id == summary_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if values["status"] != SummaryStatus.APPROVED:
                unindex_summary(session, summary_id)
        session.execute(
            delete(ModerationEvent).where(
                ModerationEvent.id > last_event, ModerationEvent.summary_id.in_(list(snapshot))
            )
        )
        session.execute(delete(Vote).where(Vote.summary_id == vote[0], Vote.user_id == vote[1]))


def updates(db: Database, site: Path, approvals: int) -> dict[str, Any]:
    """Time ``ArchiveUpdater.update`` after each change, made as a member makes it."""
    ctx = chat.context(db)
    moderator_id = _user_id(db, MODERATOR)
    voter_id = _user_id(db, VOTER)
    chosen = pending_choices(db, approvals + 1, moderator_id)
    withdrawn, author = chosen.pop()
    voted = _voted_summary(db, voter_id)
    snapshot = _snapshot(db, [summary_id for summary_id, _ in chosen] + [withdrawn])
    with db.sessions() as session:
        last_event = int(session.scalar(select(func.max(ModerationEvent.id))) or 0)
    updater = ArchiveUpdater(SiteBuilder(db, Templates(), site_url=SITE_URL, search=False), site)
    results: dict[str, Any] = {"drain": _update(updater)}
    try:
        runs = []
        for summary_id, _ in chosen:
            _run(moderation.approve(ctx, MODERATOR, summary_id))
            runs.append({"summary_id": summary_id, **_update(updater)})
        results["approval"] = _stats(runs)
        _run(vote_commands.vote(ctx, VOTER, voted, VoteDirection.UP))
        results["vote"] = _stats([{"summary_id": voted, **_update(updater)}])
        _run(submissions.withdraw(ctx, author, withdrawn))
        results["withdrawal"] = _stats([{"summary_id": withdrawn, **_update(updater)}])
    finally:
        _restore(db, snapshot, last_event, (voted, voter_id))
        updater.update()  # the archive's tables as the database is again
    return results


def _run(command: Coroutine[Any, Any, Any]) -> None:
    """Run one command to its end, as a front end awaits it."""
    asyncio.run(command)


# -- search index --------------------------------------------------------------------------------


def search_index(
    site: Path, *, memory_cap: int | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """``index_site`` (Pagefind) on the built folder, in a child process under a memory cap
    (``memory_cap`` bytes, by default :func:`bench.site_build.search_memory_cap`); a failure
    is reported, not raised. ``memory_cap`` and ``timeout`` go together (tests).

    The index is cut into shards, one Pagefind run each, run one after the other: the
    child's peak RSS of its children is the largest run's, what the machine must hold. Then
    one paper page is written again, as the updater does, and the index brought up to date
    in a second child: only that page's shard should be indexed again."""
    limits = [str(memory_cap), str(timeout)] if memory_cap and timeout else []
    child = _child("search", str(site), *limits)
    seconds = child["seconds"]
    figures = {
        "seconds": round(seconds, 6),
        "peak_pagefind_rss_mb": child["peak_worker_rss_mb"],
        "memory_cap_mb": child["memory_cap_mb"],
        "child_s": child["child_s"],
    }
    if "failed" in child:
        return {"failed": child["failed"], **figures}
    pages = child["pages"]
    shards = _search_shards(site)
    figures |= {
        "pages": pages,
        "pages_per_s": round(pages / seconds, 1) if seconds else 0.0,
        "shards": len(shards),
        "largest_shard_pages": max(shards.values(), default=0),
    }
    page = min(site.glob(f"{PAPER_FOLDER}/*/*.html"), default=None)
    if page is None:
        return figures
    records = _shard_records(site)
    PageFiles(site).write(page.relative_to(site).as_posix(), page.read_text("utf-8"))
    again = _child("search", str(site), *limits)
    if "failed" in again:
        return {**figures, "reindex_failed": again["failed"]}
    changed = [
        shard for shard, record in _shard_records(site).items() if records.get(shard) != record
    ]
    return {
        **figures,
        "reindex_one_page_s": round(again["seconds"], 6),
        "reindexed_shards": len(changed),
        "reindex_peak_pagefind_rss_mb": again["peak_worker_rss_mb"],
    }


def _search_shards(site: Path) -> dict[str, int]:
    """The pages of each bundle the search index's manifest names."""
    manifest = json.loads((site / INDEX_FOLDER / MANIFEST).read_text("utf-8"))
    return {bundle["path"]: bundle["pages"] for bundle in manifest["bundles"]}


def _shard_records(site: Path) -> dict[str, tuple[int, int]]:
    """Each bundle's record file, by inode and modification time: a bundle written again
    has a new one."""
    found = {}
    for path in _search_shards(site):
        status = (site / INDEX_FOLDER / path / SHARD_RECORD).stat()
        found[path] = (status.st_ino, status.st_mtime_ns)
    return found


# -- the printed lines ---------------------------------------------------------------------------


def lines(results: dict[str, Any]) -> list[str]:
    """The archive's figures as lines of the printed table."""
    found = []
    build = results.get("site_build")
    if isinstance(build, dict):
        found.append(
            f"{'site build':<16} {build['files']:,} files, {build['bytes'] / 1e6:,.1f} MB in "
            f"{build['seconds']:.1f} s: {build['pages_per_s']:,.0f} pages/s"
            f" ({build['workers']} workers), peak RSS {build['peak_rss_mb']:.0f} MB"
            f" (workers {build['peak_worker_rss_mb']:.0f} MB); CPU {build['cpu_ms_per_page']:.3f}"
            f" ms a page (workers {build['worker_cpu_user_s']:.0f} s user +"
            f" {build['worker_cpu_system_s']:.0f} s system, the build's own process"
            f" {build['cpu_user_s'] + build['cpu_system_s']:.0f} s)"
        )
    rebuild = results.get("site_rebuild")
    if isinstance(rebuild, dict):
        live = rebuild["live_s"]
        found.append(
            f"{'site rebuild':<16} over the built folder: the new pages live after {live:.1f} s"
            f" ({rebuild['pages'] / live if live else 0:,.0f} pages/s), the old ones removed in"
            f" {rebuild['retired_s']:.1f} s more: {rebuild['seconds']:.1f} s in all"
            f" ({rebuild['pages_per_s']:,.0f} pages/s); CPU {rebuild['cpu_ms_per_page']:.3f}"
            " ms a page"
        )
    floor = results.get("site_floor")
    if isinstance(floor, dict):
        found.append(
            f"{'site floor':<16} {floor['files']:,} files in {floor['seconds']:.1f} s:"
            f" {floor['pages_per_s']:,.0f} pages/s ({floor['processes']} processes);"
            f" the build takes {floor['build_to_floor']}x its time"
        )
    changes = results.get("site_update")
    if isinstance(changes, dict):
        for kind, label in (
            ("approval", "approval"),
            ("vote", "vote"),
            ("withdrawal", "withdrawal of a pending summary"),
        ):
            figures = changes.get(kind)
            if isinstance(figures, dict):
                pages = [len(run["pages_written"]) for run in figures["runs"]]
                found.append(
                    f"{'site update':<16} {label}: median {figures['median_s'] * 1000:.0f} ms,"
                    f" max {figures['max_s'] * 1000:.0f} ms, pages written {pages}"
                )
    index = results.get("site_search_index")
    if isinstance(index, dict):
        peak = f"Pagefind's peak RSS {index['peak_pagefind_rss_mb']:,.0f} MB"
        if "failed" in index:
            found.append(
                f"{'search index':<16} failed after {index['seconds']:.1f} s ({peak}, capped"
                f" at {index['memory_cap_mb']:,} MB): {index['failed']}"
            )
        else:
            found.append(
                f"{'search index':<16} {index['pages']:,} pages in {index['seconds']:.1f} s:"
                f" {index['pages_per_s']:,.0f} pages/s, {index['shards']} shards (largest"
                f" {index['largest_shard_pages']:,} pages), {peak} (largest shard's run)"
            )
        if "reindex_one_page_s" in index:
            found.append(
                f"{'search reindex':<16} one page written again:"
                f" {index['reindex_one_page_s']:.1f} s, {index['reindexed_shards']} shard"
                f" indexed again, Pagefind's peak RSS"
                f" {index['reindex_peak_pagefind_rss_mb']:,.0f} MB"
            )
        elif "reindex_failed" in index:
            found.append(f"{'search reindex':<16} failed: {index['reindex_failed']}")
    return found
