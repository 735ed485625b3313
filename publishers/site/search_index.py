"""The archive's search index: Pagefind run over the built folder, so a reader can search
every summary from ``search.html`` with no server behind it.

Pagefind (the PyPI packages ``pagefind`` and ``pagefind-bin``, whose wheel carries the
binary) reads the built paper pages and writes a static index: a few JavaScript files, a
WebAssembly module and the index cut into small files that the browser fetches as a reader
types. Only the paper pages are read, and on them only what the paper template marks with
``data-pagefind-body``: the site's header and lists never turn up as results.

Pagefind holds a whole index in memory while it writes it (at 485,437 pages it passed 22 GB
and never finished), so a big archive's index (:data:`SHARD_FROM` paper pages or more) is cut
into :data:`SHARDS` shards along the folders the paper pages already sit in
(:func:`publishers.site.paths.paper_folder`): shard ``7`` is the pages under ``papers/7?/``,
written by one Pagefind run into its own bundle, ``pagefind/7/``. A smaller archive has one
bundle, ``pagefind/all/``, because merged bundles search less well: where a shard has no word
starting with the term, Pagefind matches the longest word there that starts it instead (a
search for "thermodynamics" finds "the" in each shard without the word), and each bundle
ranks its own results. ``pagefind/shards.json`` (:data:`MANIFEST`) names the bundles; the
search page loads the first and merges the others in (PagefindUI's ``mergeIndex``). A shard
with no page has no bundle. An archive that grows past :data:`SHARD_FROM` (or shrinks below
it) has its index built again whole, the other way.

A shard is indexed again only when one of its folders changed since its bundle was written:
writing, renaming over or removing a page changes its folder's modification time, and a full
build swaps in a new ``papers/`` whose folders are all new. Each bundle records, in
``shard.json``, its folders as they were just before Pagefind read them, so a page written
during a run makes the shard stale again.

:func:`index_site` may run while people search (the incremental updater calls it after each
batch of pages), so a bundle is written beside ``pagefind/`` and swapped in whole
(:func:`publishers.site.files.swap_in`), and the manifest is written beside and renamed over:
a bundle is in place before a manifest names it, and a manifest no longer names a bundle
before it is removed. A failed or killed run leaves each bundle as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pagefind.service import get_executable

from publishers.site.files import remove_tree, swap_in
from publishers.site.paths import PAPER_FOLDER

INDEX_FOLDER = "pagefind"
"""Where the index lives in the site's folder; ``search.html`` loads it from there."""
MANIFEST = "shards.json"
"""The list of bundles in :data:`INDEX_FOLDER` that ``search.html`` loads:
``{"bundles": [{"path": "7/", "pages": 1234}, ...]}``, in shard order."""
SHARD_RECORD = "shard.json"
"""In each bundle: its pages and its folders as they were when Pagefind read them."""
SHARDS = tuple("0123456789abcdef")
"""A shard per first hex digit of the paper folders (``papers/7c/`` is in shard ``7``)."""
WHOLE = "all"
"""The one bundle of an archive below :data:`SHARD_FROM` pages: every paper page."""
SHARD_FROM = 20_000
"""Paper pages from which the index is cut into shards: Pagefind held 812 MB for 9,707 pages
and 2.5 GB for a shard of about 30,000, so one run below this stays within about 2 GB."""
TEMPORARY_PREFIX = ".pagefind-"
"""Bundles and manifests are written in ``.pagefind-<random>`` beside ``pagefind/``; one left
there is from a run that was killed, and the next run removes it."""
TIMEOUT = 30 * 60.0
"""Seconds one Pagefind run (one shard) may take: 20,000 pages take seconds; half an hour
would mean it hangs."""
_OUTPUT_LINES = 8

Folders = dict[str, list[int] | None]
"""Each folder of a shard: its inode and modification time (ns), or None if missing."""


class SearchIndexError(Exception):
    """Pagefind could not index the site; the message says what to do. The search index
    that was there before is still there, whole."""


@dataclass(frozen=True)
class SearchIndexReport:
    directory: Path
    pages: int
    """Paper pages in the index, over all its bundles."""
    seconds: float
    shards: int = 0
    """Bundles the index has now."""
    reindexed: int = 0
    """Shards (re)indexed by this run, a removed one included."""

    def text(self) -> str:
        """What was indexed, in one line for the command line."""
        return (
            f"indexed {self.pages} pages for search in {self.seconds:.1f} s"
            f" ({self.reindexed} shards indexed again, {self.shards} in all)\n"
        )


