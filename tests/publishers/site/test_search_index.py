"""Search without a server: the archive's Pagefind index, cut into shards along the paper
folders, holds the paper pages' content and nothing else; a reindex redoes only the shards
whose folders changed, swaps each bundle in whole while people read it, never lets the
manifest name a bundle that is not there whole, and survives a failed or killed run; and
search.html finds a word of a summary's body in any shard in a real Chromium, from a local
web server, on a phone and a desktop, light and dark, with no serious axe-core finding and
no request to another host."""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from html import unescape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pagefind.service import get_executable

from publishers.render.templates import Templates
from publishers.site import search_index
from publishers.site.builder import SiteBuilder
from publishers.site.files import PageFiles
from publishers.site.paths import paper_folder
from publishers.site.search_index import SearchIndexError
from storage.database import Database
from storage.models import Paper
from tests.publishers.site.chromium import Chromium, Page, artifacts, serious_axe_findings
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive, paper_file

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

index_site = functools.partial(search_index.index_site, shard_from=0)
"""The archives here are small: their index is cut into shards all the same, as a big one's
is, except where a test says otherwise."""

ENTRY_FILES = (
    "pagefind-entry.json",
    "pagefind.js",
    "pagefind-worker.js",
    "pagefind-ui.js",
    "pagefind-ui.css",
    "wasm.en.pagefind",
)
"""What search.html and Pagefind's script load from a bundle before the index itself."""
BODY_WORD = "coordinatewise"
"""A word of the 1606.04474 seed summary's body only: not in a title, TL;DR or abstract."""
BODY_WORD_PAPER = "1606.04474"
FRAGMENT_SIGNATURE = b"pagefind_dcd"
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}
MATH_TITLE = r"Sorting in $\mathcal{O}(n \log n)$ time"
MATH_TITLE_TEXT = "Sorting in \U0001d4aa(n log n) time"
NEW_WORD = "zymurgical"
"""A word no page of the archive has, put into one page to see its shard indexed again."""


@pytest.fixture
def archive(db: Database, tmp_path: Path) -> Archive:
    """The test archive, its index cut into shards by its build."""
    return build_archive(db, tmp_path / "site", search_shard_from=0)


def _shard(name: str) -> str:
    """The shard of the paper page named ``name``."""
    return paper_folder(name)[0]


def _manifest(site: Path) -> list[str]:
    """The bundles pagefind/shards.json names (``7/``), checking each is there whole."""
    data = json.loads((site / "pagefind" / "shards.json").read_text("utf-8"))
    paths = [bundle["path"] for bundle in data["bundles"]]
    for path in paths:
        for name in ENTRY_FILES:
            assert (site / "pagefind" / path / name).is_file(), (path, name)
    return paths


def _fragments(site: Path) -> list[dict[str, Any]]:
    """What Pagefind holds of each page, over every bundle the manifest names
    (``fragment/*.pf_fragment``: gzip, a signature, then JSON with the page's url, content
    and meta), to see what a search can find."""
    found = []
    for path in _manifest(site):
        for fragment in sorted((site / "pagefind" / path / "fragment").iterdir()):
            data = gzip.decompress(fragment.read_bytes())
            assert data.startswith(FRAGMENT_SIGNATURE), fragment
            found.append(json.loads(data[len(FRAGMENT_SIGNATURE) :]))
    return found


def _paper_pages(site: Path) -> list[Path]:
    return sorted(site.glob("papers/*/*.html"))


def _leftovers(site: Path) -> list[str]:
    return sorted(path.name for path in site.glob(".pagefind*"))


