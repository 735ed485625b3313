"""The demo data (`shortscience import --demo`): whole papers and summaries, no arXiv."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import parse as parse_xml
from sqlalchemy import select

from bot.commands.context import CommandContext
from bot.commands.papers import browse
from bot.commands.papers import summary as summary_command
from bot.config import LimitSettings
from bot.imports.entries import derive_tldr
from bot.imports.importer import DEMO_FILE, Importer, demo_entries, demo_text
from bot.papers.lookups import PaperLookups
from publishers.render.templates import Templates
from publishers.site.builder import SiteBuilder
from storage.database import Database
from storage.imports import AuthorRecord
from storage.models import Paper
from tests.publishers.site.conftest import paper_file
from tests.servers.arxiv_server import FakeArxiv

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


def demo() -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = json.loads(demo_text())["summaries"]
    return summaries


def recorded() -> dict[str, dict[str, Any]]:
    """The ShortScience.org home page as the shared fixture recorded it, by title."""
    page = json.loads((FIXTURES / "summaries" / "shortscience_home.json").read_text("utf-8"))
    return {item["title"]: item for item in page["summaries"]}


def seed_abstract(arxiv_id: str) -> str:
    """The abstract of the constructed arXiv record of a demo paper."""
    path = FIXTURES / "arxiv" / f"constructed_seed__id_{arxiv_id}.xml"
    entry = parse_xml(path).getroot().find(f"{ATOM}entry")
    assert entry is not None
    return " ".join((entry.findtext(f"{ATOM}summary") or "").split())


def test_the_bodies_are_the_community_text_with_its_lines_back() -> None:
    """Word for word the recorded Markdown; headings, list items and display math start
    their own lines (the recording had every line break collapsed)."""
    page = recorded()
    bodies = {item["paper"]["title"]: item["body"] for item in demo()}
    assert set(bodies) == set(page)
    for title, body in bodies.items():
        assert " ".join(body.split()) == " ".join(page[title]["summary_markdown"].split())
        assert "\n\n" in body
    lines = {title: body.splitlines() for title, body in bodies.items()}
    l2l = lines["Learning to learn by gradient descent by gradient descent"]
    assert l2l[0] == "# Very Short"
    assert "# Short" in l2l
    display = [line for line in l2l if line.startswith("$$")]
    assert len(display) == 2 and all(line.endswith("$$") for line in display)
    bso = lines["Sequence-to-Sequence Learning as Beam-Search Optimization"]
    assert [line[:3] for line in bso if re.match(r"\d\. ", line)] == [
        "1. ", "2. ", "3. ", "1. ", "2. ", "3. ", "4. ", "1. ", "2. ", "3. "
    ]  # fmt: skip
    assert sum(line.startswith("* ") for line in bso) == 3
    assert "[1]: http://www.cs.stanford.edu/~nmramesh/crf" in bso
    saliency = lines["Sanity Checks for Saliency Maps"]
    assert sum(line.startswith("* *") for line in saliency) == 2


def test_every_tldr_is_a_sentence_of_its_own() -> None:
    for item in demo():
        tldr, body = item["tldr"], item["body"]
        flat = " ".join(body.split())
        assert tldr != derive_tldr(body, LimitSettings().tldr_max_chars)
        assert tldr not in flat
        assert len(tldr) <= LimitSettings().tldr_max_chars
        assert "\n" not in tldr and tldr.endswith(".")


def test_the_papers_are_whole() -> None:
    page = recorded()
    for item in demo():
        paper = item["paper"]
        source = page[paper["title"]]
        assert paper["year"] == source["year"]
        assert paper["venue"] in ("NeurIPS", "EMNLP", "ICLR")
        assert sorted(paper["categories"]) == sorted(
            source["keywords"] if source["arxiv_id"] else ["cs.CV", "cs.LG", "eess.IV"]
        )
        if source["arxiv_id"]:
            assert paper["authors"] == source["authors"]
            assert paper["abstract"] == seed_abstract(source["arxiv_id"])
        else:  # the page gives "Last, First"; arXiv's record "First Last"
            assert [" ".join(reversed(name.split(", "))) for name in source["authors"]] == (
                paper["authors"]
            )


def _import(lookups: PaperLookups) -> None:
    importer = Importer(lookups, LimitSettings(), operator=AuthorRecord("console", "op", "op"))
    report = importer.import_entries(*demo_entries(NOW), "the demo data")
    assert report.closing_line() == "imported 5, skipped 0, already present 0"


def test_importing_the_demo_asks_arxiv_nothing(
    db: Database, lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    _import(lookups)
    assert arxiv_server.request_count == 0
    with db.sessions() as session:
        papers = {paper.key: paper for paper in session.scalars(select(Paper))}
        assert len(papers) == 5
        for paper in papers.values():
            assert paper.author_names and paper.category_names and paper.year and paper.venue
            # As complete as arXiv's record: counted as fetched, so nothing waits for arXiv.
            assert paper.fetched_at is not None
            assert paper.fetched_at.replace(tzinfo=UTC) == NOW
        assert papers["arxiv:1605.08803"].abstract.startswith("Unsupervised learning")


async def test_summary_and_browse_show_the_demo_without_arxiv(
    ctx: CommandContext, lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    importer = Importer(lookups, LimitSettings(), operator=AuthorRecord("console", "op", "op"))
    importer.import_entries(*demo_entries(datetime.now(UTC)), "the demo data")
    reply = await summary_command(ctx, "1606.04474")
    assert "Marcin Andrychowicz" in str(reply.fields) + reply.text
    assert "The move from hand-designed features" in reply.text
    [section] = reply.sections
    assert section.lead is not None and section.lead.startswith("A coordinatewise LSTM")
    assert section.text.startswith("# Very Short\n\nThe authors propose")

    def titles(reply: Any) -> list[str]:
        return [section.title for section in reply.sections]

    year = await browse(ctx, "year", "2016")
    assert [title.split(" (")[0] for title in titles(year)] == [
        "Density estimation using Real NVP",
        "Sequence-to-Sequence Learning as Beam-Search Optimization",
        "Learning to learn by gradient descent by gradient descent",
    ]
    assert len(titles(await browse(ctx, "category", "cs.LG"))) == 5
    assert len(titles(await browse(ctx, "venue", "NeurIPS"))) == 3
    assert arxiv_server.request_count == 0


def test_the_archive_shows_years_and_the_authors_headings(
    db: Database, lookups: PaperLookups, tmp_path: Path
) -> None:
    _import(lookups)
    site = tmp_path / "site"
    SiteBuilder(db, Templates()).build(site)
    pages = "".join(path.read_text("utf-8") for path in site.rglob("*.html"))
    assert "Year unknown" not in pages
    assert (site / "years" / "2016.html").exists()
    page = (site / paper_file("1606.04474")).read_text("utf-8")
    assert re.search(r"<h\d[^>]*>\s*Very Short\s*</h\d>", page)
    assert re.search(r"<h\d[^>]*>\s*Short\s*</h\d>", page)
    assert "Marcin Andrychowicz" in page


def test_the_demo_is_package_data() -> None:
    """Shipped in the package (wheel and editable install), with where it came from."""
    assert json.loads(demo_text())["format"] == "shortscience-bot/summaries"
    assert (REPO / "bot" / "demo" / "SOURCES.md").exists()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    assert any(Path("demo", DEMO_FILE).match(pattern) for pattern in patterns)
    assert sorted(path.name for path in (REPO / "bot" / "demo").iterdir() if path.is_file()) == [
        "SOURCES.md",
        "__init__.py",
        DEMO_FILE,
    ]
