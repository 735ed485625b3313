"""The built archive in a real headless Chromium: math renders, links resolve, and the paper
pages (then the home page and two lists) read well on a phone and a desktop, in the light and
the dark scheme, with no serious or critical finding of axe-core; screenshots of each are
saved.

Skipped, with the reason shown, where no Chromium is installed (`.ci/run` installs Debian's
``chromium``), or, for the axe-core audit, where neither axe-core nor npm is there (`.ci/run`
installs axe-core into ``.cache/npm``; a local run installs it there itself with npm).
"""

from __future__ import annotations

import struct
import zlib
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from storage.database import Database
from tests.publishers.site.chromium import Chromium, artifacts, serious_axe_findings
from tests.publishers.site.conftest import FIGURE, REAL_NVP, build_archive, paper_file

PAPERS = (REAL_NVP, "1606.04474")
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}

MATH_BOXES = """
Array.from(document.querySelectorAll('math')).map(m => {
  const r = m.getBoundingClientRect();
  return {display: m.getAttribute('display'), width: r.width, height: r.height};
})
"""
# A subscript set lower than its base shows the browser laid the MathML out itself.
SUBSCRIPT_DROP = """
Array.from(document.querySelectorAll('msub')).map(s => {
  const [base, script] = s.children;
  return script.getBoundingClientRect().bottom - base.getBoundingClientRect().bottom;
})
"""
LINKS = "Array.from(document.querySelectorAll('a[href], link[href]')).map(a => a.href)"
# Each display formula's box and its <math>: where the formula sits and whether either draws
# a scroll bar (a scroll bar takes room: the border box is larger than the client area).
DISPLAY_MATH = """
Array.from(document.querySelectorAll('.math.block, .math.display')).map(box => {
  const outer = box.getBoundingClientRect();
  const inner = box.querySelector('math > *').getBoundingClientRect();
  const math = box.querySelector('math');
  const own = math.getBoundingClientRect();
  return {
    mathBars: [own.height - math.clientHeight, own.width - math.clientWidth].map(Math.round),
    text: box.textContent.slice(0, 40),
    fits: box.scrollWidth <= box.clientWidth,
    offCentre: (inner.left + inner.right) / 2 - (outer.left + outer.right) / 2,
    barBelow: box.offsetHeight - box.clientHeight,
    barBeside: box.offsetWidth - box.clientWidth,
    scrollsDown: box.scrollHeight > box.clientHeight,
  };
})
"""
READING = """
(() => {
  const paragraph = ['section.abstract p', '.body p', 'main p', 'main li']
    .map(selector => document.querySelector(selector)).find(found => found);
  const probe = document.createElement('span');
  probe.style.display = 'inline-block';
  probe.style.width = '100ch';
  paragraph.append(probe);
  const ch = probe.getBoundingClientRect().width / 100;
  probe.remove();
  const style = getComputedStyle(paragraph);
  const background = getComputedStyle(document.documentElement).backgroundColor;
  return {
    measure: paragraph.getBoundingClientRect().width / ch,
    lineHeight: parseFloat(style.lineHeight) / parseFloat(style.fontSize),
    fontSize: parseFloat(style.fontSize),
    background: background.match(/[0-9.]+/g).slice(0, 3).map(Number),
    pageWidth: document.documentElement.scrollWidth,
    lang: document.documentElement.lang,
    headings: Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
      .map(h => Number(h.tagName[1])),
  };
})()
"""
IMAGES = """
Array.from(document.images).map(i => ({
  src: i.currentSrc || i.src, alt: i.alt, loading: i.loading, width: i.naturalWidth,
  shown: i.getBoundingClientRect().width, column: i.parentElement.getBoundingClientRect().width,
}))
"""
LOAD_IMAGES = """
(async () => {
  for (const image of document.images) {
    image.scrollIntoView();
    for (let i = 0; i < 100 && !image.complete; i++) await new Promise(r => setTimeout(r, 20));
  }
  window.scrollTo(0, 0);
})()
"""


