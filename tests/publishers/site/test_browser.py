"""The built archive in a real headless Chromium: math renders, links resolve, a screenshot.

Skipped, with the reason shown, where no Chromium is installed; `.ci/run` installs
Debian's ``chromium`` so CI runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from storage.database import Database
from tests.publishers.site.chromium import Chromium, find_chromium
from tests.publishers.site.conftest import REAL_NVP, build_archive

REPO = Path(__file__).resolve().parents[3]

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


def _artifacts() -> Path:
    folder = Path(os.environ.get("SHORTSCIENCE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it): "
            "the archive's browser check did not run"
        )
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_archive_renders_math_and_every_link_resolves_in_chromium(
    chromium: str, db: Database, tmp_path: Path
) -> None:
    archive = build_archive(db, tmp_path / "site")
    site = archive.directory.resolve()
    async with Chromium(chromium) as page:
        paper = site / f"papers/{REAL_NVP}.html"
        await page.open(paper.as_uri())
        boxes = await page.evaluate(MATH_BOXES)
        assert boxes, "the Real NVP page has no math element"
        assert all(box["width"] > 0 and box["height"] > 0 for box in boxes), boxes
        assert {box["display"] for box in boxes} == {"inline", "block"}
        drops = await page.evaluate(SUBSCRIPT_DROP)
        assert drops and all(drop > 0 for drop in drops), f"MathML not laid out: {drops}"
        shot = _artifacts() / f"archive-paper-{REAL_NVP}.png"
        await page.screenshot(shot)
        assert shot.stat().st_size > 10_000

        broken = []
        for built in sorted(site.rglob("*.html")):
            await page.open(built.as_uri())
            for href in await page.evaluate(LINKS):
                parts = urlsplit(href)
                if parts.scheme != "file":
                    assert parts.scheme in ("http", "https"), (built, href)
                    continue
                if not Path(unquote(parts.path)).is_file():
                    broken.append((str(built.relative_to(site)), href))
        assert broken == []
        outside = [url for url in page.requested if urlsplit(url).scheme not in ("file", "")]
        assert outside == [], "the pages loaded something from the network"
