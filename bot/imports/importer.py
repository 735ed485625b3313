"""``shortscience import``: a file's summaries into the database, papers fetched in batches.

The file's format is told by its first character: ``<`` is ShortScience.org's RSS export,
``{`` this product's JSON export, anything else ShortScience.org's CSV export; a file that
is none of them (binary, or no row of it has the CSV export's two columns) is refused
whole, before anything is written. Summaries
whose ``import_key`` is stored already are counted as present and left alone; a malformed
item or row is reported with its number and skipped. Papers come from arXiv in batches
through the lookups' client (at arXiv's pace); when arXiv cannot be reached, a paper is
stored from the file's key and title, and ``shortscience run`` fetches its details later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from bot.commands.user_text import grapheme_count
from bot.config import LimitSettings
from bot.imports import csv_rows, export_format, shortscience_rss
from bot.imports.entries import Entry, Malformed, Problem, derive_tldr
from bot.papers.arxiv_client import ArxivRejected, ArxivUnavailable
from bot.papers.arxiv_ids import ArxivId
from bot.papers.lookups import PaperLookups
from storage import imports as import_store
from storage.imports import AuthorRecord, Outcome, SummaryRecord
from storage.models import SummaryStatus
from storage.types import utcnow

log = logging.getLogger(__name__)

DEMO_PACKAGE = "bot.demo"
DEMO_FILE = "demo.json"
LOG_EVERY = 100
"""Without a terminal, a progress line after this many summaries."""


MAX_JSON_DEPTH = 20
"""How deep a JSON file may nest; our export nests 5 deep (document, summaries, summary,
paper, authors). Deeper is not an export of ours, and 200,000 levels would exhaust the
parser's recursion."""


class UnreadableFile(Exception):
    """The file as a whole cannot be read (not UTF-8, not RSS/JSON/CSV, another version)."""


def _too_deep(data: object) -> bool:
    """Whether parsed JSON nests deeper than MAX_JSON_DEPTH (walked without recursion)."""
    level: list[tuple[object, int]] = [(data, 1)]
    while level:
        value, depth = level.pop()
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        level.extend((child, depth + 1) for child in children)
    return False


def demo_text() -> str:
    """The ShortScience.org summaries shipped with the package, with their papers, in our
    JSON export format (see bot/demo/SOURCES.md)."""
    return (resources.files(DEMO_PACKAGE) / DEMO_FILE).read_text(encoding="utf-8")


def demo_entries(now: datetime) -> tuple[str, list[Entry | Problem]]:
    """The demo's entries, their papers counted as fetched at ``now``.

    The demo's papers carry everything arXiv gives (authors, abstract, categories, dates),
    so importing them asks arXiv nothing, and neither ``/summary`` nor ``shortscience run``
    asks for them again before ``[arxiv].refresh_after_days``.
    """
    kind, results = read_entries(demo_text())
    return kind, [
        replace(result, paper_fetched_at=now) if isinstance(result, Entry) else result
        for result in results
    ]


