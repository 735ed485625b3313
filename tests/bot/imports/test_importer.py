"""Importing ShortScience.org's RSS and CSV exports and our own JSON, on real databases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.commands.context import CommandContext
from bot.commands.papers import summary as summary_command
from bot.config import LimitSettings
from bot.imports.entries import ELLIPSIS, Entry, derive_tldr
from bot.imports.exporter import export_file
from bot.imports.importer import Importer, ImportReport, UnreadableFile, read_entries
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView, RateLimiter
from bot.papers.lookups import PaperLookups
from storage import imports as import_store
from storage import migrate
from storage import summaries as summary_store
from storage.database import Database
from storage.imports import AuthorRecord, SummaryRecord
from storage.models import (
    ModerationAction,
    ModerationEvent,
    Paper,
    SearchDocument,
    Summary,
    SummaryStatus,
    User,
)
from storage.votes import cast_vote
from tests.servers.arxiv_server import FakeArxiv

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "shortscience" / "rss-full.xml"
OPERATOR = AuthorRecord("console", "operator", "operator")
VOTES = {
    "arxiv:1606.04474": 2,
    "arxiv:1606.02960": 3,
    "arxiv:1810.03292": 4,
    "sitzmann2020implicit": 5,
    "arxiv:1605.08803": 6,
}


def rss_text() -> str:
    """The fixture as collected from ShortScience.org's export layout (see its README)."""
    return FIXTURE.read_text(encoding="utf-8")


def importer(lookups: PaperLookups, **options: bool) -> Importer:
    return Importer(lookups, LimitSettings(), operator=OPERATOR, **options)


def counts(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Summary, Paper, User, ModerationEvent, SearchDocument)
        }


def approved(db: Database) -> dict[str, list[tuple[str, bool, int, str]]]:
    """Each paper key's approved summaries: byline, anonymity, score, body start."""
    with db.sessions() as session:
        result = {}
        for paper in session.scalars(select(Paper).order_by(Paper.key)):
            rows = summary_store.approved_for_paper(session, paper.id)
            result[paper.key] = [(s.byline, s.anonymous, score, s.body[:30]) for s, score in rows]
        return result


def test_the_fixture_imports_as_its_five_summaries(db: Database, lookups: PaperLookups) -> None:
    report = importer(lookups).import_text(rss_text(), "rss-full.xml")
    assert (report.imported, report.skipped, report.present) == (5, 0, 0)
    assert report.closing_line() == "imported 5, skipped 0, already present 0"
    summaries = approved(db)
    assert {key: rows[0][2] for key, rows in summaries.items()} == VOTES
    assert summaries["arxiv:1606.04474"][0][:2] == ("Anonymous", True)
    assert summaries["arxiv:1606.02960"][0][:2] == ("wiseman_reader", False)
    with db.sessions() as session:
        papers = {paper.key: paper for paper in session.scalars(select(Paper))}
        # Fetched from (the local) arXiv: authors and abstract, not just the file's title.
        assert papers["arxiv:1605.08803"].author_names
        assert papers["arxiv:1605.08803"].fetched_at is not None
        assert papers["sitzmann2020implicit"].title == (
            "Implicit Neural Representations with Periodic Activation Functions"
        )
        assert papers["sitzmann2020implicit"].arxiv_id is None
        anonymous = session.scalars(select(Summary).where(Summary.anonymous)).one()
        assert anonymous.created_at == datetime(2020, 3, 1, 12, tzinfo=UTC)
        assert anonymous.approved_at == datetime(2020, 3, 1, 12, tzinfo=UTC)
        assert anonymous.author.platform == "shortscience"
        assert anonymous.import_key.startswith("shortscience.org:")
        assert anonymous.tldr.startswith("Very Short The authors propose learning an optimizer")
        events = session.scalars(
            select(ModerationEvent).where(ModerationEvent.summary_id == anonymous.id)
        ).all()
        assert [(event.action, event.actor.external_id) for event in events] == [
            (ModerationAction.SUBMITTED, anonymous.author.external_id),
            (ModerationAction.APPROVED, "operator"),
        ]
        assert anonymous.moderated_by is not None
        assert anonymous.moderated_by.external_id == "operator"


