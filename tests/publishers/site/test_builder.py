"""The archive without a browser: safe HTML, best first, Anonymous, indexes, links, Atom."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from sqlalchemy import event, select

from bot.cli import main
from publishers.render.templates import TemplateProblem, Templates
from publishers.site import paths
from publishers.site.builder import SiteBuilder
from publishers.site.html import latex_to_mathml, markdown_to_html
from storage import summaries as summary_store
from storage.archive import approved_archive
from storage.database import Database
from storage.models import Paper, PaperCategory, Summary
from storage.papers import PaperData, upsert
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive

ATOM = "{http://www.w3.org/2005/Atom}"
SHORTSCIENCE = "{https://www.shortscience.org}"


class _Page(HTMLParser):
    """Every tag with its attributes, the ids, and the elements' order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    @property
    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.tags if "id" in attrs}


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text("utf-8"))
    return page


def _feed(path: Path) -> ElementTree.Element:
    """The feed the builder just wrote, parsed strictly: a malformed one fails here."""
    return ElementTree.parse(path).getroot()  # noqa: S314 - our own output, no entities


def _html_pages(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.html"))


def _papers_listed(path: Path) -> set[str]:
    """The paper pages a page links to."""
    links = {attrs.get("href", "") for tag, attrs in _parse(path).tags if tag == "a"}
    return {Path(urlsplit(href).path).name for href in links if "papers/" in href}


def test_a_paper_page_shows_its_approved_summaries_best_first(
    archive: Archive, db: Database
) -> None:
    page = archive.directory / f"papers/{REAL_NVP}.html"
    sections = [
        int(attrs["id"].removeprefix("summary-"))
        for tag, attrs in _parse(page).tags
        if tag == "section" and attrs.get("id", "").startswith("summary-")
    ]
    assert sections == [archive.best_id, archive.hostile_id, archive.seed_id, archive.low_id]
    with db.sessions() as session:
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        stored = [s.id for s, _ in summary_store.approved_for_paper(session, paper.id)]
    assert sections == stored
    text = page.read_text("utf-8")
    assert "PENDING-ONLY" not in text
    assert re.search(r'class="score">7<', text)


def test_an_anonymous_summary_is_shown_as_anonymous_everywhere(archive: Archive) -> None:
    page = (archive.directory / f"papers/{REAL_NVP}.html").read_text("utf-8")
    best = page.split(f'id="summary-{archive.best_id}"', 1)[1].split("</section>", 1)[0]
    assert '<span class="author">Anonymous</span>' in best
    for built in archive.directory.rglob("*"):
        if built.is_file():
            assert "Site Writer 1" not in built.read_text("utf-8"), built
    assert "Site Writer 2" in page


def test_no_script_or_raw_html_from_a_summary_reaches_any_page(archive: Archive) -> None:
    for path in [*_html_pages(archive.directory), archive.directory / "feed.xml"]:
        text = path.read_text("utf-8")
        for tag in ("<script", "<iframe", "<object", "<embed", "<style"):
            assert tag not in text.lower(), (path, tag)
    for path in _html_pages(archive.directory):
        for tag, attrs in _parse(path).tags:
            assert not any(name.startswith("on") for name in attrs), (path, tag, attrs)
            assert "style" not in attrs, (path, tag)
            for name in ("href", "src"):
                if name in attrs:
                    scheme = urlsplit(attrs[name]).scheme
                    assert scheme in ("", "http", "https"), (path, tag, attrs)
            if tag == "img":  # only a summary's figure, in the one form the builder writes
                assert set(attrs) == {"src", "alt", "loading", "decoding", "referrerpolicy"}
                assert urlsplit(attrs["src"]).scheme in ("http", "https"), (path, attrs)
            if tag.startswith("m") and tag != "main" and tag != "meta":
                assert "href" not in attrs
    page = (archive.directory / f"papers/{REAL_NVP}.html").read_text("utf-8")
    assert "&lt;script&gt;alert('tldr')&lt;/script&gt;" in page
    assert "&lt;script&gt;alert('body')&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "![script](javascript:alert(4))" in page  # not an image: shown as written
    assert "![inline](data:image/png;base64,iVBORw0KGgo=)" in page


def test_math_is_mathml_made_at_build_time_and_money_stays_money(archive: Archive) -> None:
    page = (archive.directory / f"papers/{REAL_NVP}.html").read_text("utf-8")
    best = page.split(f'id="summary-{archive.best_id}"', 1)[1].split("</section>", 1)[0]
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in best
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in best
    assert "<mi>log</mi>" in best
    assert "<munder><mo>∑</mo><mi>i</mi></munder>" in best
    assert "Priced at $5 and $10." in best


def test_math_the_converter_cannot_read_is_shown_as_code() -> None:
    assert latex_to_mathml("\\begin{unknownenv}").startswith('<code class="math-source">')
    assert "href" not in latex_to_mathml("\\href{javascript:alert(1)}{x}")
    html = markdown_to_html("[a](JavaScript:alert(1)) [b](mailto:x@y.z) [c](/relative)")
    assert "<a " not in html


def test_index_pages_list_the_right_papers(archive: Archive) -> None:
    site = archive.directory
    assert _papers_listed(site / "years/2016.html") == {
        "1606.04474.html",
        "1606.02960.html",
        f"{REAL_NVP}.html",
    }
    assert _papers_listed(site / "years/2018.html") == {"1810.03292.html"}
    venue = site / paths.venue_page("ICLR 2017")
    assert _papers_listed(venue) == {f"{REAL_NVP}.html"}
    assert _papers_listed(site / "categories/cs.CV.html") == {"1810.03292.html"}
    siren = list(_papers_listed(site / "years/2020.html"))
    assert len(siren) == 1 and siren[0].startswith("bibsonomy-siren-")
    unknown = _papers_listed(site / "years/unknown.html")
    assert unknown == {"2006.09661.html"}  # the hard papers have no year
    years = _parse(site / "years/index.html")
    hrefs = [attrs["href"] for tag, attrs in years.tags if tag == "a" and "main" not in attrs]
    assert [h for h in hrefs if re.fullmatch(r"\.\./years/(\d{4}|unknown)\.html", h)] == [
        "../years/2020.html",
        "../years/2018.html",
        "../years/2016.html",
        "../years/unknown.html",
    ]
    assert _papers_listed(site / "index.html") >= {f"{REAL_NVP}.html", "1606.04474.html"}


def test_every_internal_link_resolves_to_a_built_page_and_anchor(archive: Archive) -> None:
    checked = 0
    for path in _html_pages(archive.directory):
        for tag, attrs in _parse(path).tags:
            href = attrs.get("href") if tag in ("a", "link") else None
            if not href or urlsplit(href).scheme:
                continue
            parts = urlsplit(href)
            target = (path.parent / parts.path).resolve() if parts.path else path
            assert target.is_file(), (path, href)
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in _parse(target).ids, (path, href)
            checked += 1
    assert checked > 50


def test_the_atom_feed_is_valid_atom_with_arxiv_ids(archive: Archive) -> None:
    root = _feed(archive.directory / "feed.xml")
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None, required
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == archive.report.summaries == 10
    ids = set()
    updated = []
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{required}") or "").strip(), required
        assert entry.find(f"{ATOM}author/{ATOM}name") is not None
        assert entry.find(f"{ATOM}link[@rel='alternate']") is not None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated"))
        ids.add(entry.findtext(f"{ATOM}id"))
        updated.append(entry.findtext(f"{ATOM}updated"))
    assert len(ids) == len(entries)
    assert updated == sorted(updated, reverse=True)
    arxiv_ids = {entry.findtext(f"{SHORTSCIENCE}arxivid") for entry in entries}
    assert {REAL_NVP, "1606.04474", "1810.03292"} <= arxiv_ids
    first = entries[0]
    assert first.findtext(f"{SHORTSCIENCE}arxivid") == REAL_NVP
    assert first.find(f"{ATOM}author/{ATOM}name").text == "Anonymous"
    assert "<math" in (first.findtext(f"{ATOM}content") or "")


def test_with_a_site_url_the_feed_uses_absolute_addresses(db: Database, tmp_path: Path) -> None:
    archive = build_archive(db, tmp_path / "site", site_url="https://archive.example.org/ss/")
    root = _feed(archive.directory / "feed.xml")
    assert root.findtext(f"{ATOM}id") == "https://archive.example.org/ss/feed.xml"
    entry = root.findall(f"{ATOM}entry")[0]
    expected = f"https://archive.example.org/ss/papers/{REAL_NVP}.html#summary-{archive.best_id}"
    assert entry.findtext(f"{ATOM}id") == expected
    assert entry.find(f"{ATOM}link[@rel='alternate']").get("href") == expected


def test_page_paths_are_one_scheme_for_every_kind_of_key() -> None:
    assert paths.paper_page(Paper(key="arxiv:1606.04474", arxiv_id="1606.04474")) == (
        "papers/1606.04474.html"
    )
    assert paths.paper_page(Paper(key="arxiv:hep-th/9901001", arxiv_id="hep-th/9901001")) == (
        "papers/hep-th_9901001.html"
    )
    doi = paths.paper_page(Paper(key="doi:10.1145/3292500.3330701"))
    assert re.fullmatch(r"papers/doi-10.1145-3292500.3330701-[0-9a-f]{8}\.html", doi)
    assert paths.paper_page(Paper(key="doi:10.1145/A")) != paths.paper_page(
        Paper(key="doi:10.1145/a")
    )
    assert paths.category_page("cs.LG") == "categories/cs.LG.html"
    assert re.fullmatch(r"venues/neurips-2020-[0-9a-f]{8}\.html", paths.venue_page("NeurIPS 2020"))
    assert paths.summary_url(
        "https://x.org/a/", Paper(key="arxiv:1", arxiv_id="1606.04474"), 3
    ) == ("https://x.org/a/papers/1606.04474.html#summary-3")


def test_the_archive_is_read_in_a_fixed_number_of_queries(db: Database) -> None:
    def count_queries(papers: int) -> int:
        with db.transaction() as session:
            author = summary_store.get_or_create_user(session, "console", f"q{papers}", "Q")
            for number in range(papers):
                paper = upsert(
                    session,
                    PaperData(
                        key=f"arxiv:{2400 + papers}.{number:05d}",
                        title=f"P{number}",
                        arxiv_id=f"{2400 + papers}.{number:05d}",
                        authors=["A", "B"],
                        categories=["cs.LG"],
                    ),
                )
                summary = summary_store.create(session, paper.id, author, "t", "b")
                summary.status = summary.status.APPROVED
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            with db.sessions() as session:
                assert len(approved_archive(session)) >= papers
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(statements)

    few = count_queries(3)
    many = count_queries(40)
    assert many == few <= 4


@pytest.mark.parametrize("kind", ["sqlite"])
def test_the_cli_builds_the_site(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[database]\nurl = 'sqlite:///s.db'\n[publishing]\nsite_url = 'https://a.example/'\n",
        encoding="utf-8",
    )
    db = Database.connect(f"sqlite:///{tmp_path / 's.db'}")
    try:
        from storage import migrate

        migrate.upgrade(db)
        build_archive(db, tmp_path / "ignored")
    finally:
        db.dispose()
    assert main(["--config", str(config), "site", "build", str(tmp_path / "out")]) == 0
    assert "papers" in capsys.readouterr().out
    assert (tmp_path / "out" / f"papers/{REAL_NVP}.html").is_file()
    feed = (tmp_path / "out" / "feed.xml").read_text("utf-8")
    assert "https://a.example/papers/" in feed


def test_the_shipped_site_templates_render_an_empty_archive(db: Database, tmp_path: Path) -> None:
    report = SiteBuilder(db, Templates()).build(tmp_path / "empty")
    assert report.papers == 0
    assert "No summary has been approved yet." in (tmp_path / "empty/index.html").read_text()
    root = _feed(tmp_path / "empty/feed.xml")
    assert root.findall(f"{ATOM}entry") == []


def test_an_overriding_site_template_with_a_misspelt_variable_names_file_and_line(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "mine" / "site").mkdir(parents=True)
    (tmp_path / "mine" / "site" / "home.html.j2").write_text("ok\n{{ sumary_count }}\n")
    with pytest.raises(TemplateProblem) as problem:
        SiteBuilder(db, Templates(tmp_path / "mine")).build(tmp_path / "out")
    assert "site/home.html.j2, line 2" in str(problem.value)


# --- what a hostile run broke (issue 16) ------------------------------------------------------


def test_a_venue_or_category_named_index_keeps_the_list_pages(db: Database, tmp_path: Path) -> None:
    """A venue named `index` was written over venues/index.html, the list of venues."""
    build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        first, second, third = session.scalars(
            select(Paper).where(Paper.arxiv_id.in_(["1606.04474", "1606.02960", "1810.03292"]))
        ).all()
        first.venue = "index"
        second.venue = "Index"  # the same file on a case-insensitive disk
        third.venue = "neurips-1a2b3c4d"  # shaped like the slug of another name
        first.categories.append(PaperCategory(category="index"))
    site = tmp_path / "site"
    report = SiteBuilder(db, Templates()).build(site)
    assert len({page.casefold() for page in report.pages}) == len(report.pages), "overwritten"
    listed = {}
    for kind, heading in (("venues", "By venue"), ("categories", "By category")):
        listing = _parse(site / kind / "index.html")
        assert ("ul", {"class": "groups"}) in listing.tags, f"{kind}/index.html is not the list"
        assert f"<h1>{heading}</h1>" in (site / kind / "index.html").read_text("utf-8")
        listed[kind] = {attrs["href"] for tag, attrs in listing.tags if tag == "a"}
    for venue in ("index", "Index", "neurips-1a2b3c4d"):
        page = paths.venue_page(venue)
        assert f"../{page}" in listed["venues"]
        assert (site / page).is_file()
    assert f"../{paths.category_page('index')}" in listed["categories"]
    assert paths.venue_page("neurips-1a2b3c4d") != "venues/neurips-1a2b3c4d.html"
    assert paths.category_page("index") != "categories/index.html"
    assert paths.category_page("cs.LG") == "categories/cs.LG.html"  # names kept where safe


def test_stored_text_cannot_break_the_feed_or_reverse_a_page(db: Database, tmp_path: Path) -> None:
    """Rows stored before noncharacters, controls and bidirectional controls were refused:
    U+FFFF made feed.xml ill-formed XML, and an override reversed a page's text."""
    archive = build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        best = session.get(Summary, archive.best_id)
        assert best is not None
        best.tldr = "Exact\uffff\x01 likelihood, \u202eby coupling\u202c."
        best.body += "\n\nNot text: \ufffe\U0010ffff, and an \u2067isolated\u2069 \x1b word."
        best.paper.title += " \u202dforced\u202c"
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    root = _feed(site / "feed.xml")  # strict: an ill-formed feed fails here
    entry = root.findall(f"{ATOM}entry")[0]
    assert entry.findtext(f"{SHORTSCIENCE}arxivid") == REAL_NVP
    assert entry.findtext(f"{ATOM}summary") == "Exact likelihood, by coupling."
    controls = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
    for path in site.rglob("*.*"):
        text = path.read_text("utf-8")
        assert not [char for char in controls if char in text], path
    page = (site / f"papers/{REAL_NVP}.html").read_text("utf-8")
    assert "an isolated" in page and " forced" in page
