"""The archive kept current page by page: after any change and one pass, the folder is
exactly what a full build makes, and the pass wrote only the pages that changed."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.builder import PAGE_SIZE, SiteBuilder
from publishers.site.updater import ArchiveUpdater
from storage import summaries as summary_store
from storage.database import Database
from storage.models import ArchiveChange, Paper, Summary, SummaryStatus, User
from storage.papers import PaperData, upsert
from storage.votes import cast_vote
from tests.publishers.conftest import NOW
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive, paper_file, text_files


def _builder(db: Database) -> SiteBuilder:
    return SiteBuilder(db, Templates(), clock=lambda: NOW, search=False)


def _contents(site: Path) -> dict[str, bytes]:
    files = [*text_files(site), *site.glob("cards/*.png")]
    return {path.relative_to(site).as_posix(): path.read_bytes() for path in files}


def _same_as_a_full_build(db: Database, site: Path, tmp_path: Path) -> None:
    fresh = tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"
    _builder(db).build(fresh)
    kept, built = _contents(site), _contents(fresh)
    assert sorted(kept) == sorted(built), "different files"
    assert [page for page in built if kept[page] != built[page]] == [], "different pages"


@pytest.fixture
def kept(db: Database, tmp_path: Path) -> tuple[Archive, ArchiveUpdater]:
    archive = build_archive(db, tmp_path / "site")
    updater = ArchiveUpdater(_builder(db), archive.directory)
    # The build left the log as it was (it is not the kept folder's own build): the first
    # pass goes through it and finds every page already right.
    first = updater.update()
    assert first.full_build is None and first.changes > 0 and not first.changed
    assert updater.update().changes == 0
    return archive, updater


def _pending(db: Database) -> Summary:
    with db.sessions() as session:
        return session.scalars(select(Summary).where(Summary.status == SummaryStatus.PENDING)).one()


def _approve(db: Database, summary_id: int, at: datetime = NOW) -> None:
    with db.transaction() as session:
        assert summary_store.transition(
            session,
            summary_id,
            expected=[SummaryStatus.PENDING],
            to=SummaryStatus.APPROVED,
            now=at,
            values={"approved_at": at},
        )


def test_an_approval_rewrites_the_paper_its_lists_the_home_page_and_the_feed_only(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    pending = _pending(db)
    _approve(db, pending.id)
    report = updater.update()
    assert report.full_build is None and report.papers == 1
    with db.sessions() as session:
        paper = session.get(Paper, pending.paper_id)
        assert paper is not None
        lists = {paths.year_page(paper.year or 2016)}
        lists |= {paths.venue_page(paper.venue)} if paper.venue else set()
        lists |= {paths.category_page(c) for c in paper.category_names}
        page = paths.paper_page(paper)
    # The paper is already listed: its line (now one summary more) changes in place.
    assert sorted(report.pages_written) == sorted({page, *lists, "index.html", "feed.xml"})
    assert report.pages_removed == []
    assert "PENDING-ONLY" in (archive.directory / page).read_text("utf-8")
    _same_as_a_full_build(db, archive.directory, tmp_path)
    with db.sessions() as session:
        assert session.scalars(select(ArchiveChange)).all() == []  # the log is emptied


def test_after_votes_withdrawals_and_edits_the_folder_is_what_a_full_build_makes(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    with db.transaction() as session:
        voter = summary_store.get_or_create_user(session, "console", "voter", "Voter")
        cast_vote(session, archive.low_id, voter.id, 1, NOW)
    assert updater.update().pages_written
    _same_as_a_full_build(db, archive.directory, tmp_path)

    with db.transaction() as session:  # a vote taken back: the same statement as a delete
        session.execute(
            Summary.__table__.update().values(imported_votes=40).where(Summary.id == archive.low_id)
        )
    updater.update()
    _same_as_a_full_build(db, archive.directory, tmp_path)

    with db.transaction() as session:  # the paper's data changes: title, venue, categories
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == REAL_NVP)).one()
        paper.title = "Density estimation using $\\mathbb R$eal NVP"
        paper.venue = "ICLR 2018"
        paper.year = 2017
    updater.update()
    _same_as_a_full_build(db, archive.directory, tmp_path)

    with db.transaction() as session:  # a writer renames themselves
        writer = session.scalars(select(User).where(User.display_name == "Site Writer 2")).one()
        writer.display_name = "Renamed Writer"
    updater.update()
    assert "Renamed Writer" in (archive.directory / paper_file(REAL_NVP)).read_text()
    _same_as_a_full_build(db, archive.directory, tmp_path)

    with db.transaction() as session:  # every summary of a paper withdrawn: its page goes
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "1606.04474")).one()
        for summary in session.scalars(select(Summary).where(Summary.paper_id == paper.id)):
            summary.status = SummaryStatus.WITHDRAWN
    report = updater.update()
    assert paper_file("1606.04474") in report.pages_removed
    assert not (archive.directory / paper_file("1606.04474")).exists()
    _same_as_a_full_build(db, archive.directory, tmp_path)


def _listed(page: Path) -> list[str]:
    return re.findall(r'href="[./]*papers/[0-9a-f]{2}/([^"]+)\.html"', page.read_text("utf-8"))


def _add_papers(db: Database, numbers: range, *, year: int = 2019, venue: str = "Big") -> None:
    with db.transaction() as session:
        author = summary_store.get_or_create_user(session, "console", "many", "Many")
        for number in numbers:
            paper = upsert(
                session,
                PaperData(
                    key=f"arxiv:1901.{number:05d}",
                    title=f"Paper {number:03d}",
                    arxiv_id=f"1901.{number:05d}",
                    year=year,
                    venue=venue,
                    # dates in another order than the numbers: new papers land mid-list
                    published_at=datetime(year, 1, 1, tzinfo=UTC)
                    + timedelta(hours=number * 37 % 211),
                    categories=["cs.LG", f"cat.{number % 3}"],
                ),
            )
            summary = summary_store.create(session, paper.id, author, "t", f"body {number}")
            summary.status = SummaryStatus.APPROVED
            summary.approved_at = NOW + timedelta(minutes=number)


def test_long_lists_grow_and_shrink_page_by_page(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    # Batches of odd sizes cross the page size several times, up to 199 papers.
    start = 0
    for size in (1, 48, 2, 60, 49, 39):
        _add_papers(db, range(start, start + size))
        start += size
        report = updater.update()
        assert report.full_build is None
        _same_as_a_full_build(db, archive.directory, tmp_path)
    assert (archive.directory / "venues/Big/page-2.html").is_file()  # 199 papers: 99+50+50
    assert not (archive.directory / "venues/Big/page-3.html").exists()
    older = {
        p.relative_to(archive.directory).as_posix(): _listed(p)
        for p in archive.directory.rglob("page-*")
    }
    # One new paper at the top of a long list rewrites no older page; the 200th paper
    # takes the first page past 99, so a third older page appears.
    _add_papers(db, range(500, 501), year=2019)
    with db.transaction() as session:
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "1901.00500")).one()
        paper.published_at = datetime(2019, 12, 31, tzinfo=UTC)
    report = updater.update()
    # Only the newest older pages were written again, for their link to the newer page.
    rewritten = [page for page in report.pages_written if page in older]
    assert rewritten and all(page.endswith("/page-2.html") for page in rewritten), rewritten
    for page, papers in older.items():
        assert _listed(archive.directory / page) == papers, page
    assert "venues/Big/page-3.html" in report.pages_written
    _same_as_a_full_build(db, archive.directory, tmp_path)
    # Withdraw papers from the middle and the end: pages are rewritten and removed.
    with db.transaction() as session:
        for summary in session.scalars(select(Summary).where(Summary.body.like("body 1%"))):
            summary.status = SummaryStatus.WITHDRAWN
    report = updater.update()
    assert report.pages_removed
    _same_as_a_full_build(db, archive.directory, tmp_path)
    assert PAGE_SIZE == 50


def test_a_change_to_many_papers_at_once_is_a_full_build(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, _ = kept
    updater = ArchiveUpdater(_builder(db), archive.directory, full_build_from=5)
    _add_papers(db, range(4))
    assert updater.update().full_build is None
    _add_papers(db, range(10, 15))  # an import: five papers in one pass
    report = updater.update()
    assert report.full_build is not None and report.full_build.papers >= 15
    with db.sessions() as session:
        assert session.scalars(select(ArchiveChange)).all() == []  # the build took them up
    _same_as_a_full_build(db, archive.directory, tmp_path)


def test_a_folder_of_an_older_layout_is_built_again_whole(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    # A folder built before paper pages had their own folders: flat pages, another
    # fingerprint. A pass must not write the new pages beside the old ones.
    state = archive.directory / ".shortscience/state.json"
    state.write_text(state.read_text("utf-8").replace('"fingerprint": "', '"fingerprint": "0'))
    old_page = archive.directory / f"papers/{REAL_NVP}.html"
    old_page.write_text("<p>the page of the old layout</p>", "utf-8")
    report = updater.update()
    assert report.full_build is not None
    assert not old_page.exists()
    assert updater.builder.is_current(archive.directory)
    _same_as_a_full_build(db, archive.directory, tmp_path)


def test_a_pass_waits_its_turn_when_another_process_writes_the_folder(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    from storage.leader import ArchiveLock

    other = ArchiveLock(db)
    assert other.acquire(wait=False)
    try:
        _approve(db, _pending(db).id)
        report = updater.update()
        assert report.skipped and not report.changed
    finally:
        other.release()
    assert updater.update().pages_written
    _same_as_a_full_build(db, archive.directory, tmp_path)


def test_a_reader_never_sees_part_of_a_page(
    db: Database, tmp_path: Path, kept: tuple[Archive, ArchiveUpdater]
) -> None:
    archive, updater = kept
    pages = [archive.directory / "index.html", archive.directory / paper_file(REAL_NVP)]
    stop = threading.Event()
    seen: list[str] = []
    broken: list[str] = []

    def read() -> None:
        while not stop.is_set():
            for page in pages:
                text = page.read_text("utf-8")
                seen.append(text[-8:])
                if not text.endswith("</html>\n"):
                    broken.append(text[-200:])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with db.transaction() as session:
            voter = summary_store.get_or_create_user(session, "console", "voter", "Voter")
        for round_ in range(40):
            with db.transaction() as session:
                cast_vote(session, archive.best_id, voter.id, 1 if round_ % 2 else -1, NOW)
                session.execute(
                    Summary.__table__.update()
                    .values(approved_at=NOW + timedelta(seconds=round_))
                    .where(Summary.id == archive.best_id)
                )
            assert updater.update().pages_written
    finally:
        stop.set()
        reader.join()
    assert len(seen) > 100 and broken == []


def test_a_build_on_worker_processes_writes_what_one_process_writes(
    db: Database,
    tmp_path: Path,
    kept: tuple[Archive, ArchiveUpdater],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from publishers.site import builder

    _add_papers(db, range(120))
    # Batches of 7 papers: 18 tasks, handed to the workers while the ranges are still read.
    monkeypatch.setattr(builder, "BATCH", 7)
    alone = SiteBuilder(db, Templates(), clock=lambda: NOW, search=False, workers=0)
    shared = SiteBuilder(db, Templates(), clock=lambda: NOW, search=False, workers=2)
    assert alone.build(tmp_path / "alone").page_count == shared.build(tmp_path / "two").page_count
    assert _contents(tmp_path / "alone") == _contents(tmp_path / "two")


def test_a_worker_that_dies_fails_the_build_instead_of_hanging(
    db: Database,
    tmp_path: Path,
    kept: tuple[Archive, ArchiveUpdater],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from publishers.site import builder

    # A worker killed mid-build (by the out-of-memory killer, say): its task never returns.
    monkeypatch.setattr(builder, "_papers_task", _die)
    with pytest.raises(BrokenProcessPool):
        SiteBuilder(db, Templates(), search=False, workers=1).build(tmp_path / "broken")
    assert not (tmp_path / "broken/.shortscience/state.json").exists()  # built again next time


def _die(span: tuple[int, int]) -> None:
    import os

    os._exit(9)
