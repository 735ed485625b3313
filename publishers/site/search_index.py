"""The archive's search index: Pagefind run over the built folder, so a reader can search
every summary from ``search.html`` with no server behind it.

Pagefind (the PyPI packages ``pagefind`` and ``pagefind-bin``, whose wheel carries the
binary) reads the built paper pages and writes a static index into ``pagefind/``: a few
JavaScript files, a WebAssembly module and the index cut into small files that the browser
fetches as a reader types. Only the paper pages are read (:data:`PAPER_PAGES`), and on them
only what the paper template marks with ``data-pagefind-body``: the site's header and lists
never turn up as results.

:func:`index_site` may run while people search (the incremental updater calls it after each
batch of pages), so the new index is written beside the old one and swapped in whole
(:func:`publishers.site.files.swap_in`); a failed or killed run leaves the old index as it was.
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

from pagefind.service import get_executable

from publishers.site.files import remove_tree, swap_in

INDEX_FOLDER = "pagefind"
"""Where the index lives in the site's folder; ``search.html`` loads it from there."""
PAPER_PAGES = "papers/*.html"
"""The pages Pagefind reads (:func:`publishers.site.paths.paper_page`): lists, the home page
and the search page itself are no search results."""
TEMPORARY_PREFIX = ".pagefind-"
"""A new index is built in ``.pagefind-<random>`` beside ``pagefind/``; one left there is from
a run that was killed, and the next run removes it."""
TIMEOUT = 30 * 60.0
"""Seconds Pagefind may take: 20,000 pages take seconds; an hour would mean it hangs."""
_OUTPUT_LINES = 8


class SearchIndexError(Exception):
    """Pagefind could not index the site; the message says what to do. The search index
    that was there before is still there, whole."""


@dataclass(frozen=True)
class SearchIndexReport:
    directory: Path
    pages: int
    seconds: float

    def text(self) -> str:
        """What was indexed, in one line for the command line."""
        return f"indexed {self.pages} pages for search in {self.seconds:.1f} s\n"


def index_site(directory: Path, *, timeout: float = TIMEOUT) -> SearchIndexReport:
    """Index the paper pages of the site in ``directory`` into ``directory/pagefind/``.

    Safe to call again and again, from several threads or processes: runs take turns (a
    lock on the folder), each starts by removing what a killed run left, and a reader sees
    the old index or the new one, never a mix. A site with no paper page has no index (an
    old one is removed): Pagefind refuses to write an empty one."""
    started = time.monotonic()
    directory = directory.resolve()
    with _locked(directory):
        _remove_leftovers(directory)
        if not any(directory.glob(PAPER_PAGES)):
            _retire(directory / INDEX_FOLDER)
            return SearchIndexReport(directory, 0, time.monotonic() - started)
        building = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=directory))
        try:
            # mkdtemp's folder is its owner's alone; the web server must read the index
            building.chmod(directory.stat().st_mode & 0o777)
            _run_pagefind(directory, building, timeout)
            pages = _page_count(building)
        except BaseException:
            remove_tree(building)
            raise
        # Both folders trade places in one step where the system can (see files.swap_in);
        # elsewhere the old index is renamed away, the new one in, then the old deleted:
        # deleting in place first would leave a half-deleted index for that long.
        retired = swap_in(building, directory / INDEX_FOLDER)
        if retired is not None:
            remove_tree(retired)
    return SearchIndexReport(directory, pages, time.monotonic() - started)


def _run_pagefind(site: Path, output: Path, timeout: float) -> None:
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
    command += ["--glob", PAPER_PAGES, "--quiet"]
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
            f"Pagefind did not finish indexing {site} in {timeout:.0f} s and was stopped; "
            "the previous search index is kept. Run `shortscience site build` again"
        ) from None
    if done.returncode != 0:
        said = (done.stderr + done.stdout).strip().splitlines()[-_OUTPUT_LINES:]
        raise SearchIndexError(
            f"Pagefind failed (exit {done.returncode}) indexing {site}; the previous search "
            "index is kept. It said: " + (" / ".join(said) or "nothing")
        )
    if not (output / "pagefind-entry.json").is_file():
        raise SearchIndexError(
            f"Pagefind exited without writing an index for {site}; the previous search "
            "index is kept. Check that Pagefind is version 1.5 or later"
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


def _retire(index: Path) -> None:
    """Remove an index without a moment where it is there in part: renamed away, then
    deleted."""
    if index.exists():
        away = _unused_name(index.parent)
        index.rename(away)
        remove_tree(away)


def _unused_name(directory: Path) -> Path:
    """A new name for a leftover (removed by the next run if this one dies)."""
    return directory / f"{TEMPORARY_PREFIX}old-{secrets.token_hex(6)}"