def _files(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each file under ``folder``: its inode, modification time and bytes (a file written
    again, or a folder swapped in, has another inode)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            status = path.stat()
            found[path.relative_to(folder).as_posix()] = (
                status.st_ino,
                status.st_mtime_ns,
                path.read_bytes(),
            )
    return found


def _bundles(site: Path) -> dict[str, dict[str, tuple[int, int, bytes]]]:
    return {path: _files(site / "pagefind" / path) for path in _manifest(site)}


def _rewrite(site: Path, name: str, change: Callable[[str], str]) -> None:
    """Write the paper page named ``name`` again, as the updater does (beside, then renamed
    over)."""
    page = paper_file(name)
    PageFiles(site).write(page, change((site / page).read_text("utf-8")))


def _empty_shard_name(site: Path) -> str:
    """A page name whose shard has no page in the archive."""
    taken = {page.parent.name[0] for page in _paper_pages(site)}
    return next(f"zz-extra-{n}" for n in range(10_000) if _shard(f"zz-extra-{n}") not in taken)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], list[str]]:
    """After every rename a run makes (a bundle swapped or put away, the manifest renamed
    over), the manifest must name only bundles that are there whole: what a reader loading
    search.html at that instant gets. Returns a function giving the broken moments."""
    broken: list[str] = []
    sites: list[Path] = []
    rename, replace = Path.rename, os.replace

    def check(step: str) -> None:
        for site in sites:
            manifest = site / "pagefind" / "shards.json"
            if not manifest.exists():
                continue
            for bundle in json.loads(manifest.read_text("utf-8"))["bundles"]:
                if not (site / "pagefind" / bundle["path"] / "pagefind-entry.json").is_file():
                    broken.append(f"after {step}: {bundle['path']} is named but not there")

    def renamed(self: Path, target: Any) -> Path:
        moved = rename(self, target)
        check(f"rename {self.name} -> {Path(target).name}")
        return moved

    def replaced(source: Any, target: Any, **options: Any) -> None:
        replace(source, target, **options)
        check(f"replace {Path(source).name} -> {Path(target).name}")

    monkeypatch.setattr(Path, "rename", renamed)
    monkeypatch.setattr(os, "replace", replaced)

    def watch(site: Path) -> list[str]:
        sites.append(site.resolve())
        return broken

    return watch


def test_the_build_indexes_the_content_of_each_paper_page_and_nothing_else(
    archive: Archive,
) -> None:
    site = archive.directory
    paper_pages = _paper_pages(site)
    shards = sorted({f"{page.parent.name[0]}/" for page in paper_pages})
    assert len(shards) >= 2, "the archive's papers should spread over shards"
    assert _manifest(site) == shards
    assert archive.report.search is not None
    assert archive.report.search.pages == len(paper_pages) == archive.report.papers
    assert archive.report.search.shards == archive.report.search.reindexed == len(shards)
    assert f"indexed {len(paper_pages)} pages for search" in archive.report.text()
    listed = json.loads((site / "pagefind" / "shards.json").read_text("utf-8"))["bundles"]
    for bundle in listed:
        entry = json.loads(
            (site / "pagefind" / bundle["path"] / "pagefind-entry.json").read_bytes()
        )
        in_shard = [p for p in paper_pages if p.parent.name.startswith(bundle["path"][0])]
        assert bundle["pages"] == entry["languages"]["en"]["page_count"] == len(in_shard)

    fragments = _fragments(site)
    assert sorted(f["url"] for f in fragments) == sorted(
        f"/{page.relative_to(site).as_posix()}" for page in paper_pages
    )
    for fragment in fragments:
        page = (site / fragment["url"].lstrip("/")).read_text("utf-8")
        title = unescape(re.search(r"<title>(.*?) · ", page).group(1))  # type: ignore[union-attr]
        assert fragment["meta"]["title"] == title  # the title as text, math and all
        content = fragment["content"]
        assert content.startswith(title), content[:80]  # the article: no site header
        for outside in ("Skip to the content", "Atom feed", "Abstract on arXiv", "link."):
            assert outside not in content, (fragment["url"], outside)
        assert not re.search(r"\b\d+ summar(y|ies)\b", content), fragment["url"]
    real_nvp = next(f for f in fragments if f["url"] == f"/{paper_file(REAL_NVP)}")
    assert real_nvp["meta"]["title"] == "Density estimation using Real NVP"
    assert "Laurent Dinh" in real_nvp["content"] and "ICLR 2017" in real_nvp["content"]
    assert "Priced at" in real_nvp["content"]  # a summary's body