def read_entries(text: str) -> tuple[str, list[Entry | Problem]]:
    """The file's format name and its entries, in file order."""
    if export_format.looks_like_json(text):
        too_deep = UnreadableFile(
            f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (an export of ours nests 5); "
            "it is not a file `shortscience export` wrote"
        )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise UnreadableFile(
                f"not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from None
        except RecursionError:  # far deeper than the limit: the parser gave up first
            raise too_deep from None
        if _too_deep(data):
            raise too_deep
        try:
            return "JSON export", export_format.parse(data)
        except export_format.UnsupportedDocument as error:
            raise UnreadableFile(str(error)) from None
    if shortscience_rss.looks_like_rss(text):
        try:
            return "ShortScience.org RSS", shortscience_rss.parse(text)
        except shortscience_rss.UnreadableFile as error:
            raise UnreadableFile(str(error)) from None
    try:
        return "ShortScience.org CSV", csv_rows.parse(text)
    except csv_rows.NotCsv as error:
        raise UnreadableFile(str(error)) from None


def read_file(path: Path) -> str:
    """The file as text; Malformed when it is not UTF-8, before anything is written."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{path} is not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror or error}") from None


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    present: int = 0
    problems: list[Problem] = field(default_factory=list)
    arxiv_problem: str | None = None
    """Why arXiv could not be asked for papers, if it could not."""
    papers_from_file: int = 0
    """Papers stored from the file's key and title (arXiv unreachable or without them)."""

    def skip(self, problem: Problem) -> None:
        """Count a refused item and keep its reason for the closing lines."""
        self.skipped += 1
        self.problems.append(problem)
        log.warning("skipped %s", problem)

    @property
    def nothing_imported(self) -> bool:
        """Whether no summary of the file is in the database now: every one was skipped,
        or the file held none. (All of them already present is a success.)"""
        return self.imported == 0 and self.present == 0

    def closing_line(self) -> str:
        """What the import did, in one line: imported, skipped, already present."""
        line = f"imported {self.imported}, skipped {self.skipped}, already present {self.present}"
        if self.arxiv_problem is not None:
            count = self.papers_from_file
            line += (
                f"; {self.arxiv_problem}, so {count} "
                f"paper{'s were' if count != 1 else ' was'} stored from the file's titles and "
                "keys (`shortscience run` fetches their details later)"
            )
        return line


WRITE_ATTEMPTS = 2
"""A summary's write is tried again once when it met a duplicate key: written meanwhile."""


def _refusal(error: IntegrityError | DataError) -> str:
    first = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
    return f"the database refused it: {first}"


class Importer:
    """Imports files into one database; ``operator`` is recorded as approving them."""

    def __init__(
        self,
        lookups: PaperLookups,
        limits: LimitSettings,
        *,
        pending: bool = False,
        operator: AuthorRecord | None = None,
        progress: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.lookups = lookups
        self.db = lookups.db
        self.limits = limits
        self.pending = pending
        self.operator = operator
        self.progress = progress
        self.clock = clock

    def import_text(self, text: str, source: str) -> ImportReport:
        """Import a file's text, whichever of the three formats it is."""
        kind, results = read_entries(text)
        return self.import_entries(kind, results, source)

    def import_entries(
        self, kind: str, results: list[Entry | Problem], source: str
    ) -> ImportReport:
        """Store what :func:`read_entries` made of a file (read first, so that an
        unreadable file is refused before the database is even opened)."""
        log.info("reading %s as %s: %d items", source, kind, len(results))
        report = ImportReport()
        entries: list[Entry] = []
        for result in results:
            if isinstance(result, Problem):
                report.skip(result)
            else:
                entries.append(result)
        with self.db.sessions() as session:
            present = import_store.present_keys(session, [entry.import_key for entry in entries])
        report.present += sum(1 for entry in entries if entry.import_key in present)
        entries = [entry for entry in entries if entry.import_key not in present]
        self._fetch_papers(entries, report)
        now = self.clock()
        with self._bar(len(entries)) as advance:
            for entry in entries:
                self._store(entry, source, now, report)
                advance()
        return report

    # -- papers -------------------------------------------------------------------------------

    def _fetch_papers(self, entries: list[Entry], report: ImportReport) -> None:
        """Fetch the arXiv papers not stored yet, a batch per request, at arXiv's pace."""
        wanted = list(
            dict.fromkeys(
                entry.paper.arxiv_id
                for entry in entries
                if entry.fetch_paper and entry.paper.arxiv_id is not None
            )
        )
        with self.db.sessions() as session:
            stored = import_store.stored_papers(session, [f"arxiv:{base}" for base in wanted])
        missing = [
            base
            for base in wanted
            if (paper := stored.get(f"arxiv:{base}")) is None or paper.fetched_at is None
        ]
        if not missing:
            return
        size = max(1, self.lookups.batch_size)
        fetched: set[str] = set()
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            try:
                found = self.lookups.client.fetch(ArxivId(base, None) for base in batch)
            except (ArxivUnavailable, ArxivRejected) as error:
                report.arxiv_problem = str(error)
                log.warning("arXiv cannot be asked for papers: %s", error)
                break
            self.lookups.store(found.values())
            fetched.update(found)
            for base in set(batch) - set(found):
                log.warning("arXiv has no paper %s; keeping the file's title and key", base)
            log.info("papers from arXiv: %d of %d", min(start + size, len(missing)), len(missing))
        report.papers_from_file = len(
            [base for base in missing if base not in fetched and f"arxiv:{base}" not in stored]
        )

    # -- summaries ----------------------------------------------------------------------------

    def _record(self, entry: Entry, now: datetime) -> SummaryRecord:
        body = entry.body
        if len(body) > self.limits.body_max_chars:
            raise Malformed(
                f"the text has {len(body):,} characters; the limit is "
                f"{self.limits.body_max_chars:,} ([limits].body_max_chars)"
            )
        tldr = entry.tldr
        if tldr is None:
            tldr = derive_tldr(body, self.limits.tldr_max_chars)
        elif not tldr or grapheme_count(tldr) > self.limits.tldr_max_chars:
            raise Malformed(
                f"the TL;DR is empty or longer than {self.limits.tldr_max_chars} characters"
            )
        status = SummaryStatus.PENDING if self.pending else entry.status or SummaryStatus.APPROVED
        created = entry.created_at or now
        updated = entry.updated_at or created
        return SummaryRecord(
            import_key=entry.import_key,
            paper=entry.paper,
            paper_fetched_at=entry.paper_fetched_at,
            author=entry.author,
            anonymous=entry.anonymous,
            imported_votes=entry.votes,
            tldr=tldr,
            body=body,
            status=status,
            created_at=created,
            updated_at=updated,
            approved_at=entry.approved_at or updated,
        )

    def _store(self, entry: Entry, source: str, now: datetime, report: ImportReport) -> None:
        try:
            record = self._record(entry, now)
        except Malformed as error:
            report.skip(Problem(entry.where, str(error)))
            return
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.db.transaction() as session:
                    outcome = import_store.write(session, record, self.operator, source, now)
                break
            except import_store.Conflict as error:
                report.skip(Problem(entry.where, str(error)))
                return
            except IntegrityError as error:
                if attempt < WRITE_ATTEMPTS:
                    # Another import of the same file (or a command) stored this paper or
                    # summary between our look and our write; the next try finds it.
                    log.debug("%s: written meanwhile by someone else; trying again", entry.where)
                    continue
                report.skip(Problem(entry.where, _refusal(error)))
                return
            except DataError as error:
                report.skip(Problem(entry.where, _refusal(error)))
                return
        if outcome is Outcome.PRESENT:
            report.present += 1
        else:
            report.imported += 1

    @contextmanager
    def _bar(self, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on a terminal; otherwise a log line every LOG_EVERY summaries."""
        if self.progress:
            # Log lines (a skipped item) are printed above the bar instead of through it.
            with (
                logging_redirect_tqdm(),
                tqdm(total=total, unit="summary", desc="importing", leave=False) as bar,
            ):
                yield lambda: bar.update(1)
            return
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if done % LOG_EVERY == 0 or done == total:
                log.info("stored %d of %d summaries", done, total)

        yield advance