def index_site(
    directory: Path, *, timeout: float = TIMEOUT, shard_from: int = SHARD_FROM
) -> SearchIndexReport:
    """Bring the search index of the site in ``directory`` (``directory/pagefind/``) up to
    date with its paper pages, indexing again only the shards that changed.

    Safe to call again and again, from several threads or processes: runs take turns (a
    lock on the folder), each starts by removing what a killed run left, and a reader sees
    each bundle old or new, never a mix. A site with no paper page has no index (an old one
    is removed): Pagefind refuses to write an empty one."""
    started = time.monotonic()
    directory = directory.resolve()
    index = directory / INDEX_FOLDER
    with _locked(directory):
        _remove_leftovers(directory)
        bundles = _read_manifest(index)
        pages = _pages_per_folder(directory)  # read once: a million entries at full size
        units = (WHOLE,) if sum(pages.values()) < shard_from else SHARDS
        if bundles is None or (WHOLE in bundles) != (units == (WHOLE,)):
            # no index yet, one from before shards, or one cut the other way: built whole
            reindexed = _build_whole(directory, units, pages, timeout)
            bundles = _read_manifest(index) or {}
        else:
            reindexed = _refresh(directory, bundles, units, pages, timeout)
    indexed = sum(bundles.values())
    return SearchIndexReport(
        directory, indexed, time.monotonic() - started, len(bundles), reindexed
    )


def _build_whole(site: Path, units: tuple[str, ...], pages: dict[str, int], timeout: float) -> int:
    """Every shard into one new folder, swapped in for ``pagefind/`` whole; or, with no
    paper page at all, no index."""
    index = site / INDEX_FOLDER
    holding = [shard for shard in units if _has_pages(pages, shard)]
    if not holding:
        _retire(site, index)
        return 0
    with _swapped_in(site, index) as building:
        bundles = {}
        for shard in holding:
            folders = _folders(site, shard)  # before Pagefind reads them
            bundle = building / shard
            bundle.mkdir()
            bundles[shard] = _index_shard(site, shard, bundle, folders, timeout)
        _write_manifest(site, building / MANIFEST, bundles)
    return len(bundles)


@contextlib.contextmanager
def _swapped_in(site: Path, target: Path) -> Iterator[Path]:
    """A new folder beside ``pagefind/`` to write ``target``'s next version in: swapped in
    whole when the block ends (the old one then deleted), removed if the block fails."""
    building = _new_folder(site)
    try:
        yield building
    except BaseException:
        remove_tree(building)
        raise
    retired = swap_in(building, target)
    if retired is not None:
        remove_tree(retired)


def _refresh(
    site: Path,
    bundles: dict[str, int],
    units: tuple[str, ...],
    pages: dict[str, int],
    timeout: float,
) -> int:
    """Index each stale shard again into its bundle; then drop the bundles of shards left
    with no page (the manifest first, then the bundle). ``pages``: the pages per folder
    when the run started (a page written since leaves its folder stale for the next run)."""
    index = site / INDEX_FOLDER
    reindexed = 0
    dropped = []
    for shard in units:
        folders = _folders(site, shard)  # before Pagefind reads them
        bundle = index / shard
        if shard in bundles and _recorded_folders(bundle) == folders:
            continue
        if not _has_pages(pages, shard):
            if shard in bundles:
                dropped.append(shard)
            elif bundle.exists():  # a bundle no manifest named: a killed run's
                _retire(site, bundle)
            continue
        with _swapped_in(site, bundle) as building:
            indexed = _index_shard(site, shard, building, folders, timeout)
        reindexed += 1
        if bundles.get(shard) != indexed:
            bundles[shard] = indexed
            _write_manifest(site, index / MANIFEST, bundles)
    if dropped:
        for shard in dropped:
            del bundles[shard]
        if bundles:
            _write_manifest(site, index / MANIFEST, bundles)
            for shard in dropped:
                _retire(site, index / shard)
        else:  # the last page went: no index at all, as after a build with no paper
            _retire(site, index)
        reindexed += len(dropped)
    return reindexed


def _folder_names(shard: str) -> list[str]:
    """The paper folders of a shard (``7`` has ``70`` to ``7f``; :data:`WHOLE` has all)."""
    firsts = SHARDS if shard == WHOLE else (shard,)
    return [f"{first}{second}" for first in firsts for second in SHARDS]


def _pages_per_folder(site: Path) -> dict[str, int]:
    """The paper pages in each paper folder (not ``.*.tmp`` ones being written)."""
    counts = {}
    for name in _folder_names(WHOLE):
        try:
            with os.scandir(site / PAPER_FOLDER / name) as entries:
                counts[name] = sum(
                    1 for e in entries if e.name.endswith(".html") and not e.name.startswith(".")
                )
        except (FileNotFoundError, NotADirectoryError):
            counts[name] = 0
    return counts


def _folders(site: Path, shard: str) -> Folders:
    """The shard's folders as they are now: what tells whether its bundle is stale."""
    found: Folders = {}
    for name in _folder_names(shard):
        try:
            status = os.stat(site / PAPER_FOLDER / name)
        except FileNotFoundError:
            found[name] = None
        else:
            found[name] = [status.st_ino, status.st_mtime_ns]
    return found


def _has_pages(pages: dict[str, int], shard: str) -> bool:
    """Whether any folder of the shard held a page (:func:`_pages_per_folder`)."""
    return any(pages[name] for name in _folder_names(shard))


