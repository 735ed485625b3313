"""The child processes of :mod:`bench.site`: a full build of the archive, its search index,
and its floor (the same files written with no templating). Each runs in a fresh interpreter,
so its peak RSS is its own and not the benchmark's, which holds the fill and the updater.

    python -m bench.site_build build URL DIRECTORY
    python -m bench.site_build search DIRECTORY [MEMORY_CAP_BYTES TIMEOUT_S]
    python -m bench.site_build floor MANIFEST DIRECTORY PROCESSES

Each prints one JSON object on stdout. The manifest is what :func:`write_manifest` wrote:
one ``size<TAB>path`` line per file of a built archive.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from publishers.site.files import GENERATED, PageFiles, remove_tree, swap_in

SITE_URL = "https://archive.example.org"
"""A deployed archive's address: the feed's ids are then links, as on a real site."""


def write_manifest(entries: Iterator[tuple[str, int]], manifest: Path) -> None:
    """One ``size<TAB>path`` line per file, for the floor's child to read."""
    with manifest.open("w", encoding="utf-8") as out:
        for path, size in entries:
            out.write(f"{size}\t{path}\n")


def read_manifest(manifest: Path) -> list[tuple[str, int]]:
    """(path, size) of each file :func:`write_manifest` listed."""
    entries = []
    with manifest.open(encoding="utf-8") as lines:
        for line in lines:
            size, path = line.rstrip("\n").split("\t", 1)
            entries.append((path, int(size)))
    return entries


def _rss_mb(key: str) -> float:
    """A ``/proc/self/status`` memory line (kB) in MiB (Linux, like the target)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {key} line")


def _peaks() -> dict[str, float]:
    """This process's peak RSS and its largest waited-for child's (``ru_maxrss`` is in KiB on
    Linux): a build's worker processes hold pages of their own."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_worker_rss_mb": round(children, 1)}


def build(url: str, directory: Path) -> dict[str, Any]:
    """A full build, as ``shortscience site build`` runs it with the shipped templates,
    without the search index (:mod:`bench.site` times that on its own line). It is the
    folder the updater then keeps current, so the build takes its changes off the log."""
    from publishers.render.templates import Templates
    from publishers.site.builder import SiteBuilder
    from storage.database import Database

    db = Database.connect(url)
    try:
        builder = SiteBuilder(db, Templates(), site_url=SITE_URL, search=False)
        before = _rss_mb("VmRSS")
        own, workers_before = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        report = builder.build(directory, keeps_changes=True)
        seconds = time.perf_counter() - started
        spent = _cpu(resource.RUSAGE_SELF, since=own)
        spent_by_workers = _cpu(resource.RUSAGE_CHILDREN, since=workers_before)
    finally:
        db.dispose()
    peaks = _peaks()
    workers = getattr(report, "workers", None)
    if workers is None:  # the builder's rule: both cores when it starts workers at all
        workers = min(2, os.cpu_count() or 1) if peaks["peak_worker_rss_mb"] > 0 else 0
    return {
        "pages": report.page_count,
        "bytes": report.bytes_written,
        "papers": report.papers,
        "summaries": report.summaries,
        "workers": workers,
        "seconds": seconds,
        "live_s": report.seconds,
        "retired_s": report.retired_seconds,
        "cpu_user_s": spent[0],
        "cpu_system_s": spent[1],
        "worker_cpu_user_s": spent_by_workers[0],
        "worker_cpu_system_s": spent_by_workers[1],
        "rss_before_build_mb": round(before, 1),
        **peaks,
    }