def test_the_papers_come_in_one_batch(
    db: Database, lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    importer(lookups).import_text(rss_text(), "rss-full.xml")
    assert arxiv_server.request_count == 1
    ids = arxiv_server.requests[0]["id_list"].split(",")
    assert sorted(ids) == ["1605.08803", "1606.02960", "1606.04474", "1810.03292"]


def test_importing_twice_changes_nothing(
    db: Database, lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    importer(lookups).import_text(rss_text(), "rss-full.xml")
    before, requests = counts(db), arxiv_server.request_count
    report = importer(lookups).import_text(rss_text(), "rss-full.xml")
    assert report.closing_line() == "imported 0, skipped 0, already present 5"
    assert counts(db) == before
    assert arxiv_server.request_count == requests


async def test_summary_shows_the_community_summaries(
    ctx: CommandContext, lookups: PaperLookups
) -> None:
    importer(lookups).import_text(rss_text(), "rss-full.xml")
    reply = await summary_command(ctx, "1606.04474")
    assert reply.title == "Learning to learn by gradient descent by gradient descent"
    [section] = reply.sections
    assert section.title.endswith("by Anonymous")
    assert "score +2" in (section.footer or "")


def _break(text: str, item: int, old: str, new: str) -> str:
    """The fixture with ``old`` replaced by ``new`` inside its ``item``-th item."""
    parts = text.split("<item>")
    assert old in parts[item]
    parts[item] = parts[item].replace(old, new, 1)
    return "<item>".join(parts)


def test_a_malformed_item_is_reported_by_number_and_skipped(
    db: Database, lookups: PaperLookups
) -> None:
    text = _break(rss_text(), 2, "<shortscience:votes>3<", "<shortscience:votes>many<")
    text = _break(text, 4, "<author>nerf_learner</author>", "")
    report = importer(lookups).import_text(text, "broken.xml")
    assert (report.imported, report.skipped, report.present) == (3, 2, 0)
    assert [str(problem) for problem in report.problems] == [
        "item 2: votes “many” is not a whole number",
        "item 4: the author is missing",
    ]
    assert report.closing_line() == "imported 3, skipped 2, already present 0"
    assert counts(db)["Summary"] == 3


def test_a_file_that_is_not_xml_is_refused_with_its_line(lookups: PaperLookups) -> None:
    with pytest.raises(UnreadableFile, match="line 2"):
        importer(lookups).import_text("<rss>\n<channel><item></channel>\n", "bad.xml")
    with pytest.raises(UnreadableFile, match="refused"):
        importer(lookups).import_text(
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss>&a;</rss>', "bomb.xml"
        )


def test_csv_rows_import_and_a_bad_row_names_its_line(db: Database, lookups: PaperLookups) -> None:
    text = (
        'journals/corr/1606.04474,"An LSTM learns the optimizer.\nIt beats Adam, mostly."\n'
        "only-one-column\n"
        "sitzmann2020implicit,Sine activations represent images well.\n"
    )
    report = importer(lookups).import_text(text, "shortscience-export.csv")
    assert (report.imported, report.skipped, report.present) == (2, 1, 0)
    assert [str(problem) for problem in report.problems] == [
        "line 3: expected 2 columns (paper key, text), found 1"
    ]
    with db.sessions() as session:
        rows = {s.paper.key: s for s in session.scalars(select(Summary))}
        lstm = rows["arxiv:1606.04474"]
        assert lstm.paper.title == "Learning to learn by gradient descent by gradient descent"
        assert lstm.tldr == "An LSTM learns the optimizer."
        assert lstm.body == "An LSTM learns the optimizer.\nIt beats Adam, mostly."
        assert lstm.byline == "Anonymous"
        assert rows["sitzmann2020implicit"].paper.title == "sitzmann2020implicit"
    again = importer(lookups).import_text(text, "shortscience-export.csv")
    assert (again.imported, again.skipped, again.present) == (0, 1, 2)


def test_pending_summaries_wait_for_a_moderator(db: Database, lookups: PaperLookups) -> None:
    report = importer(lookups, pending=True).import_text(rss_text(), "rss-full.xml")
    assert report.imported == 5
    with db.sessions() as session:
        summaries = session.scalars(select(Summary)).all()
        assert {s.status for s in summaries} == {SummaryStatus.PENDING}
        assert all(s.approved_at is None and s.moderated_by_id is None for s in summaries)
        actions = set(session.scalars(select(ModerationEvent.action)))
        assert actions == {ModerationAction.SUBMITTED}
        assert summary_store.pending(session)[1] == 5
        searchable = select(func.count()).where(SearchDocument.summary_id.is_not(None))
        assert session.scalar(searchable) == 0  # only approved summaries are searchable


def _snapshot(db: Database) -> list[tuple[object, ...]]:
    with db.sessions() as session:
        rows = []
        for paper in session.scalars(select(Paper).order_by(Paper.key)):
            for summary, score in summary_store.approved_for_paper(session, paper.id):
                rows.append(
                    (
                        paper.key,
                        paper.title,
                        paper.arxiv_id,
                        tuple(paper.author_names),
                        tuple(paper.category_names),
                        paper.abstract,
                        summary.byline,
                        summary.anonymous,
                        score,
                        summary.tldr,
                        summary.body,
                        summary.created_at,
                        summary.updated_at,
                        summary.approved_at,
                    )
                )
        return rows


@pytest.fixture
def second_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'second.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def test_export_then_import_into_a_second_database_yields_the_same_summaries(
    db: Database,
    lookups: PaperLookups,
    arxiv_client: ArxivClient,
    second_db: Database,
    tmp_path: Path,
) -> None:
    importer(lookups).import_text(rss_text(), "rss-full.xml")
    with db.transaction() as session:
        # A summary written here, and a member's vote: both travel in the export.
        ada = summary_store.get_or_create_user(session, "console", "ada", "Ada")
        paper_id = session.scalar(select(Paper.id).where(Paper.key == "arxiv:1606.02960"))
        assert paper_id is not None
        own = summary_store.create(session, paper_id, ada, "Beam search, trained.", "Body.")
        summary_store.transition(
            session,
            own.id,
            expected=[SummaryStatus.PENDING],
            to=SummaryStatus.APPROVED,
            values={"approved_at": own.created_at},
        )
        hugo = session.scalars(select(Summary).where(Summary.imported_votes == 6)).one()
        cast_vote(session, hugo.id, ada.id, 1, own.created_at)
    path = tmp_path / "export.json"
    assert export_file(db, path) == 6
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["format"], data["version"]) == ("shortscience-bot/summaries", 1)
    anonymous = next(item for item in data["summaries"] if item["anonymous"])
    assert anonymous["author"] is None  # an export shows "Anonymous", as readers see it

    second = PaperLookups(second_db, arxiv_client, refresh_after=lookups.refresh_after)
    report = importer(second).import_text(path.read_text(encoding="utf-8"), "export.json")
    assert report.closing_line() == "imported 6, skipped 0, already present 0"
    assert _snapshot(second_db) == _snapshot(db)
    assert {row[8] for row in _snapshot(second_db) if row[0] == "arxiv:1605.08803"} == {7}

    again = importer(second).import_text(path.read_text(encoding="utf-8"), "export.json")
    assert again.closing_line() == "imported 0, skipped 0, already present 6"
    # Exporting the copy gives the same summaries again (same keys, same content).
    copy = tmp_path / "copy.json"
    export_file(second_db, copy)
    summaries = json.loads(copy.read_text(encoding="utf-8"))["summaries"]
    assert sorted(summaries, key=lambda s: s["key"]) == sorted(
        data["summaries"], key=lambda s: s["key"]
    )
    # Into the database it came from: everything is there already.
    back = importer(lookups).import_text(path.read_text(encoding="utf-8"), "export.json")
    assert (back.imported, back.skipped, back.present) == (0, 0, 6)


