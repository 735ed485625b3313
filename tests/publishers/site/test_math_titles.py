"""A paper's title with LaTeX math in the archive (issue 18): rendered math in headings and
lists, plain Unicode where only text goes (the page's ``<title>``, the Atom feed); and the
MathML made of modular arithmetic."""

# The expected values hold the Unicode math characters themselves, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.builder import SiteBuilder
from publishers.site.html import latex_to_mathml
from storage.database import Database
from storage.models import Paper
from tests.publishers.conftest import NOW
from tests.publishers.site.conftest import REAL_NVP, build_archive, paper_file

ATOM = "{http://www.w3.org/2005/Atom}"
TITLE = r"Sorting in $\mathcal{O}(n \log n)$ time"
TITLE_TEXT = "Sorting in 𝒪(n log n) time"


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Path:
    """The archive, its Real NVP paper retitled with math."""
    build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        paper.title = TITLE
        page = paths.paper_page(paper)
    directory = tmp_path / "site"
    SiteBuilder(db, Templates(), clock=lambda: NOW).build(directory)
    assert (directory / page).is_file()
    return directory


def test_no_page_or_feed_shows_the_titles_latex_source(site: Path) -> None:
    files = [path for path in site.rglob("*") if path.suffix in (".html", ".xml")]
    assert len(files) > 5
    for path in files:
        text = path.read_text("utf-8")
        assert "\\mathcal" not in text and "\\log" not in text, path
        assert "$\\" not in text and "n)$" not in text, path


def test_the_paper_page_shows_its_title_as_mathml_and_as_text_in_its_title(site: Path) -> None:
    page = (site / paper_file(REAL_NVP)).read_text("utf-8")
    title = re.search(r"<title>(.*?)</title>", page)
    assert title is not None
    assert title.group(1) == f"{TITLE_TEXT} · ShortScience archive"
    heading = re.search(r"<h1>(.*?)</h1>", page)
    assert heading is not None
    assert heading.group(1).startswith('Sorting in <span class="math inline"><math ')
    assert "<mi>𝒪</mi>" in heading.group(1)


def test_every_list_of_papers_shows_the_title_as_mathml(site: Path) -> None:
    listings = [site / "index.html", *site.glob("years/*.html"), *site.glob("categories/*.html")]
    page = re.escape(paper_file(REAL_NVP))
    linked = re.compile(r'<a href="[^"]*' + page + r'[^"]*">(.*?)</a>')
    shown = [match for path in listings for match in linked.findall(path.read_text("utf-8"))]
    assert len(shown) >= 3  # the home page, its year, its categories
    for title in shown:
        assert title.startswith('Sorting in <span class="math inline"><math '), title


def test_the_feed_carries_the_title_as_plain_unicode(site: Path) -> None:
    root = ElementTree.parse(site / "feed.xml").getroot()  # noqa: S314 - our own file
    titles = [entry.findtext(f"{ATOM}title") for entry in root.iter(f"{ATOM}entry")]
    assert TITLE_TEXT in titles
    assert not [title for title in titles if title and "<" in title]


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"a \bmod n", "<mi>a</mi><mo>mod</mo><mi>n</mi>"),
        (r"a \equiv b \pmod{n}", "<mo>(</mo><mi>mod</mi>"),
        (r"a \mod n", "<mi>mod</mi>"),
    ],
)
def test_modular_arithmetic_becomes_mathml_with_mod_as_a_word(latex: str, shown: str) -> None:
    mathml = latex_to_mathml(latex)
    assert mathml.startswith("<math ")
    assert shown in mathml
    assert "bmod" not in mathml and "pmod" not in mathml and "\\" not in mathml