def test_a_result_with_math_in_its_title_is_titled_with_the_title_as_text(
    db: Database, tmp_path: Path
) -> None:
    build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        session.query(Paper).filter_by(arxiv_id=REAL_NVP).one().title = MATH_TITLE
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    fragment = next(f for f in _fragments(site) if f["url"] == f"/{paper_file(REAL_NVP)}")
    assert fragment["meta"]["title"] == MATH_TITLE_TEXT
    assert "\\mathcal" not in fragment["content"]


def test_every_page_links_to_the_search_page_which_loads_pagefind_from_the_site(
    archive: Archive,
) -> None:
    site = archive.directory
    for page in [site / "index.html", site / paper_file(REAL_NVP), site / "years/2016.html"]:
        root = "../" * len(page.relative_to(site).parts[:-1])
        assert f'<a href="{root}search.html">Search</a>' in page.read_text("utf-8"), page
    search = (site / "search.html").read_text("utf-8")
    assert 'new URL("pagefind/", location.href)' in search
    assert 'new URL("shards.json", index)' in search
    assert "mergeIndex" in search
    assert "<noscript><p" in search and "Search needs JavaScript" in search
    addresses = re.findall(r'(?:src|href)="([^"]+)"', search)
    assert [a for a in addresses if urlsplit(a).scheme or a.startswith("//")] == []
    script = search.split("<script>")[-1]
    assert not re.search(r"https?:|[\"']//", script), "the script names no other host"


def test_an_overridden_paper_template_without_the_marks_still_indexes_only_paper_pages(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "mine" / "site").mkdir(parents=True)
    (tmp_path / "mine" / "site" / "paper.html.j2").write_text(
        '{% extends "site/base.html.j2" %}{% block main %}<h1>{{ paper.title_text }}</h1>'
        "{% endblock %}\n"
    )
    build_archive(db, tmp_path / "ignored")
    report = SiteBuilder(db, Templates(tmp_path / "mine")).build(site := tmp_path / "site")
    assert report.search is not None
    assert report.search.pages == len(_paper_pages(site)) == report.papers
    assert {f["url"].split("/")[1] for f in _fragments(site)} == {"papers"}


def test_nothing_changed_nothing_is_indexed_again(archive: Archive) -> None:
    site = archive.directory
    before = _bundles(site)
    report = index_site(site)
    assert (report.pages, report.reindexed) == (archive.report.papers, 0)
    assert report.shards == len(before)
    assert (
        f"(0 shards indexed again, {len(before)} in all)" in report.text()
        and report.text().count("\n") == 1
    )
    assert _bundles(site) == before


def test_changing_one_paper_page_indexes_only_its_shard_again(archive: Archive) -> None:
    site = archive.directory
    before = _bundles(site)
    _rewrite(site, REAL_NVP, lambda page: page.replace("Priced at", f"Priced {NEW_WORD} at"))
    report = index_site(site)
    assert (report.pages, report.reindexed) == (archive.report.papers, 1)
    after = _bundles(site)
    changed = f"{_shard(REAL_NVP)}/"
    assert after.keys() == before.keys()
    for path in before:
        if path == changed:
            assert after[path] != before[path]
        else:
            assert after[path] == before[path], f"bundle {path} was touched"
    holding = [f["url"] for f in _fragments(site) if NEW_WORD in f["content"]]
    assert holding == [f"/{paper_file(REAL_NVP)}"]
    assert _leftovers(site) == []