def _index_shard(site: Path, shard: str, output: Path, folders: Folders, timeout: float) -> int:
    """Run Pagefind on the shard's pages into ``output``; its page count. ``folders``: the
    shard's folders as they were before, recorded in the bundle."""
    read = f"{PAPER_FOLDER}/*/*.html" if shard == WHOLE else f"{PAPER_FOLDER}/{shard}?/*.html"
    _run_pagefind(site, output, read, timeout)
    pages = _page_count(output)
    record = {"shard": shard, "pages": pages, "folders": folders}
    (output / SHARD_RECORD).write_text(json.dumps(record), encoding="utf-8")
    return pages


def _run_pagefind(site: Path, output: Path, pages: str, timeout: float) -> None:
    missing = SearchIndexError(
        "Pagefind's binary was not found, so the archive has no search: install it with "
        "pip install 'pagefind[bin]' (shortscience-bot's dependencies include it), or set "
        "PAGEFIND_BINARY_PATH to a pagefind executable"
    )
    try:
        executable = get_executable()
    except FileNotFoundError:  # pagefind-bin is installed but its binary is not there
        executable = None
    if executable is None:
        raise missing
    command = [str(executable), "--site", str(site), "--output-path", str(output)]
    command += ["--glob", pages, "--quiet"]
    # Pagefind also takes options from PAGEFIND_* variables and from a pagefind.toml, .yml or
    # .json in its working folder: neither may change what the archive indexes.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAGEFIND_")}
    try:
        done = subprocess.run(  # noqa: S603 (pagefind-bin's binary, or PAGEFIND_BINARY_PATH's)
            command,
            cwd=output,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise missing from None
    except PermissionError as error:
        raise SearchIndexError(
            f"Pagefind's binary {executable} cannot be run ({error.strerror}): make it "
            "executable, or reinstall it with pip install --force-reinstall 'pagefind[bin]'"
        ) from None
    except subprocess.TimeoutExpired:
        raise SearchIndexError(
            f"Pagefind did not finish indexing {pages} of {site} in {timeout:.0f} s and was "
            "stopped; the previous search index is kept. Run `shortscience site build` again"
        ) from None
    if done.returncode != 0:
        said = (done.stderr + done.stdout).strip().splitlines()[-_OUTPUT_LINES:]
        raise SearchIndexError(
            f"Pagefind failed (exit {done.returncode}) indexing {pages} of {site}; the "
            "previous search index is kept. It said: " + (" / ".join(said) or "nothing")
        )
    if not (output / "pagefind-entry.json").is_file():
        raise SearchIndexError(
            f"Pagefind exited without writing an index for {pages} of {site}; the previous "
            "search index is kept. Check that Pagefind is version 1.5 or later"
        )


def _page_count(index: Path) -> int:
    try:
        entry = json.loads((index / "pagefind-entry.json").read_text("utf-8"))
        return sum(int(language["page_count"]) for language in entry["languages"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SearchIndexError(
            f"Pagefind wrote an index whose pagefind-entry.json cannot be read ({error!r}); "
            "the previous search index is kept. Check that Pagefind is version 1.5 or later"
        ) from None


def _read_manifest(index: Path) -> dict[str, int] | None:
    """The bundles the manifest names, with their pages; None where there is no manifest
    (no index, or one written before the index had shards)."""
    try:
        data = json.loads((index / MANIFEST).read_text("utf-8"))
        return {str(bundle["path"]).rstrip("/"): int(bundle["pages"]) for bundle in data["bundles"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _recorded_folders(bundle: Path) -> Any:
    """The folders a bundle was made from, as its record says; None if it cannot tell."""
    try:
        return json.loads((bundle / SHARD_RECORD).read_text("utf-8"))["folders"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_manifest(site: Path, manifest: Path, bundles: dict[str, int]) -> None:
    """Write the manifest beside ``pagefind/`` and rename it over the old one: a reader
    gets one or the other, whole. Only bundles already in place may be named."""
    listed = [{"path": f"{shard}/", "pages": bundles[shard]} for shard in sorted(bundles)]
    written = site / f"{TEMPORARY_PREFIX}{MANIFEST}-{secrets.token_hex(6)}"
    try:
        written.write_text(json.dumps({"bundles": listed}), encoding="utf-8")
        written.chmod(site.stat().st_mode & 0o666)
        os.replace(written, manifest)
    except BaseException:
        written.unlink(missing_ok=True)
        raise


def _new_folder(site: Path) -> Path:
    """A folder beside ``pagefind/`` to write in, readable by whoever reads the site
    (mkdtemp's folder is its owner's alone)."""
    building = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=site))
    building.chmod(site.stat().st_mode & 0o777)
    return building


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One index run at a time per site folder, across threads and processes: a lock on the
    folder itself, so the published site gets no lock file."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def _remove_leftovers(directory: Path) -> None:
    for leftover in directory.glob(f"{TEMPORARY_PREFIX}*"):
        remove_tree(leftover)


def _retire(site: Path, folder: Path) -> None:
    """Remove a bundle or the whole index without a moment where it is there in part:
    renamed away beside ``pagefind/`` (a leftover the next run removes if this one dies),
    then deleted."""
    if folder.exists():
        away = site / f"{TEMPORARY_PREFIX}old-{secrets.token_hex(6)}"
        folder.rename(away)
        remove_tree(away)
