"""Search without a server: the archive's Pagefind index holds the paper pages' content and
nothing else, is swapped in whole while people read it, survives a failed or killed run, and
search.html finds a word of a summary's body in a real Chromium, from a local web server, on
a phone and a desktop, light and dark, with no serious axe-core finding and no request to
another host."""

from __future__ import annotations

import functools
import gzip
import json
import re
import threading
from collections.abc import Iterator
from html import unescape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from publishers.render.templates import Templates
from publishers.site.builder import SiteBuilder
from publishers.site.search_index import SearchIndexError, index_site
from storage.database import Database
from storage.models import Paper
from tests.publishers.site.chromium import Chromium, artifacts, serious_axe_findings
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ENTRY_FILES = (
    "pagefind-entry.json",
    "pagefind.js",
    "pagefind-worker.js",
    "pagefind-ui.js",
    "pagefind-ui.css",
    "wasm.en.pagefind",
)
"""What search.html and Pagefind's script load before the index itself."""
BODY_WORD = "coordinatewise"
"""A word of the 1606.04474 seed summary's body only: not in a title, TL;DR or abstract."""
BODY_WORD_PAPER = "1606.04474"
FRAGMENT_SIGNATURE = b"pagefind_dcd"
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}
MATH_TITLE = r"Sorting in $\mathcal{O}(n \log n)$ time"
MATH_TITLE_TEXT = "Sorting in \U0001d4aa(n log n) time"


def _fragments(index: Path) -> list[dict[str, Any]]:
    """What Pagefind holds of each page (``fragment/*.pf_fragment``: gzip, a signature, then
    JSON with the page's url, content and meta), to see what a search can find."""
    found = []
    for fragment in sorted((index / "fragment").iterdir()):
        data = gzip.decompress(fragment.read_bytes())
        assert data.startswith(FRAGMENT_SIGNATURE), fragment
        found.append(json.loads(data[len(FRAGMENT_SIGNATURE) :]))
    return found


def _leftovers(site: Path) -> list[str]:
    return sorted(path.name for path in site.glob(".pagefind*"))


def test_the_build_indexes_the_content_of_each_paper_page_and_nothing_else(
    archive: Archive,
) -> None:
    site = archive.directory
    index = site / "pagefind"
    for name in ENTRY_FILES:
        assert (index / name).is_file(), name
    paper_pages = sorted(site.glob("papers/*.html"))
    assert archive.report.search is not None
    assert archive.report.search.pages == len(paper_pages) == archive.report.papers
    assert f"indexed {len(paper_pages)} pages for search" in archive.report.text()
    entry = json.loads((index / "pagefind-entry.json").read_text("utf-8"))
    assert sum(language["page_count"] for language in entry["languages"].values()) == len(
        paper_pages
    )

    fragments = _fragments(index)
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
    real_nvp = next(f for f in fragments if f["url"] == f"/papers/{REAL_NVP}.html")
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
    fragment = next(
        f for f in _fragments(site / "pagefind") if f["url"] == f"/papers/{REAL_NVP}.html"
    )
    assert fragment["meta"]["title"] == MATH_TITLE_TEXT
    assert "\\mathcal" not in fragment["content"]


def test_every_page_links_to_the_search_page_which_loads_pagefind_from_the_site(
    archive: Archive,
) -> None:
    site = archive.directory
    for page in [site / "index.html", site / f"papers/{REAL_NVP}.html", site / "years/2016.html"]:
        root = "../" * len(page.relative_to(site).parts[:-1])
        assert f'<a href="{root}search.html">Search</a>' in page.read_text("utf-8"), page
    search = (site / "search.html").read_text("utf-8")
    assert '<script src="pagefind/pagefind-ui.js"></script>' in search
    assert '<link rel="stylesheet" href="pagefind/pagefind-ui.css">' in search
    assert "<noscript><p" in search and "Search needs JavaScript" in search
    addresses = re.findall(r'(?:src|href)="([^"]+)"', search)
    assert [a for a in addresses if urlsplit(a).scheme or a.startswith("//")] == []


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
    assert report.search.pages == len(list(site.glob("papers/*.html"))) == report.papers
    assert {f["url"].split("/")[1] for f in _fragments(site / "pagefind")} == {"papers"}