def test_a_page_written_while_pagefind_runs_is_indexed_by_the_next_run(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folders are looked at before Pagefind reads them: a page written during a run
    leaves its shard stale, not recorded as indexed."""
    site = archive.directory
    late = site / paper_file(REAL_NVP).replace(REAL_NVP, "zz-late")
    writer = tmp_path / "pagefind-then-a-page"
    writer.write_text(
        "#!/bin/sh\n"
        f'"{get_executable()}" "$@" || exit $?\n'
        f"cp '{site / paper_file(REAL_NVP)}' '{late}'\n"
    )
    writer.chmod(0o755)
    _rewrite(site, REAL_NVP, lambda page: page.replace("Priced at", f"Priced {NEW_WORD} at"))
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(writer))
    first = index_site(site)
    monkeypatch.delenv("PAGEFIND_BINARY_PATH")
    assert late.is_file() and (first.pages, first.reindexed) == (archive.report.papers, 1)
    second = index_site(site)
    assert (second.pages, second.reindexed) == (archive.report.papers + 1, 1)
    assert f"/{late.relative_to(site).as_posix()}" in {f["url"] for f in _fragments(site)}


def test_a_shard_whose_last_page_goes_has_its_bundle_removed_after_the_manifest(
    archive: Archive, watched: Callable[[Path], list[str]]
) -> None:
    site = archive.directory
    broken = watched(site)
    shard = _shard(REAL_NVP)
    before = _bundles(site)
    gone = [p for p in _paper_pages(site) if p.parent.name[0] == shard]
    for page in gone:
        PageFiles(site).remove(page.relative_to(site).as_posix())
    report = index_site(site)
    assert (report.pages, report.reindexed) == (archive.report.papers - len(gone), 1)
    assert report.shards == len(before) - 1
    assert f"{shard}/" not in _manifest(site)
    assert not (site / "pagefind" / shard).exists()
    assert _bundles(site) == {k: v for k, v in before.items() if k != f"{shard}/"}
    assert broken == []
    assert _leftovers(site) == []


def test_the_last_page_gone_leaves_no_index(archive: Archive) -> None:
    site = archive.directory
    for page in _paper_pages(site):
        PageFiles(site).remove(page.relative_to(site).as_posix())
    report = index_site(site)
    assert (report.pages, report.shards) == (0, 0)
    assert report.reindexed == archive.report.search.shards  # type: ignore[union-attr]
    assert not (site / "pagefind").exists()
    assert _leftovers(site) == []


def test_an_index_from_before_shards_is_replaced_whole(archive: Archive) -> None:
    site = archive.directory
    shutil.rmtree(site / "pagefind")
    (site / "pagefind" / "fragment").mkdir(parents=True)
    (site / "pagefind" / "pagefind-entry.json").write_text('{"languages": {}}', encoding="utf-8")
    report = index_site(site)
    assert report.pages == archive.report.papers
    assert sorted(p.name for p in (site / "pagefind").iterdir()) == sorted(
        ["shards.json", *(path.rstrip("/") for path in _manifest(site))]
    )


def test_a_reindex_swaps_bundles_in_whole_while_a_reader_reads_them(
    archive: Archive, watched: Callable[[Path], list[str]]
) -> None:
    """A page comes and goes in a shard that has no other: its bundle is added, then named;
    unnamed, then removed. And one in a shard that has pages: its bundle is swapped."""
    site = archive.directory
    broken = watched(site)
    index = site / "pagefind"
    pages = archive.report.papers
    paper = (site / paper_file(REAL_NVP)).read_text("utf-8")
    lone = site / paper_file(_empty_shard_name(site))
    beside = site / paper_file(REAL_NVP).replace(REAL_NVP, "zz-beside")
    scripts = {path: (index / path / "pagefind.js").read_bytes() for path in _manifest(site)}
    script = next(iter(scripts.values()))
    seen: set[int] = set()
    problems: list[str] = []
    reads = 0
    stop = threading.Event()

    def named() -> set[str]:
        return {b["path"] for b in json.loads((index / "shards.json").read_bytes())["bundles"]}

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            listed = named()
            total = 0
            try:
                for path in sorted(listed):
                    entry = json.loads((index / path / "pagefind-entry.json").read_bytes())
                    total += entry["languages"]["en"]["page_count"]
                    if (index / path / "pagefind.js").read_bytes() != script:
                        problems.append(f"{path}pagefind.js was read in part")
            except FileNotFoundError as error:
                # fine if the bundle went after this reader read the manifest: the
                # manifest no longer names it
                if Path(error.filename).relative_to(index).parts[0] + "/" in named():
                    problems.append(f"{error.filename} is named but missing")
                continue
            except (OSError, ValueError, KeyError) as error:
                problems.append(repr(error))
            seen.add(total)
            reads += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for run in range(8):  # one page more, then one less, and so on
            extra = lone if run % 4 < 2 else beside
            if run % 2 == 0:
                extra.parent.mkdir(exist_ok=True)
                extra.write_text(paper, encoding="utf-8")
            else:
                PageFiles(site).remove(extra.relative_to(site).as_posix())
            report = index_site(site)
            assert report.reindexed == 1, run
    finally:
        stop.set()
        reader.join()
    assert problems[:5] == []
    assert broken == []
    assert seen == {pages, pages + 1}, "the reader did not see both indexes"
    assert reads > 100
    assert _leftovers(site) == []


def test_the_leftovers_of_a_killed_run_are_removed_and_runs_take_turns(archive: Archive) -> None:
    site = archive.directory
    killed = site / ".pagefind-k1ll3d"
    (killed / "fragment").mkdir(parents=True)
    (killed / "pagefind-entry.json").write_text('{"version":', encoding="utf-8")  # half written
    (site / ".pagefind-old-0123456789ab").mkdir()
    (site / ".pagefind-old-0123456789ab" / "pagefind.js").write_text("old", encoding="utf-8")
    (site / ".pagefind-shards.json-0123456789ab").write_text('{"bundles": [', encoding="utf-8")
    # killed after a new shard's bundle was put in place, before the manifest named it; its
    # page has gone since
    unnamed = site / "pagefind" / _shard(_empty_shard_name(site))
    shutil.copytree(site / "pagefind" / _manifest(site)[0], unnamed)
    _rewrite(site, REAL_NVP, lambda page: page.replace("Priced at", f"Priced {NEW_WORD} at"))
    reports = []
    errors = []

    def run() -> None:
        try:
            reports.append(index_site(site))
        except Exception as error:  # any failure of a run is what this test looks for
            errors.append(error)

    runs = [threading.Thread(target=run) for _ in range(3)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert errors == []
    assert [report.pages for report in reports] == [archive.report.papers] * 3
    assert sorted(report.reindexed for report in reports) == [0, 0, 1], "runs took turns"
    assert _leftovers(site) == []
    assert not unnamed.exists()
    assert len(_manifest(site)) == archive.report.search.shards  # type: ignore[union-attr]


def test_the_index_can_be_read_by_whoever_can_read_the_site(archive: Archive) -> None:
    site = archive.directory
    site.chmod(0o755)  # pytest's folders are their owner's alone; a published site is not
    shutil.rmtree(site / "pagefind")
    index_site(site)
    _rewrite(site, REAL_NVP, lambda page: page.replace("Priced at", f"Priced {NEW_WORD} at"))
    assert index_site(site).reindexed == 1
    assert (site / "pagefind").stat().st_mode & 0o777 == 0o755
    for path in _manifest(site):
        assert (site / "pagefind" / path).stat().st_mode & 0o777 == 0o755, path
    assert (site / "pagefind" / "shards.json").stat().st_mode & 0o777 == 0o644


def test_a_failing_pagefind_leaves_the_previous_index_whole(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = archive.directory
    before = _files(site / "pagefind")
    failing = tmp_path / "pagefind-that-fails"
    failing.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --output-path ] && out="$2"; shift; done\n'
        'printf \'{"version":\' > "$out/pagefind-entry.json"\n'
        "echo 'Error: the disk is on fire' >&2\n"
        "exit 3\n"
    )
    failing.chmod(0o755)
    _rewrite(site, REAL_NVP, lambda page: page.replace("Priced at", f"Priced {NEW_WORD} at"))
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(failing))
    with pytest.raises(SearchIndexError, match=r"exit 3.*previous search index is kept") as error:
        index_site(site)
    assert "the disk is on fire" in str(error.value)
    assert _files(site / "pagefind") == before
    assert _leftovers(site) == []

    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(tmp_path / "no-such-pagefind"))
    with pytest.raises(
        SearchIndexError, match=r"binary was not found.*pip install 'pagefind\[bin\]'"
    ):
        index_site(site)
    assert _files(site / "pagefind") == before
    assert _leftovers(site) == []

    monkeypatch.delenv("PAGEFIND_BINARY_PATH")
    assert index_site(site).reindexed == 1, "the shard is still stale"


def test_an_archive_without_papers_has_no_index_and_an_old_one_goes(
    db: Database, tmp_path: Path
) -> None:
    site = tmp_path / "empty"
    (site / "pagefind").mkdir(parents=True)
    (site / "pagefind" / "pagefind-entry.json").write_text("{}", encoding="utf-8")
    report = SiteBuilder(db, Templates()).build(site)
    assert report.search is not None and report.search.pages == 0
    assert "indexed 0 pages for search" in report.text()
    assert not (site / "pagefind").exists()
    assert _leftovers(site) == []


def test_a_small_archive_has_one_bundle_of_every_paper_page(db: Database, tmp_path: Path) -> None:
    """Below SHARD_FROM pages, one Pagefind run: no merged bundles, whose fallback matches
    would add loose results to a search."""
    built = build_archive(db, tmp_path / "site")
    site = built.directory
    assert len(_paper_pages(site)) < search_index.SHARD_FROM
    assert _manifest(site) == ["all/"]
    assert sorted(f["url"] for f in _fragments(site)) == sorted(
        f"/{page.relative_to(site).as_posix()}" for page in _paper_pages(site)
    )
    assert search_index.index_site(site).reindexed == 0


def test_an_archive_that_crosses_the_shard_size_is_indexed_again_the_other_way(
    db: Database, tmp_path: Path
) -> None:
    site = build_archive(db, tmp_path / "site").directory
    pages = len(_paper_pages(site))
    grown = search_index.index_site(site, shard_from=pages)  # as if it had grown past it
    shards = sorted({f"{_shard(page.stem)}/" for page in _paper_pages(site)})
    assert len(shards) >= 2 and _manifest(site) == shards
    assert (grown.pages, grown.shards, grown.reindexed) == (pages, len(shards), len(shards))
    assert not (site / "pagefind" / "all").exists() and _leftovers(site) == []
    assert search_index.index_site(site, shard_from=pages).reindexed == 0
    shrunk = search_index.index_site(site, shard_from=pages + 1)
    assert _manifest(site) == ["all/"] and (shrunk.pages, shrunk.shards) == (pages, 1)
    assert sorted(p.name for p in (site / "pagefind").iterdir()) == ["all", "shards.json"]


# --- in Chromium ---------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test's output for its findings."""


@pytest.fixture
def served(archive: Archive) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (Pagefind fetches its index; a page opened from
    disk may not)."""
    with _serving(archive.directory) as address:
        yield address


@contextlib.contextmanager
def _serving(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


RESULTS = """
(async page => {
  const shown = () => Array.from(document.querySelectorAll('.pagefind-ui__result-link'))
    .map(a => ({href: a.href, text: a.textContent}));
  for (let i = 0; i < 200 && !shown().some(r => r.href.endsWith(page)); i++) {
    await new Promise(r => setTimeout(r, 50));
  }
  return shown();
})(%s)
"""
"""The results once one links to the page given, or after ten seconds."""
EXCERPT = """
(page => Array.from(document.querySelectorAll('.pagefind-ui__result'))
  .find(r => r.querySelector('.pagefind-ui__result-link').href.endsWith(page))
  .querySelector('.pagefind-ui__result-excerpt').textContent)(%s)
"""
"""The excerpt shown for the result that links to the page given."""
CLEAR = """
(() => {
  const input = document.querySelector('.pagefind-ui__search-input');
  input.value = '';
  input.dispatchEvent(new Event('input', {bubbles: true}));
  input.focus();
})()
"""
LOOK = """
(() => {
  const input = document.querySelector('.pagefind-ui__search-input');
  const page = getComputedStyle(document.documentElement);
  const box = getComputedStyle(input);
  return {
    pageWidth: document.documentElement.scrollWidth,
    inputWidth: input.getBoundingClientRect().width,
    pageBackground: page.backgroundColor, pageText: page.color,
    inputBackground: box.backgroundColor, inputText: box.color,
    label: input.labels.length ? input.labels[0].textContent : null,
  };
})()
"""


def test_the_body_word_is_in_one_summary_body_only(archive: Archive) -> None:
    """The browser test's word must find a summary's body, not a title or a TL;DR."""
    holding = []
    for page in archive.directory.rglob("*.html"):
        text = page.read_text("utf-8")
        if BODY_WORD in text.casefold():
            bodies = "".join(re.findall(r'<div class="body">.*?</div>\n</section>', text, re.S))
            assert text.casefold().count(BODY_WORD) == bodies.casefold().count(BODY_WORD)
            holding.append(page.relative_to(archive.directory).as_posix())
    assert holding == [paper_file(BODY_WORD_PAPER)]


async def _search(page: Page, word: str, expected: str) -> list[dict[str, str]]:
    """Type ``word`` into the search box once it is there; the results once one links to
    ``expected`` (or after ten seconds)."""
    for _ in range(100):
        if await page.evaluate("!!document.querySelector('.pagefind-ui__search-input')"):
            break
        await page.evaluate("new Promise(r => setTimeout(r, 50))")
    await page.evaluate("document.querySelector('.pagefind-ui__search-input').focus()")
    await page.send("Input.insertText", text=word)
    return await page.evaluate(RESULTS % json.dumps(expected))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
async def test_search_finds_a_word_of_a_summary_body_in_chromium(
    chromium: str, axe_core: str, archive: Archive, served: str, device: str, scheme: str
) -> None:
    """Both words are in pages of different shards, one at least in a bundle merged into
    the first one's search."""
    served_site = archive.directory
    # two shards: whichever bundle the page loads first, the other word is in a merged one
    assert _shard(BODY_WORD_PAPER) != _shard(REAL_NVP)
    width, height = WIDTHS[device]
    name = f"archive-search-{width}px-{scheme}"
    async with Chromium(chromium) as page:
        await page.emulate(width, height, mobile=device == "phone", dark=scheme == "dark")
        await page.follow_workers()
        await page.open(served + "search.html")
        results = await _search(page, BODY_WORD, paper_file(BODY_WORD_PAPER))
        found = {
            "href": f"{served}{paper_file(BODY_WORD_PAPER)}",
            "text": "Learning to learn by gradient descent by gradient descent",
        }
        assert found in results, name
        # Any other result is Pagefind's fallback in a shard without the word: pages with
        # the longest word there that starts the term. The word's own shard has no other.
        for other in results:
            if other != found:
                assert f"/papers/{_shard(BODY_WORD_PAPER)}" not in other["href"], results
        excerpt = await page.evaluate(EXCERPT % json.dumps(paper_file(BODY_WORD_PAPER)))
        assert BODY_WORD in excerpt.casefold(), excerpt

        look = await page.evaluate(LOOK)
        assert look["pageWidth"] <= width, f"{name}: wider than the screen"
        assert look["inputWidth"] > width / 2, look
        assert look["inputBackground"] == look["pageBackground"], f"{name}: {look}"
        assert look["inputText"] == look["pageText"], f"{name}: {look}"
        assert look["label"].startswith("Search the titles"), look

        serious = await serious_axe_findings(page, axe_core)
        assert serious == [], f"{name}: axe-core found\n" + "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']}\n  " + "\n  ".join(v["nodes"]) for v in serious
        )
        await page.screenshot(artifacts() / f"{name}.png", full_page=True)

        # A word of the Real NVP page only, whose record in the index has a picture: the
        # first figure of its summaries, from another host. The results do not show it.
        await page.evaluate(CLEAR)
        await page.send("Input.insertText", text="Priced")
        results = await page.evaluate(RESULTS % json.dumps(paper_file(REAL_NVP)))
        assert f"{served}{paper_file(REAL_NVP)}" in [r["href"] for r in results], results
        for other in results:  # the fallback again (here: "P.", an author's initial)
            if other["href"] != f"{served}{paper_file(REAL_NVP)}":
                assert f"/papers/{_shard(REAL_NVP)}" not in other["href"], results
        await page.evaluate("new Promise(r => setTimeout(r, 500))")  # time to ask for it
    inline = ("data", "blob")  # Pagefind's icon is a data: URL, made in the page
    elsewhere = [u for u in page.requested if urlsplit(u).scheme not in inline]
    elsewhere = [url for url in elsewhere if not url.startswith(served)]
    assert elsewhere == [], "search asked another host"
    fetched = {urlsplit(url).path for url in page.requested}  # the worker's requests too
    primary, *merged = _manifest(served_site)
    assert {"/pagefind/shards.json", f"/pagefind/{primary}wasm.en.pagefind"} <= fetched
    for path in (primary, *merged):  # each bundle is searched
        assert f"/pagefind/{path}pagefind-entry.json" in fetched, path
    for name in (BODY_WORD_PAPER, REAL_NVP):  # both words' pages, from their own bundles
        shard = _shard(name)
        assert any(p.startswith(f"/pagefind/{shard}/fragment/") for p in fetched), name