def _cpu(who: int, since: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """(user, system) CPU seconds of this process (``RUSAGE_SELF``) or of its waited-for
    children (``RUSAGE_CHILDREN``: a build's workers, joined when it ends), less ``since``:
    on a shared machine the time a page costs, where the wall time also counts the others."""
    used = resource.getrusage(who)
    return round(used.ru_utime - since[0], 3), round(used.ru_stime - since[1], 3)


def search_memory_cap() -> int:
    """Bytes of address space the search index may take: half the machine's memory, at most
    8 GiB. Pagefind holds its whole index in memory (on 485,437 paper pages it passed 22 GB
    and was still growing), and on a machine without swap, running out takes everything on
    it down: capped, it fails alone."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(min(8 * 2**30, physical // 2))


def search(directory: Path, cap: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """The search index of a built folder, timed, under ``cap`` bytes of address space (by
    default :func:`search_memory_cap`), which Pagefind, this process's child, inherits;
    ``peak_worker_rss_mb`` is Pagefind's peak. Running out of it, here or in Pagefind, is a
    figure too: the message and when it came. ``timeout``: Pagefind's, else its default."""
    from publishers.site.search_index import TIMEOUT, SearchIndexError, index_site

    cap = cap or search_memory_cap()
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    started = time.perf_counter()
    try:
        report = index_site(directory, timeout=timeout or TIMEOUT)
    except (SearchIndexError, MemoryError) as error:
        return {
            "failed": str(error) or type(error).__name__,
            "seconds": time.perf_counter() - started,
            "memory_cap_mb": cap // 2**20,
            **_peaks(),
        }
    seconds = time.perf_counter() - started
    return {"pages": report.pages, "seconds": seconds, "memory_cap_mb": cap // 2**20, **_peaks()}


def _create_share(staging: Path, share: Sequence[tuple[str, int]], payload: str) -> None:
    """Each page of ``share`` as a full build writes it into its staging folder
    (``PageFiles.create``: one plain write, a missing folder made on the way)."""
    files = PageFiles(staging)
    for path, size in share:
        files.create(path, payload[:size])


def floor(manifest: Path, directory: Path, processes: int) -> dict[str, Any]:
    """The manifest's files, each of its size, in the same folders, written with the calls a
    full build makes, with no database and no templating: what writing the pages costs.

    As the builder does, the pages of the generated folders (papers, years, venues,
    categories) are created in a hidden staging folder by ``processes`` processes (forked,
    each a share; 0 or 1: this one), each folder is then swapped in whole
    (``files.swap_in``), and the files at the top (home, feed, style) are written
    atomically (``PageFiles.write``)."""
    entries = read_manifest(manifest)
    staged = [entry for entry in entries if entry[0].split("/", 1)[0] in GENERATED]
    top = [entry for entry in entries if entry[0].split("/", 1)[0] not in GENERATED]
    largest = max((size for _, size in entries), default=0)
    line = "<p>The floor writes text of the page's length, with no templating.</p>\n"
    payload = (line * (largest // len(line) + 1))[:largest]  # ASCII: a byte a character
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / ".floor-staging"
    started = time.perf_counter()
    staging.mkdir()
    if processes <= 1:
        _create_share(staging, staged, payload)
    else:
        context = multiprocessing.get_context("fork")
        workers = [
            context.Process(target=_create_share, args=(staging, staged[start::processes], payload))
            for start in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        failed = [worker.exitcode for worker in workers if worker.exitcode != 0]
        if failed:
            raise RuntimeError(f"floor writers failed with exit codes {failed}")
    for folder in GENERATED:
        (staging / folder).mkdir(exist_ok=True)
        swap_in(staging / folder, directory / folder)
    files = PageFiles(directory)
    for path, size in top:
        files.write(path, payload[:size])
    seconds = time.perf_counter() - started
    remove_tree(staging)
    return {
        "files": len(entries),
        "bytes": sum(size for _, size in entries),
        "processes": max(processes, 1),
        "seconds": seconds,
        **_peaks(),
    }


def main(argv: Sequence[str]) -> int:
    """Run one child measurement and print its figures as JSON."""
    match list(argv):
        case ["build", url, directory]:
            result = build(url, Path(directory))
        case ["search", directory]:
            result = search(Path(directory))
        case ["search", directory, cap, timeout]:
            result = search(Path(directory), int(cap), float(timeout))
        case ["floor", manifest, directory, processes]:
            result = floor(Path(manifest), Path(directory), int(processes))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
