"""The archive's Atom feed, read by a real feed parser (feedparser) as a feed reader would."""

from __future__ import annotations

import calendar
import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser

from publishers.render.templates import Templates
from publishers.site.builder import FEED_ENTRIES, SiteBuilder
from storage import summaries as summary_store
from storage.database import Database
from storage.models import Paper, Summary, SummaryStatus
from tests.publishers.conftest import NOW
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive, paper_file

SITE_URL = "https://archive.example.org/ss"
NEWEST = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
"""When the newest summary of the built archive was approved (conftest's best one)."""
_PAGE_TITLE = re.compile(r"<title>(.*?) · ShortScience archive</title>")


def _parsed(directory: Path) -> Any:
    """The feed as feedparser reads it; not Atom 1.0, or ill-formed ("bozo"), fails here."""
    feed = feedparser.parse((directory / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def _link(item: Any, rel: str) -> dict[str, str]:
    (found,) = [link for link in item.links if link.rel == rel]
    return found


def _check_entries(feed: Any, directory: Path, base: str) -> None:
    """Each entry: a unique id, its paper's title, a date, and a link to its summary's
    anchor on the paper's page, which is there; newest first."""
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids)
    moments = [calendar.timegm(entry.updated_parsed) for entry in feed.entries]
    assert moments == sorted(moments, reverse=True)
    assert feed.entries[0].updated == feed.feed.updated == NEWEST
    for entry in feed.entries:
        link = _link(entry, "alternate")
        assert link.type == "text/html"
        page, anchor = link.href.removeprefix(base).split("#")
        text = (directory / page).read_text("utf-8")
        assert f'id="{anchor}"' in text
        title = _PAGE_TITLE.search(text)
        assert title is not None and entry.title == html.unescape(title.group(1))
        assert entry.author


def test_with_a_site_url_the_feed_is_atom_with_absolute_addresses(
    db: Database, tmp_path: Path
) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL + "/")
    feed = _parsed(archive.directory)
    assert feed.feed.id == f"{SITE_URL}/feed.xml"
    assert feed.feed.title == "ShortScience archive"
    assert feed.feed.updated == NEWEST
    self = _link(feed.feed, "self")
    assert (self.href, self.type) == (f"{SITE_URL}/feed.xml", "application/atom+xml")
    assert _link(feed.feed, "alternate").href == f"{SITE_URL}/index.html"
    assert len(feed.entries) == archive.report.summaries == 10
    first = feed.entries[0]
    expected = f"{SITE_URL}/{paper_file(REAL_NVP)}#summary-{archive.best_id}"
    assert first.id == _link(first, "alternate").href == expected
    for entry in feed.entries:
        assert _link(entry, "alternate").href.startswith(f"{SITE_URL}/papers/")
    # type="html": a reader gets the summary's HTML with its MathML, and a summary's own
    # markup as text (escaped once more), never as HTML.
    assert first.summary_detail.type == first.content[0].type == "text/html"
    assert first.summary.startswith('Exact <span class="math inline"><math')
    (hostile,) = [e for e in feed.entries if e.id.endswith(f"#summary-{archive.hostile_id}")]
    assert hostile.summary == "&lt;script&gt;alert('tldr')&lt;/script&gt;"
    _check_entries(feed, archive.directory, f"{SITE_URL}/")


def test_without_a_site_url_the_feed_is_atom_with_relative_links(archive: Archive) -> None:
    feed = _parsed(archive.directory)
    assert feed.feed.id == "tag:shortscience-bot,2026:archive"
    assert feed.feed.title == "ShortScience archive"
    # RFC 4287 4.1.1: a feed SHOULD name itself; relative, it resolves against the feed's own
    # address wherever the folder is served.
    assert _link(feed.feed, "self").href == "feed.xml"
    assert _link(feed.feed, "alternate").href == "index.html"
    assert len(feed.entries) == archive.report.summaries == 10
    assert feed.entries[0].id == f"tag:shortscience-bot,2026:summary-{archive.best_id}"
    assert _link(feed.entries[0], "alternate").href == (
        f"{paper_file(REAL_NVP)}#summary-{archive.best_id}"
    )
    _check_entries(feed, archive.directory, "")


def test_the_feed_keeps_the_newest_summaries_only(db: Database, tmp_path: Path) -> None:
    archive = build_archive(db, tmp_path / "site")
    with db.transaction() as session:
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        paper.title = "Real NVP: exact $\\log p(x)$ & <i>more</i>"
        for number in range(FEED_ENTRIES):  # one summary a paper per author
            author = summary_store.get_or_create_user(
                session, "console", f"feed{number}", f"Feed Writer {number}"
            )
            at = NOW + timedelta(minutes=number + 1)
            session.add(
                Summary(
                    paper_id=paper.id,
                    author_id=author.id,
                    tldr=f"Summary {number}",
                    body="Text.",
                    status=SummaryStatus.APPROVED,
                    created_at=at,
                    updated_at=at,
                    approved_at=at,
                )
            )
    SiteBuilder(db, Templates(), clock=lambda: NOW).build(archive.directory)
    feed = feedparser.parse((archive.directory / "feed.xml").read_bytes())
    assert not feed.bozo and feed.version == "atom10"
    assert len(feed.entries) == FEED_ENTRIES
    newest = (NOW + timedelta(minutes=FEED_ENTRIES)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert feed.feed.updated == feed.entries[0].updated == newest
    assert feed.entries[0].title == "Real NVP: exact log p(x) & <i>more</i>"  # math in Unicode
    assert feed.entries[0].title_detail.type == "text/plain"
    assert [entry.author for entry in feed.entries] == [
        f"Feed Writer {number}" for number in reversed(range(FEED_ENTRIES))
    ]  # the older ones left