def _figure_png(width: int = 640, height: int = 320) -> bytes:
    """A plain PNG standing in for a summary's figure (bars on white), so the pages show a
    figure without going online; written with zlib as the PNG specification lays it out."""
    rows = b""
    for y in range(height):
        row = bytearray()
        for x in range(width):
            bar = (x // 80) % 2 == 0 and y > height - (x % 80) * 3 - 40
            row += bytes((40, 90, 160) if bar else (255, 255, 255))
        rows += b"\x00" + bytes(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_archive_renders_math_and_every_link_resolves_in_chromium(
    chromium: str, db: Database, tmp_path: Path
) -> None:
    archive = build_archive(db, tmp_path / "site")
    site = archive.directory.resolve()
    async with Chromium(chromium) as page:
        await page.serve_images({})
        paper = site / paper_file(REAL_NVP)
        await page.open(paper.as_uri())
        boxes = await page.evaluate(MATH_BOXES)
        assert boxes, "the Real NVP page has no math element"
        assert all(box["width"] > 0 and box["height"] > 0 for box in boxes), boxes
        assert {box["display"] for box in boxes} == {"inline", "block"}
        drops = await page.evaluate(SUBSCRIPT_DROP)
        assert drops and all(drop > 0 for drop in drops), f"MathML not laid out: {drops}"
        shot = artifacts() / f"archive-paper-{REAL_NVP}.png"
        await page.screenshot(shot)
        assert shot.stat().st_size > 10_000

        broken = []
        figures = set()
        for built in sorted(site.rglob("*.html")):
            await page.open(built.as_uri())
            figures |= {image["src"] for image in await page.evaluate(IMAGES)}
            for href in await page.evaluate(LINKS):
                parts = urlsplit(href)
                if parts.scheme != "file":
                    assert parts.scheme in ("http", "https"), (built, href)
                    continue
                if not Path(unquote(parts.path)).is_file():
                    broken.append((str(built.relative_to(site)), href))
        assert broken == []
        outside = [
            url
            for url in page.requested
            if urlsplit(url).scheme not in ("file", "") and url not in figures
        ]
        assert outside == [], "the pages loaded something other than a summary's figure"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_pages_read_well_on_a_phone_and_a_desktop_and_pass_axe_core(
    chromium: str, axe_core: str, db: Database, tmp_path: Path, device: str, scheme: str
) -> None:
    build_archive(db, site := tmp_path / "site")
    width, height = WIDTHS[device]
    figure = _figure_png()
    async with Chromium(chromium) as page:
        await page.emulate(width, height, mobile=device == "phone", dark=scheme == "dark")
        await page.serve_images({FIGURE: figure, "https://example.org/pixel.png": figure})
        for arxiv_id in PAPERS:
            await page.open((site / paper_file(arxiv_id)).resolve().as_uri())
            name = f"{arxiv_id}-{width}px-{scheme}"
            if device == "phone" and arxiv_id == REAL_NVP:
                assert FIGURE not in page.requested, "a figure far down was loaded at once"

            serious = await serious_axe_findings(page, axe_core)
            assert serious == [], f"{name}: axe-core found\n" + "\n".join(
                f"{v['id']} ({v['impact']}): {v['help']}\n  " + "\n  ".join(v["nodes"])
                for v in serious
            )

            reading = await page.evaluate(READING)
            assert reading["lang"] == "en"
            assert reading["pageWidth"] <= width, f"{name}: the page is wider than the screen"
            if device == "desktop":
                assert 60 <= reading["measure"] <= 75, f"{name}: {reading['measure']:.0f}ch"
            assert reading["lineHeight"] >= 1.5 and reading["fontSize"] >= 16, reading
            shade = sum(reading["background"]) / 3
            assert shade < 60 if scheme == "dark" else shade > 240, reading["background"]
            levels = reading["headings"]
            assert levels[0] == 1 and levels.count(1) == 1, levels
            assert all(b <= a + 1 for a, b in pairwise(levels)), levels

            formulas = await page.evaluate(DISPLAY_MATH)
            assert formulas, f"{name}: no display formula"
            for formula in formulas:
                assert not formula["scrollsDown"] and formula["barBeside"] == 0, formula
                assert formula["mathBars"] == [0, 0], f"{name}: a scroll bar in {formula}"
                if formula["fits"]:
                    assert formula["barBelow"] == 0, f"{name}: a scroll bar under {formula}"
                    assert abs(formula["offCentre"]) < 2, f"{name}: not centred: {formula}"

            await page.evaluate(LOAD_IMAGES)
            images = await page.evaluate(IMAGES)
            if arxiv_id == REAL_NVP:
                shown = {image["src"]: image for image in images}
                assert shown[FIGURE]["alt"] == "Samples" and shown[FIGURE]["loading"] == "lazy"
                assert shown[FIGURE]["width"] == 640, "the figure did not load"
                assert 0 < shown[FIGURE]["shown"] <= shown[FIGURE]["column"]
            await page.screenshot(artifacts() / f"archive-{name}.png", full_page=True)
        for listing in ("index.html", "years/2016.html", "categories/index.html"):
            await page.open((site / listing).resolve().as_uri())
            serious = await serious_axe_findings(page, axe_core)
            assert serious == [], f"{listing} at {width}px, {scheme}: {serious}"
            reading = await page.evaluate(READING)
            assert reading["pageWidth"] <= width and reading["headings"][0] == 1, reading
            await page.screenshot(
                artifacts() / f"archive-{listing.replace('/', '-')}-{width}px-{scheme}.png"
            )
        figures = {FIGURE, "https://example.org/pixel.png"}
        outside = [u for u in page.requested if urlsplit(u).scheme not in ("file", "")]
        assert set(outside) <= figures, "a page asked another host for more than its figures"
