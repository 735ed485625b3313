"""The archive without a browser: safe HTML, best first, Anonymous, indexes, links, Atom."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from sqlalchemy import event, select

from bench.fill import arxiv_id
from bot.cli import main
from publishers.render.templates import TemplateProblem, Templates
from publishers.site import builder, paths
from publishers.site.builder import PAGE_SIZE, SiteBuilder
from publishers.site.html import FIGURE_ALT, latex_to_mathml, markdown_to_html
from storage import summaries as summary_store
from storage.archive import approved_archive, load_papers, load_range
from storage.database import Database
from storage.models import Paper, PaperCategory, Summary, SummaryStatus, Vote
from storage.papers import PaperData, upsert
from tests.publishers.conftest import NOW
from tests.publishers.site.conftest import (
    FIGURE,
    IMGUR,
    REAL_NVP,
    Archive,
    build_archive,
    paper_file,
    text_files,
)

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
    page = archive.directory / paper_file(REAL_NVP)
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
    page = (archive.directory / paper_file(REAL_NVP)).read_text("utf-8")
    best = page.split(f'id="summary-{archive.best_id}"', 1)[1].split("</section>", 1)[0]
    assert '<span class="author">Anonymous</span>' in best
    for built in text_files(archive.directory):
        assert "Site Writer 1" not in built.read_text("utf-8"), built
    assert "Site Writer 2" in page


def test_no_script_or_raw_html_from_a_summary_reaches_any_page(archive: Archive) -> None:
    search = archive.directory / "search.html"  # runs Pagefind's own script, and no summary
    pages = [page for page in _html_pages(archive.directory) if page != search]
    for path in [*pages, archive.directory / "feed.xml"]:
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
    page = (archive.directory / paper_file(REAL_NVP)).read_text("utf-8")
    assert "&lt;script&gt;alert('tldr')&lt;/script&gt;" in page
    assert "&lt;script&gt;alert('body')&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "![script](javascript:alert(4))" in page  # not an image: shown as written
    assert "![inline](data:image/png;base64,iVBORw0KGgo=)" in page


def test_math_is_mathml_made_at_build_time_and_money_stays_money(archive: Archive) -> None:
    page = (archive.directory / paper_file(REAL_NVP)).read_text("utf-8")
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
    expected = f"https://archive.example.org/ss/{paper_file(REAL_NVP)}#summary-{archive.best_id}"
    assert entry.findtext(f"{ATOM}id") == expected
    assert entry.find(f"{ATOM}link[@rel='alternate']").get("href") == expected


def test_page_paths_are_one_scheme_for_every_kind_of_key() -> None:
    assert paths.paper_page(Paper(key="arxiv:1606.04474", arxiv_id="1606.04474")) == (
        paper_file("1606.04474")
    )
    assert paths.paper_page(Paper(key="arxiv:hep-th/9901001", arxiv_id="hep-th/9901001")) == (
        paper_file("hep-th_9901001")
    )
    doi = paths.paper_page(Paper(key="doi:10.1145/3292500.3330701"))
    assert re.fullmatch(r"papers/[0-9a-f]{2}/doi-10.1145-3292500.3330701-[0-9a-f]{8}\.html", doi)
    assert doi == paper_file(Path(doi).stem)
    assert paths.paper_page(Paper(key="doi:10.1145/A")) != paths.paper_page(
        Paper(key="doi:10.1145/a")
    )
    assert paths.category_page("cs.LG") == "categories/cs.LG.html"
    assert re.fullmatch(r"venues/neurips-2020-[0-9a-f]{8}\.html", paths.venue_page("NeurIPS 2020"))
    assert paths.summary_url(
        "https://x.org/a/", Paper(key="arxiv:1", arxiv_id="1606.04474"), 3
    ) == (f"https://x.org/a/{paper_file('1606.04474')}#summary-3")


def test_paper_pages_are_spread_over_256_folders() -> None:
    folders = Counter(
        paths.paper_page(Paper(key=f"arxiv:{arxiv_id(n)}", arxiv_id=arxiv_id(n))).split("/")[1]
        for n in range(25_600)
    )
    assert set(folders) == {f"{n:02x}" for n in range(256)}
    assert max(folders.values()) < 2 * min(folders.values())


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
    assert many == few <= 8  # per batch of papers: ids, summaries, votes, authors, ...


def test_a_range_of_paper_ids_reads_what_the_list_of_its_ids_reads(db: Database) -> None:
    # A build's worker reads its batch by a range of ids and checks each summary's status
    # itself: papers in the range with no approved summary, and summaries pending, rejected
    # or withdrawn, are left out as the list of ids leaves them out; votes count.
    statuses = [
        [SummaryStatus.APPROVED, SummaryStatus.PENDING],
        [SummaryStatus.PENDING],
        [SummaryStatus.REJECTED, SummaryStatus.APPROVED, SummaryStatus.WITHDRAWN],
        [SummaryStatus.REJECTED],
        [SummaryStatus.APPROVED, SummaryStatus.APPROVED],
    ]
    with db.transaction() as session:
        voters = [
            summary_store.get_or_create_user(session, "console", f"v{n}", "V") for n in (1, 2)
        ]
        ids = []
        for number, kinds in enumerate(statuses):
            paper = upsert(
                session,
                PaperData(
                    key=f"arxiv:2402.{number:05d}",
                    title=f"P{number}",
                    arxiv_id=f"2402.{number:05d}",
                    authors=["A", f"B{number}"],
                    categories=["cs.LG", "stat.ML"][: 1 + number % 2],
                ),
            )
            ids.append(paper.id)
            for writer, status in enumerate(kinds):
                author = summary_store.get_or_create_user(session, "console", f"w{writer}", "W")
                summary = summary_store.create(session, paper.id, author, "t", f"b{writer}")
                summary.status = status
                session.flush()
                for voter in voters[: writer + 1]:  # the first writer -1, the second -2
                    session.add(Vote(summary_id=summary.id, user_id=voter.id, value=-1))
    with db.engine.connect() as connection:
        by_range = load_range(connection, ids[0], ids[-1])
        by_list = load_papers(connection, ids)
    assert by_range == by_list
    assert [one.paper.id for one in by_range] == [ids[0], ids[2], ids[4]]
    shown = {one.paper.id: [(s.summary.body, s.score) for s in one.summaries] for one in by_range}
    assert shown[ids[2]] == [("b1", -2)]
    assert shown[ids[4]] == [("b0", -1), ("b1", -2)]  # best first
    assert by_range[1].paper.author_names == ("A", "B2")
    assert by_range[1].paper.category_names == ("cs.LG",)


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
    assert (tmp_path / "out" / paper_file(REAL_NVP)).is_file()
    feed = (tmp_path / "out" / "feed.xml").read_text("utf-8")
    assert "https://a.example/papers/" in feed
    assert (tmp_path / "out/pagefind/shards.json").is_file()
    # A big archive can be built without its search index (Pagefind's memory), by the
    # flag or by the config.
    assert (
        main(["--config", str(config), "site", "build", str(tmp_path / "bare"), "--no-search"]) == 0
    )
    assert (tmp_path / "bare/index.html").is_file() and not (tmp_path / "bare/pagefind").exists()
    config.write_text(config.read_text("utf-8") + "[site]\nsearch = false\n", encoding="utf-8")
    assert main(["--config", str(config), "site", "build", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain/pagefind").exists()


def test_the_shipped_site_templates_render_an_empty_archive(db: Database, tmp_path: Path) -> None:
    report = SiteBuilder(db, Templates()).build(tmp_path / "empty")
    assert report.papers == 0
    assert "No summary has been approved yet." in (tmp_path / "empty/index.html").read_text()
    for page in _html_pages(tmp_path / "empty"):  # no link to a list with nothing in it
        assert not [h for h in _links(page) if re.search(r"(years|venues|categories)/", h)]
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
    written = text_files(site)
    assert len({str(page).casefold() for page in written}) == report.page_count, "overwritten"
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
    for path in text_files(site):
        text = path.read_text("utf-8")
        assert not [char for char in controls if char in text], path
    page = (site / paper_file(REAL_NVP)).read_text("utf-8")
    assert "an isolated" in page and " forced" in page


# --- a complete paper page, lists newest first (issue 19 item 3) -----------------------------


def _element_text(path: Path, css_class: str) -> str:
    """The text of the first ``<p class=...>`` of a page, tags removed, spaces as written."""
    found = re.search(rf'<p class="{css_class}"[^>]*>(.*?)</p>', path.read_text("utf-8"), re.S)
    assert found is not None, (path, css_class)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def _links(path: Path) -> list[str]:
    return [attrs["href"] for tag, attrs in _parse(path).tags if tag == "a" and "href" in attrs]


def test_a_paper_page_names_every_author_venue_and_year_and_links_its_abstract_page_and_pdf(
    archive: Archive,
) -> None:
    learning = archive.directory / paper_file("1606.04474")
    authors = _element_text(learning, "authors")
    assert authors.endswith("David Pfau, Tom Schaul, Nando de Freitas"), authors
    assert "more" not in authors
    listed = (archive.directory / "years/2016.html").read_text("utf-8")
    assert "Tom Schaul, Nando de Freitas</span>" in listed  # a list says "and 1 more" nowhere
    real_nvp = archive.directory / paper_file(REAL_NVP)
    assert _element_text(real_nvp, "meta") == f"ICLR 2017 · 2016 · arXiv:{REAL_NVP}"
    assert _element_text(learning, "meta") == "2016 · arXiv:1606.04474"
    for page in _html_pages(archive.directory):
        text = re.sub(r"<[^>]+>", "", page.read_text("utf-8"))
        assert not re.search(r"\S·|·[^\s]", text), page  # a dot always between two spaces
    links = _links(real_nvp)
    assert f"https://arxiv.org/abs/{REAL_NVP}" in links
    assert f"https://arxiv.org/pdf/{REAL_NVP}" in links
    assert f"../../{paths.venue_page('ICLR 2017')}" in links
    assert "../../years/2016.html" in links and "../../categories/cs.LG.html" in links


def test_a_paper_page_shows_its_abstract_with_math_and_addresses_as_links(
    db: Database, tmp_path: Path
) -> None:
    build_archive(db, tmp_path / "first")
    page = (tmp_path / "first" / paper_file(REAL_NVP)).read_text("utf-8")
    assert '<h2 id="abstract">Abstract</h2>' in page
    assert "Unsupervised learning of probabilistic models is a central yet" in page
    with db.transaction() as session:
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        paper.abstract = "Sampling in\n  $\\mathcal{O}(n)$ time. Code: https://github.com/x/y"
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    abstract = (site / paper_file(REAL_NVP)).read_text("utf-8").split('id="abstract"')[1]
    abstract = abstract.split("</section>")[0]
    assert 'Sampling in <span class="math inline"><math ' in abstract  # one line, math
    assert '<a href="https://github.com/x/y" rel="nofollow noopener">' in abstract
    with db.transaction() as session:
        session.query(Paper).filter_by(arxiv_id=REAL_NVP).one().abstract = ""
    SiteBuilder(db, Templates()).build(site)
    assert 'id="abstract"' not in (site / paper_file(REAL_NVP)).read_text("utf-8")


def test_a_paper_without_an_arxiv_id_links_its_stored_address_and_its_doi(
    db: Database, tmp_path: Path
) -> None:
    build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        siren = session.query(Paper).filter_by(key="bibsonomy:siren").one()
        siren.doi = "10.5555/3495724.3496350"
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    page = next(site.glob("papers/*/bibsonomy-siren-*.html"))
    assert _element_text(page, "links") == (
        "The paper at www.bibsonomy.org · DOI 10.5555/3495724.3496350"
    )
    assert re.findall(r'href="([^"]+)"', page.read_text("utf-8").split('class="links"')[1])[:2] == [
        "https://www.bibsonomy.org/bibtex/siren",
        "https://doi.org/10.5555/3495724.3496350",
    ]
    with db.transaction() as session:
        siren = session.query(Paper).filter_by(key="bibsonomy:siren").one()
        siren.url, siren.doi = "https://example.org/siren.pdf", None
    SiteBuilder(db, Templates()).build(site)
    assert _element_text(page, "links") == "PDF"


def test_a_summarys_figures_are_lazy_images_with_alt_text_from_http_addresses_only(
    archive: Archive,
) -> None:
    page = archive.directory / paper_file(REAL_NVP)
    images = [attrs for tag, attrs in _parse(page).tags if tag == "img"]
    assert {"src": FIGURE, "alt": "Samples", "loading": "lazy"}.items() <= images[-1].items()
    assert [image["alt"] for image in images] == ["tracker", "Samples"]

    def figures(markdown: str) -> list[dict[str, str]]:
        page = _Page()
        page.feed(markdown_to_html(markdown, archive=True))
        return [attrs for tag, attrs in page.tags if tag == "img"]

    bare = figures(f"The graph:\n\n{IMGUR}\n\nIts caption.")
    assert bare == [
        {
            "src": IMGUR,
            "alt": FIGURE_ALT,
            "loading": "lazy",
            "decoding": "async",
            "referrerpolicy": "no-referrer",
        }
    ]
    assert figures(f"The graph:\n{IMGUR}\nIts caption.")[0]["src"] == IMGUR  # its own line
    assert figures(f"<{IMGUR}>")[0]["src"] == IMGUR
    assert figures("![](https://example.org/plot)")[0]["alt"] == FIGURE_ALT
    assert figures(f"See {IMGUR} for the graph.") == []  # inside a sentence: text
    assert figures("https://example.org/paper.html") == []  # not an image
    for hostile in (
        "javascript:alert(1)//x.png",
        "data:image/png;base64,iVBORw0KGgo=.png",
        "![x](javascript:alert(1))",
        "![x](data:image/svg+xml;base64,PHN2Zz4=)",
        "![x](//example.org/x.png)",
        "![x](file:///etc/x.png)",
    ):
        assert figures(hostile) == [], hostile
        shown = markdown_to_html(hostile, archive=True)
        assert 'href="javascript' not in shown and 'href="data' not in shown, shown
    # Digests, e-mail and the outbox page keep showing an image as a link to it.
    assert "<img" not in markdown_to_html(f"{IMGUR}\n\n![a](https://x.org/a.png)", bare_urls=True)


def test_a_summarys_headings_sit_below_the_pages_own_on_every_page(archive: Archive) -> None:
    for page in _html_pages(archive.directory):
        levels = [int(tag[1]) for tag, _ in _parse(page).tags if re.fullmatch(r"h[1-6]", tag)]
        assert levels[0] == 1 and levels.count(1) == 1, (page, levels)
        assert all(b <= a + 1 for a, b in pairwise(levels)), (page, levels)
    page = (archive.directory / paper_file("1606.04474")).read_text("utf-8")
    assert "<h3>Very Short The authors propose" in page  # the seed's "# Very Short ..."


def _listed_items(path: Path) -> int:
    return sum(1 for tag, _ in _parse(path).tags if tag == "li")


def test_no_page_links_to_an_empty_list(db: Database, tmp_path: Path) -> None:
    build_archive(db, tmp_path / "first")
    with db.transaction() as session:
        session.query(Paper).update({Paper.venue: None})
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    assert (site / "venues/index.html").is_file()  # still there for an old bookmark, but
    for page in _html_pages(site):
        for href in _links(page):
            if urlsplit(href).scheme:
                continue
            target = (page.parent / urlsplit(href).path).resolve()
            if target.parent.name in ("years", "venues", "categories"):
                assert _listed_items(target) > 0, (page, href)
        assert "venues/index.html" not in page.read_text("utf-8"), page
    assert _element_text(site / "index.html", "browse") == "Browse the years (4) or categories (7)."


def _papers_of_2019(db: Database, count: int, age: Callable[[int], int]) -> None:
    """``count`` summarised papers of 2019, in cs.LG, paper ``n`` published ``age(n)`` hours
    into the year."""
    with db.transaction() as session:
        author = summary_store.get_or_create_user(session, "console", "many", "Many")
        for number in range(count):
            paper = upsert(
                session,
                PaperData(
                    key=f"arxiv:1901.{number:05d}",
                    title=f"Paper {number:03d}",
                    arxiv_id=f"1901.{number:05d}",
                    year=2019,
                    # dates in another order than the titles: 37 and count share no factor
                    published_at=datetime(2019, 1, 1, tzinfo=UTC) + timedelta(hours=age(number)),
                    categories=["cs.LG"],
                ),
            )
            summary = summary_store.create(session, paper.id, author, "t", "b")
            summary.status = summary.status.APPROVED


def test_lists_are_newest_first_and_cut_into_pages_with_links_between_them(
    db: Database, tmp_path: Path
) -> None:
    count = PAGE_SIZE * 3 + 20  # a first page of 70, then two older pages of 50

    def age(number: int) -> int:
        return number * 37 % count

    _papers_of_2019(db, count, age)
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    # Older pages are numbered from the oldest, so they keep their papers when new ones come.
    pages = [
        site / "years/2019.html",
        site / "years/2019/page-2.html",
        site / "years/2019/page-1.html",
    ]
    assert not (site / "years/2019/page-3.html").exists()
    shown = [
        re.findall(r">Paper (\d{3})</a>", page.read_text("utf-8"))  # in the page's order
        for page in pages
    ]
    assert [len(titles) for titles in shown] == [PAGE_SIZE + 20, PAGE_SIZE, PAGE_SIZE]
    every = [int(number) for titles in shown for number in titles]
    assert every == sorted(range(count), key=age, reverse=True), "not newest first"
    for tag in ("link", "a"):  # in the head for browsers, in the page for people
        rels = {
            attrs["rel"]: attrs["href"]
            for name, attrs in _parse(pages[1]).tags
            if name == tag and attrs.get("rel") in ("prev", "next")
        }
        assert rels == {"prev": "../../years/2019.html", "next": "../../years/2019/page-1.html"}
    assert 'rel="prev"' not in pages[0].read_text("utf-8")
    assert 'rel="next"' not in pages[2].read_text("utf-8")
    assert "170 papers, newest first" in pages[0].read_text("utf-8")
    assert "page 2, counting from the oldest" in pages[1].read_text("utf-8")
    newest = sorted(range(count), key=age, reverse=True)[: PAGE_SIZE + 20]
    assert _papers_listed(site / "categories/cs.LG.html") == {
        f"1901.{number:05d}.html" for number in newest
    }


def test_a_long_list_written_in_many_tasks_is_the_list_written_in_one(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A build hands a long list's pages to its workers in tasks of GROUP_TASK_PAGES: each
    # task must start where the one before stopped, at any cut.
    count = PAGE_SIZE * 5 + 7  # a first page of 57, then four older pages
    _papers_of_2019(db, count, lambda number: number * 37 % count)
    SiteBuilder(db, Templates()).build(whole := tmp_path / "whole")
    monkeypatch.setattr(builder, "GROUP_TASK_PAGES", 2)
    SiteBuilder(db, Templates()).build(cut := tmp_path / "cut")
    lists = sorted(p.relative_to(whole) for p in (whole / "years").rglob("*.html"))
    assert len(lists) == 6  # the year's five pages and the list of years
    for folder in ("years", "categories"):
        for page in (whole / folder).rglob("*.html"):
            assert (cut / page.relative_to(whole)).read_bytes() == page.read_bytes(), page
        assert len(list((cut / folder).rglob("*.html"))) == len(
            list((whole / folder).rglob("*.html"))
        )


def test_list_pages_are_the_pages_a_template_writing_line_by_line_makes(
    db: Database, tmp_path: Path
) -> None:
    # The shipped template places a page's lines in one piece (lines_html), rendered around
    # a stand-in and cleaned apart from them; an override written for ``lines`` still works,
    # and both make the same bytes, at both depths, with stored text that needs cleaning.
    build_archive(db, tmp_path / "first")
    _papers_of_2019(db, PAGE_SIZE * 2 + 3, lambda number: number * 37 % (PAGE_SIZE * 2 + 3))
    with db.transaction() as session:
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        paper.title += " \u202dforced\u202c"
        paper.venue = "ICLR \u2067 2017"
    shipped = Templates().source("site/group.html.j2")
    line_by_line = shipped.replace(
        "{{ lines_html }}</ul>", "{% for line in lines %}\n{{ line }}\n{% endfor %}\n</ul>"
    )
    assert line_by_line != shipped
    (tmp_path / "templates/site").mkdir(parents=True)
    (tmp_path / "templates/site/group.html.j2").write_text(line_by_line, "utf-8")
    SiteBuilder(db, Templates()).build(site := tmp_path / "site")
    SiteBuilder(db, Templates(tmp_path / "templates")).build(other := tmp_path / "other")
    lists = [
        page
        for folder in ("years", "venues", "categories")
        for page in sorted((site / folder).rglob("*.html"))
    ]
    assert site / "years/2019/page-1.html" in lists
    assert len(lists) == sum(1 for _ in other.glob("[yvc]*/**/*.html"))
    for page in lists:
        assert (other / page.relative_to(site)).read_bytes() == page.read_bytes(), page
    venue = next((site / "venues").glob("iclr*.html")).read_text("utf-8")
    assert "ICLR  2017" in venue and " forced" in venue


def test_the_header_rendered_once_a_depth_is_the_header_each_page_renders(
    db: Database, tmp_path: Path
) -> None:
    # base.html.j2 is given the site's header made once for each depth (site_header); a
    # base that writes the header itself, as one written before it did, makes every page
    # the same, at each depth (home, lists, older list pages, paper pages).
    build_archive(db, tmp_path / "first")
    _papers_of_2019(db, PAGE_SIZE * 2, lambda number: number)
    templates = Templates()
    header = templates.source("site/_header.html.j2").split("#}\n", 1)[1]
    inline = templates.source("site/base.html.j2").replace("{{ site_header }}\n", header)
    assert "site_header" not in inline and '<nav aria-label="Archive">' in inline
    (tmp_path / "templates/site").mkdir(parents=True)
    (tmp_path / "templates/site/base.html.j2").write_text(inline, "utf-8")
    # One clock for both: the feed says when it was built, and two builds may straddle a second.
    SiteBuilder(db, templates, title="A & B", clock=lambda: NOW).build(site := tmp_path / "site")
    SiteBuilder(db, Templates(tmp_path / "templates"), title="A & B", clock=lambda: NOW).build(
        other := tmp_path / "o"
    )
    pages = text_files(site)
    assert {page.relative_to(site).parts[0] for page in pages} >= {"index.html", "papers", "years"}
    assert site / "years/2019/page-1.html" in pages
    assert [page.relative_to(site) for page in pages] == [
        p.relative_to(other) for p in text_files(other)
    ]
    for page in pages:
        assert (other / page.relative_to(site)).read_bytes() == page.read_bytes(), page
    assert '<a class="home" href="../../index.html">A &amp; B</a>' in (
        site / paper_file(REAL_NVP)
    ).read_text("utf-8")


def test_a_year_lists_its_papers_by_date_of_appearance(archive: Archive) -> None:
    year = (archive.directory / "years/2016.html").read_text()
    listed = re.findall(r'href="\.\./papers/[0-9a-f]{2}/([^"]+)\.html"', year)
    assert listed == ["1606.04474", "1606.02960", REAL_NVP]  # June 14, June 9, May 27


def test_the_pages_of_a_long_list_never_meet_another_groups_page() -> None:
    assert paths.older_page("years/2016.html", 1) == "years/2016/page-1.html"
    assert paths.older_page(paths.venue_page("ICLR"), 3) == "venues/ICLR/page-3.html"
    # the folder of a venue named "ICLR.html" would be the page of the venue "ICLR"
    assert paths.venue_page("ICLR.html") != "venues/ICLR.html.html"
    assert paths.older_page(paths.venue_page("ICLR.html"), 2).startswith("venues/iclr.html-")


def test_a_build_over_a_built_folder_removes_the_old_pages_and_nothing_else(
    archive: Archive, db: Database, tmp_path: Path
) -> None:
    """The operator's case: the new pages are swapped in, then the old generation is
    removed (side by side, :data:`publishers.site.files.REMOVERS` at a time) before the
    build returns; what the folders link to from outside them is not followed."""
    site = archive.directory
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "keep.html").write_text("kept", "utf-8")
    old = [
        site / "papers/00/gone.html",  # a paper no longer in the archive
        site / "papers/zz/deeper/gone.html",  # folders below the folders removed side by side
        site / "years/1900/page-1.html",
        site / "venues/gone.html",
    ]
    for page in old:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("an old page", "utf-8")
    (site / "papers/00/link").symlink_to(outside)
    (site / "years/link").symlink_to(outside / "inner")
    before = {path: path.read_bytes() for path in text_files(site) if path not in old}

    report = SiteBuilder(db, Templates(), clock=lambda: NOW).build(site)

    assert [page for page in old if page.exists()] == []
    assert not (site / "papers/00/link").exists() and not (site / "years/link").exists()
    assert (outside / "inner" / "keep.html").read_text("utf-8") == "kept"
    assert list(site.glob(f"{builder.STAGING_PREFIX}*")) == []
    assert {path: path.read_bytes() for path in text_files(site)} == before
    assert report.seconds > 0 and report.retired_seconds > 0


def test_only_a_build_worker_process_sets_its_collector_for_one_build(
    db: Database, tmp_path: Path
) -> None:
    """A worker process's start-up objects are frozen out of the collector's walks and its
    young collections are rarer; a build in the service's own process leaves its collector
    as Python sets it."""
    import gc

    threshold = gc.get_threshold()
    SiteBuilder(db, Templates(), search=False, workers=0).build(tmp_path / "site")
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0

    settings = builder.BuildSettings(
        database_url=db.url.render_as_string(hide_password=False),
        templates_dir=None,
        site_url=None,
        title="ShortScience archive",
        directory=str(tmp_path / "site"),
        staging=str(tmp_path / "staging"),
        listings=str(tmp_path / "listings.sqlite"),
        sections=(True, True, True),
    )
    try:
        builder._start_worker(settings)  # what each worker process runs first
        assert gc.get_threshold()[0] == builder.WORKER_GC_THRESHOLD > threshold[0]
        assert gc.get_freeze_count() > 0
    finally:
        builder._worker().close()
        builder._WORKER = None
        gc.unfreeze()
        gc.set_threshold(*threshold)