async def test_search_opened_from_disk_says_it_needs_a_web_server(
    chromium: str, archive: Archive
) -> None:
    async with Chromium(chromium) as page:
        await page.open((archive.directory / "search.html").resolve().as_uri())
        notice = await page.evaluate(
            "(n => n.hidden ? null : n.textContent)(document.getElementById('search-unavailable'))"
        )
        assert notice is not None and "served by a web server" in notice
        assert await page.evaluate("document.querySelector('.pagefind-ui__search-input')") is None


async def test_search_served_without_an_index_says_it_has_none(
    chromium: str, archive: Archive, served: str
) -> None:
    shutil.rmtree(archive.directory / "pagefind")  # copied without it, or no paper yet
    async with Chromium(chromium) as page:
        await page.open(served + "search.html")
        notice = None
        for _ in range(100):
            notice = await page.evaluate(
                "(n => n.hidden ? null : n.textContent)"
                "(document.getElementById('search-unavailable'))"
            )
            if notice:
                break
            await page.evaluate("new Promise(r => setTimeout(r, 50))")
        assert notice is not None and "no search index yet" in notice
        assert await page.evaluate("document.querySelector('.pagefind-ui__search-input')") is None
    assert all(urlsplit(url).path != "/pagefind/pagefind-ui.js" for url in page.requested)


async def test_search_in_one_bundle_finds_the_word_and_nothing_else(
    chromium: str, db: Database, tmp_path: Path
) -> None:
    site = build_archive(db, tmp_path / "site").directory
    assert _manifest(site) == ["all/"]
    with _serving(site) as served:
        async with Chromium(chromium) as page:
            await page.emulate(*WIDTHS["desktop"], mobile=False, dark=False)
            await page.open(served + "search.html")
            results = await _search(page, BODY_WORD, paper_file(BODY_WORD_PAPER))
    assert [r["href"] for r in results] == [f"{served}{paper_file(BODY_WORD_PAPER)}"], results