def test_a_bad_summary_in_a_json_export_is_named_and_skipped(
    db: Database, lookups: PaperLookups, tmp_path: Path
) -> None:
    importer(lookups).import_text(rss_text(), "rss-full.xml")
    path = tmp_path / "export.json"
    export_file(db, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["summaries"][1]["created_at"] = "2020-01-01T00:00:00"  # no time zone
    data["summaries"][3]["tldr"] = ""
    database = Database.connect(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(database)
    try:
        other = PaperLookups(database, lookups.client, refresh_after=lookups.refresh_after)
        report = importer(other).import_text(json.dumps(data), "export.json")
    finally:
        database.dispose()
    assert (report.imported, report.skipped) == (3, 2)
    assert [problem.where for problem in report.problems] == ["summary 2", "summary 4"]
    assert "created_at" in report.problems[0].reason
    data["version"] = 2
    with pytest.raises(UnreadableFile, match="version 2"):
        importer(lookups).import_text(json.dumps(data), "export.json")


def test_without_arxiv_papers_come_from_the_file(db: Database, arxiv_server: FakeArxiv) -> None:
    settings = ArxivSettingsView(
        api_url=arxiv_server.url,
        timeout_seconds=1.0,
        request_interval_seconds=0.0,
        max_retries=1,
        batch_size=50,
        backoff_seconds=0.01,
    )
    client = ArxivClient(settings, limiter=RateLimiter(0.0))
    lookups = PaperLookups(db, client, refresh_after=timedelta(days=30))
    arxiv_server.fail_next(2)
    report = importer(lookups).import_text(rss_text(), "rss-full.xml")
    assert report.imported == 5
    assert isinstance(report, ImportReport)
    assert report.closing_line() == (
        "imported 5, skipped 0, already present 0; arXiv did not answer (HTTP 503), so 4 "
        "papers were stored from the file's titles and keys "
        "(`shortscience run` fetches their details later)"
    )
    with db.sessions() as session:
        paper = session.scalars(select(Paper).where(Paper.key == "arxiv:1606.04474")).one()
        assert paper.title == "Learning to learn by gradient descent by gradient descent"
        assert paper.fetched_at is None
    assert approved(db)["arxiv:1606.04474"][0][:3] == ("Anonymous", True, 2)


def test_a_tldr_is_the_first_sentence_cut_at_a_word() -> None:
    assert derive_tldr("# Idea\n**Short** one. Then more.", 280) == "Idea Short one."
    long = "word " * 100
    tldr = derive_tldr(long, 40)
    assert tldr.endswith(ELLIPSIS)
    assert len(tldr) <= 40
    assert derive_tldr("é" * 300, 280) == "é" * 279 + ELLIPSIS


# --- what a hostile run broke (issue 16) ------------------------------------------------------


def _export_item(number: int = 1) -> dict[str, Any]:
    """One summary of our JSON export, every text field of its paper filled in."""
    return {
        "key": f"shortscience-bot:hostile-{number}",
        "paper": {
            "key": f"doi:10.1000/hostile.{number}",
            "title": "A paper with every field",
            "abstract": "An abstract.",
            "authors": ["A. One", "B. Two"],
            "categories": ["cs.LG", "stat.ML"],
            "primary_category": "cs.LG",
            "doi": f"10.1000/hostile.{number}",
            "journal_ref": "Journal 1 (2020)",
            "comment": "9 pages",
            "venue": "NeurIPS",
            "year": 2020,
            "url": "https://example.org/paper",
        },
        "author": {"platform": "console", "id": f"writer{number}", "name": "Writer"},
        "anonymous": False,
        "score": 0,
        "tldr": "A TL;DR.",
        "body": "A body.",
        "status": "approved",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }


def _export_text(*items: dict[str, Any]) -> str:
    document = {"format": "shortscience-bot/summaries", "version": 1, "summaries": list(items)}
    return json.dumps(document)


def _with(item: dict[str, Any], field: str, bad: str) -> dict[str, Any]:
    """``item`` with ``bad`` put into ``field`` ("paper.venue", "paper.authors[2]")."""
    *parents, last = field.split(".")
    target = item
    for name in parents:
        target = target[name]
    if last.endswith("]"):
        name, _, index = last[:-1].partition("[")
        target[name][int(index) - 1] += bad
    else:
        target[last] += bad
    return item


TEXT_FIELDS = [
    "key",
    "tldr",
    "body",
    "author.id",
    "author.name",
    "paper.key",
    "paper.title",
    "paper.abstract",
    "paper.authors[2]",
    "paper.categories[1]",
    "paper.primary_category",
    "paper.doi",
    "paper.journal_ref",
    "paper.comment",
    "paper.venue",
    "paper.url",
]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_every_text_field_of_a_json_import_is_checked_on_every_database(
    db: Database, lookups: PaperLookups, field: str
) -> None:
    """SQLite stored a NUL or an escape in a paper's venue; PostgreSQL refused the NUL with
    a database error. Both now refuse the item, naming it and the field."""
    text = _export_text(
        _with(_export_item(1), field, "\x00"), _with(_export_item(2), field, "\x1b[31m")
    )
    report = importer(lookups).import_text(text, "export.json")
    assert (report.imported, report.skipped, report.present) == (0, 2, 0)
    assert [str(problem) for problem in report.problems] == [
        f"summary {number}: The {field} contains a control character ({code}) that cannot be "
        "stored. Remove it (it is invisible; retyping the text helps) and try again."
        for number, code in ((1, "U+0000"), (2, "U+001B"))
    ]
    assert counts(db)["Summary"] == counts(db)["Paper"] == 0


def test_a_noncharacter_is_refused_by_every_import_format(
    db: Database, lookups: PaperLookups
) -> None:
    """U+FFFF accepted by an import made the archive's feed.xml ill-formed XML."""
    csv_text = "sitzmann2020implicit,Sine activations \uffff represent images.\n"
    csv_report = importer(lookups).import_text(csv_text, "export.csv")
    json_report = importer(lookups).import_text(
        _export_text(_with(_export_item(), "body", "\U0001ffff")), "export.json"
    )
    rss = _break(rss_text(), 1, "</description>", "\ufdd0</description>")  # U+FFFF is not XML
    rss_report = importer(lookups).import_text(rss, "rss-full.xml")
    assert [str(problem) for problem in csv_report.problems] == [
        "line 1: The text contains a Unicode noncharacter (U+FFFF), which is not text and "
        "cannot be stored. Remove it (it is invisible; retyping the text helps) and try again."
    ]
    assert [problem.reason[:52] for problem in json_report.problems] == [
        "The body contains a Unicode noncharacter (U+1FFFF), "
    ]
    assert [problem.where for problem in rss_report.problems] == ["item 1"]
    assert "description contains a Unicode noncharacter (U+FDD0)" in rss_report.problems[0].reason
    assert rss_report.imported == 4
    with db.sessions() as session:
        bodies = session.scalars(select(Summary.body)).all()
    assert not any(char in body for body in bodies for char in "\uffff\U0001ffff\ufdd0")


def test_json_nested_past_the_limit_is_refused_as_a_whole(
    db: Database, lookups: PaperLookups
) -> None:
    deep = "[" * 50 + "]" * 50
    text = '{"format": "shortscience-bot/summaries", "version": 1, "summaries": [' + deep + "]}"
    with pytest.raises(UnreadableFile, match="the JSON nests deeper than 20 levels"):
        importer(lookups).import_text(text, "deep.json")
    assert counts(db)["Summary"] == 0


def _blocked_by(db: Database, pid: int) -> bool:
    """Whether some PostgreSQL backend waits for a lock held by backend ``pid``."""
    with db.sessions() as session:
        waiting = session.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": pid},
        ).scalar_one()
    return bool(waiting)


def test_a_summary_another_import_writes_meanwhile_counts_as_already_present(
    postgres_url: str, arxiv_client: ArxivClient
) -> None:
    """Two imports of one file at once on PostgreSQL: the second meets the first's paper
    and summary at its write. It reported "skipped ... duplicate key"; it is present."""
    db = Database.connect(postgres_url)
    migrate.upgrade(db)
    try:
        lookups = PaperLookups(db, arxiv_client, refresh_after=timedelta(days=30))
        document = _export_text(_export_item())
        [entry] = read_entries(document)[1]
        assert isinstance(entry, Entry) and entry.created_at is not None
        record = SummaryRecord(
            import_key=entry.import_key,
            paper=entry.paper,
            paper_fetched_at=None,
            author=entry.author,
            anonymous=False,
            imported_votes=0,
            tldr=entry.tldr or "",
            body=entry.body,
            status=SummaryStatus.APPROVED,
            created_at=entry.created_at,
            updated_at=entry.created_at,
            approved_at=entry.created_at,
        )
        second: dict[str, ImportReport] = {}

        def import_again() -> None:
            second["report"] = importer(lookups).import_text(document, "export.json")

        thread = threading.Thread(target=import_again)
        with db.transaction() as session:  # the first import, its write not committed yet
            import_store.write(session, record, OPERATOR, "export.json", datetime.now(UTC))
            first = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            thread.start()
            deadline = time.monotonic() + 60
            while not _blocked_by(db, first):  # the second import reached its write
                assert thread.is_alive(), "the second import ended without waiting"
                assert time.monotonic() < deadline, "the second import never waited"
                time.sleep(0.02)
        thread.join(timeout=60)
        assert second["report"].closing_line() == "imported 0, skipped 0, already present 1"
        assert counts(db)["Summary"] == 1
    finally:
        db.dispose()


def test_a_quote_never_closed_skips_its_row_and_the_rows_after_it_import(
    db: Database, lookups: PaperLookups
) -> None:
    """The unclosed quote no longer swallows the rest of the file into one summary's text:
    reading goes on at the next line."""
    text = (
        'sitzmann2020implicit,"Sine activations,\nover two lines."\n'
        'journals/corr/1810.03292,"Saliency maps, checked"twice\n'
        "journals/corr/1606.02960,Beam search in training.\n"
        'journals/corr/1606.04474,"An LSTM learns the optimizer.\n'
        "journals/corr/1605.08803,Coupling layers.\n"
    )
    report = importer(lookups).import_text(text, "export.csv")
    assert [str(problem) for problem in report.problems] == [
        "line 3: not valid CSV: ',' expected after '\"'",
        "line 5: not valid CSV: a quoted field is never closed (its opening quote has no "
        "closing quote)",
    ]
    assert (report.imported, report.skipped) == (3, 2)
    with db.sessions() as session:
        bodies = sorted(session.scalars(select(Summary.body)))
    assert bodies == [
        "Beam search in training.",
        "Coupling layers.",
        "Sine activations,\nover two lines.",
    ]


def test_an_export_of_no_summaries_imports_nothing(lookups: PaperLookups) -> None:
    report = importer(lookups).import_text(_export_text(), "export.json")
    assert report.nothing_imported
    assert report.closing_line() == "imported 0, skipped 0, already present 0"