def test_a_reindex_swaps_the_whole_index_in_while_a_reader_reads_it(archive: Archive) -> None:
    site = archive.directory
    index = site / "pagefind"
    assert archive.report.search is not None
    pages = archive.report.search.pages
    script = (index / "pagefind.js").read_bytes()
    extra = site / "papers" / "zz-extra.html"
    paper = (site / f"papers/{REAL_NVP}.html").read_text("utf-8")
    seen: set[int] = set()
    problems: list[str] = []
    reads = 0
    stop = threading.Event()

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                entry = json.loads((index / "pagefind-entry.json").read_bytes())
                seen.add(entry["languages"]["en"]["page_count"])
                if (index / "pagefind.js").read_bytes() != script:
                    problems.append("pagefind.js was read in part")
            except (OSError, ValueError, KeyError) as error:
                problems.append(repr(error))
            reads += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for run in range(8):  # the index has one page more, then one less, and so on
            if run % 2 == 0:
                extra.write_text(paper, encoding="utf-8")
            else:
                extra.unlink()
            index_site(site)
    finally:
        stop.set()
        reader.join()
    assert problems[:5] == []
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
    assert _leftovers(site) == []
    assert json.loads((site / "pagefind/pagefind-entry.json").read_text("utf-8"))["languages"]


def test_the_index_can_be_read_by_whoever_can_read_the_site(archive: Archive) -> None:
    site = archive.directory
    site.chmod(0o755)  # pytest's folders are their owner's alone; a published site is not
    index_site(site)
    assert (site / "pagefind").stat().st_mode & 0o777 == 0o755


def test_a_failing_pagefind_leaves_the_previous_index_whole(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = archive.directory
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("pagefind/**/*.*")}
    failing = tmp_path / "pagefind-that-fails"
    failing.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --output-path ] && out="$2"; shift; done\n'
        'printf \'{"version":\' > "$out/pagefind-entry.json"\n'
        "echo 'Error: the disk is on fire' >&2\n"
        "exit 3\n"
    )
    failing.chmod(0o755)
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(failing))
    with pytest.raises(SearchIndexError, match=r"exit 3.*previous search index is kept") as error:
        index_site(site)
    assert "the disk is on fire" in str(error.value)
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("pagefind/**/*.*")}
    assert after == before
    assert _leftovers(site) == []

    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(tmp_path / "no-such-pagefind"))
    with pytest.raises(
        SearchIndexError, match=r"binary was not found.*pip install 'pagefind\[bin\]'"
    ):
        index_site(site)
    assert {p.relative_to(site): p.read_bytes() for p in site.rglob("pagefind/**/*.*")} == before
    assert _leftovers(site) == []


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


# --- in Chromium ---------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test's output for its findings."""


@pytest.fixture
def served(archive: Archive) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (Pagefind fetches its index; a page opened from
    disk may not)."""
    handler = functools.partial(_QuietHandler, directory=str(archive.directory))
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
    assert holding == [f"papers/{BODY_WORD_PAPER}.html"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
async def test_search_finds_a_word_of_a_summary_body_in_chromium(
    chromium: str, axe_core: str, served: str, device: str, scheme: str
) -> None:
    width, height = WIDTHS[device]
    name = f"archive-search-{width}px-{scheme}"
    async with Chromium(chromium) as page:
        await page.emulate(width, height, mobile=device == "phone", dark=scheme == "dark")
        await page.follow_workers()
        await page.open(served + "search.html")
        for _ in range(100):
            if await page.evaluate("!!document.querySelector('.pagefind-ui__search-input')"):
                break
            await page.evaluate("new Promise(r => setTimeout(r, 50))")
        await page.evaluate("document.querySelector('.pagefind-ui__search-input').focus()")
        await page.send("Input.insertText", text=BODY_WORD)
        results = await page.evaluate(RESULTS % json.dumps(f"papers/{BODY_WORD_PAPER}.html"))
        assert results == [
            {
                "href": f"{served}papers/{BODY_WORD_PAPER}.html",
                "text": "Learning to learn by gradient descent by gradient descent",
            }
        ], name
        excerpt = await page.evaluate(
            "document.querySelector('.pagefind-ui__result-excerpt').textContent"
        )
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
        results = await page.evaluate(RESULTS % json.dumps(f"papers/{REAL_NVP}.html"))
        assert [r["href"] for r in results] == [f"{served}papers/{REAL_NVP}.html"], results
        await page.evaluate("new Promise(r => setTimeout(r, 500))")  # time to ask for it
    inline = ("data", "blob")  # Pagefind's icon is a data: URL, made in the page
    elsewhere = [u for u in page.requested if urlsplit(u).scheme not in inline]
    elsewhere = [url for url in elsewhere if not url.startswith(served)]
    assert elsewhere == [], "search asked another host"
    fetched = {urlsplit(url).path for url in page.requested}  # the worker's requests too
    assert {"/pagefind/pagefind-entry.json", "/pagefind/wasm.en.pagefind"} <= fetched
    assert any(path.startswith("/pagefind/fragment/") for path in fetched)


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
