"""`shortscience run` keeps the archive folder current, end to end through the command line.

The demo data is loaded with `shortscience import --demo`, `run` starts headless with
``[site] directory`` set, and members and a moderator change things with `shortscience
chat` while it runs: a summary submitted and approved, votes cast and changed, a pending
summary withdrawn, and an approved one withdrawn by an operator's fix in the database (no
chat command takes back an approved summary; the change log's triggers cover every writer).
After each change the pages show it within seconds; a reader reading the affected pages in
a loop meanwhile never gets part of a file; after `run` stops, the folder is exactly what
`shortscience site build` makes of the same database, with no temporary file left behind.
On PostgreSQL two `run` processes keep the same folder: one builds it, either applies the
changes, and with one stopped the other carries on alone.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import summaries as summary_store
from storage.database import Database
from storage.models import Paper, Summary, SummaryStatus
from storage.types import utcnow
from tests.publishers.site.conftest import paper_file
from tests.readme_demo import ERROR_LINE, closed_port

COMMAND = [sys.executable, "-m", "bot.cli"]
UPDATE_SECONDS = 0.5
WAIT_SECONDS = 20.0
"""How long a change may take to show: many passes, so a slow machine is no failure."""
PAPER = "1606.02960"
"""A demo paper that gets a new summary and votes."""
DROPPED = "1810.03292"
"""The demo's only paper of 2018, whose one summary is withdrawn: its page and its year go."""
WATCHED = {
    "index.html": b"</html>\n",
    "feed.xml": b"</feed>\n",
    paper_file(PAPER): b"</html>\n",
    paper_file(DROPPED): b"</html>\n",
    "years/2016.html": b"</html>\n",
    "years/2018.html": b"</html>\n",
    "years/index.html": b"</html>\n",
    "style.css": b"}\n",
}
"""The pages a reader reads while they change, and how each complete one ends."""


@dataclass
class Site:
    """A config folder whose `run` keeps ``archive/`` current, on one database."""

    folder: Path
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)
    """The logs of the `run` processes started."""

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    @property
    def archive(self) -> Path:
        return self.folder / "archive"

    def shortscience(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [*COMMAND, "--config", str(self.config), *args],
            input=stdin,
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,  # a safety net against a hang, not a measurement
            check=False,
        )
        shown = f"$ shortscience {' '.join(args)}\n{result.stdout}{result.stderr}"
        assert result.returncode == 0, shown
        assert not ERROR_LINE.search(result.stdout + result.stderr), shown
        return result.stdout

    def chat(self, user: str, *lines: str, moderator: bool = False) -> str:
        extra = ["--moderator"] if moderator else []
        return self.shortscience("chat", "--user", user, *extra, stdin="\n".join(lines) + "\n")

    def start(self, log: Path) -> subprocess.Popen[bytes]:
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [*COMMAND, "--config", str(self.config), "run"],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,  # headless
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        """Poll until ``condition`` holds; on giving up, say what the processes logged."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                logged = "\n".join(f"--- {log.name}:\n{_text(log)[-3000:]}" for log in self.logs)
                raise AssertionError(f"gave up waiting {WAIT_SECONDS:g} s for {what}\n{logged}")
            time.sleep(0.05)


def _site(folder: Path, database_url: str) -> Site:
    (folder / "config.toml").write_text(
        # arXiv out of reach, as in the README's demo: nothing here may need it
        f'[arxiv]\napi_url = "http://127.0.0.1:{closed_port()}/api/query"\n'
        f'[site]\ndirectory = "archive"\nupdate_seconds = {UPDATE_SECONDS}\n',
        encoding="utf-8",
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SHORTSCIENCE_CONFIG", "DISCORD_TOKEN")
    }
    env["DATABASE_URL"] = database_url
    return Site(folder, env)


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        return ""


def _shows(path: Path, text: str) -> bool:
    return text in _text(path)


@dataclass
class Reader:
    """Reads the watched pages over and over in a thread of its own, as a web server
    serving the folder would, and keeps every read that was not a whole file."""

    archive: Path
    reads: int = 0
    broken: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            for page, ending in WATCHED.items():
                try:
                    data = (self.archive / page).read_bytes()
                except FileNotFoundError:
                    continue  # not written yet, or gone with its paper: never half there
                self.reads += 1
                if not data.endswith(ending):
                    self.broken.append(f"{page}: {len(data)} bytes ending {data[-40:]!r}")
            time.sleep(0.001)  # leave the processes under test a core

    def __enter__(self) -> Reader:
        self._thread = threading.Thread(target=self._loop, name="reader", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)


def _score(page: str, number: int) -> int | None:
    shown = re.search(
        rf'id="summary-{number}">\s*<p class="byline">.*? score <span class="score">([^<]+)</span>',
        page,
    )
    return int(shown.group(1)) if shown else None


def _search_fragments(archive: Path) -> Iterator[bytes]:
    """The search index's page records (gzipped JSON, one per indexed page)."""
    for fragment in (archive / "pagefind").glob("*/fragment/*.pf_fragment"):
        try:
            yield gzip.decompress(fragment.read_bytes())
        except FileNotFoundError:
            continue  # swapped out by a newer index while listed


def _site_files(archive: Path) -> dict[str, bytes]:
    """Every page, feed, style sheet and picture: all but the folder's own state and the
    search index (Pagefind's files hold random ids)."""
    return {
        path.relative_to(archive).as_posix(): path.read_bytes()
        for path in archive.rglob("*")
        if path.is_file()
        and not {".shortscience", "pagefind"} & set(path.relative_to(archive).parts)
    }


def _leftovers(archive: Path) -> list[str]:
    """Hidden files or folders a write, a build or an index left behind."""
    return sorted(
        path.relative_to(archive).as_posix()
        for path in archive.rglob(".*")
        if path.name != ".shortscience"
    )


def _withdraw_approved(database_url: str, arxiv_id: str) -> None:
    """An operator's fix in the database: the paper's approved summaries withdrawn."""
    db = Database.connect(database_url)
    try:
        with db.transaction() as session:
            ids = session.scalars(
                select(Summary.id)
                .join(Paper, Paper.id == Summary.paper_id)
                .where(Paper.arxiv_id == arxiv_id, Summary.status == SummaryStatus.APPROVED)
            ).all()
            assert ids
            for summary_id in ids:
                assert summary_store.transition(
                    session,
                    summary_id,
                    expected=[SummaryStatus.APPROVED],
                    to=SummaryStatus.WITHDRAWN,
                    now=utcnow(),
                )
    finally:
        db.dispose()


def _submit(site: Site, user: str, *summaries: tuple[str, str, str]) -> list[int]:
    """Submit (arXiv id, TL;DR, body) summaries in one session; their numbers."""
    lines = [
        line for paper, tldr, body in summaries for line in (f"/submit {paper}", tldr, body, ".")
    ]
    reply = site.chat(user, *lines)
    numbers = [int(number) for number in re.findall(r"It is #(\d+)", reply)]
    assert len(numbers) == len(summaries), reply
    return numbers


def _change_everything(site: Site, database_url: str) -> int:
    """Approve, vote, withdraw through the commands (and one fix in the database), each
    shown by the kept folder within seconds; the approved summary's number, scored -1."""
    archive = site.archive
    paper = archive / paper_file(PAPER)
    # The first build writes its state, then indexes the folder for search: a small
    # archive's index is one bundle.
    manifest = archive / "pagefind" / "shards.json"
    site.wait(manifest.is_file, "the first build's search index")
    bundle = archive / "pagefind" / "all" / "shard.json"
    bundle_before = (bundle.read_bytes(), bundle.stat().st_mtime_ns)

    number, pending = _submit(
        site,
        "ada",
        (PAPER, "A second look at zebraquartz beam search.", "Its *body*, with $x^2$."),
        (DROPPED, "Withdrawn quokkaflute words.", "Never shown."),
    )
    assert "zebraquartz" not in _text(paper), "a pending summary is not public"
    approved = site.chat("mia", "/queue", f"/approve {number}", moderator=True)
    assert f"Summary #{number} approved" in approved, approved
    for page in (paper, archive / "index.html", archive / "feed.xml"):
        site.wait(partial(_shows, page, "zebraquartz"), f"the approval in {page.name}")
    assert f'id="summary-{number}"' in _text(paper)

    # The search index follows the pages: the new summary's word is in it.
    site.wait(
        lambda: any(b"zebraquartz" in record for record in _search_fragments(archive)),
        "the search index to hold the approved summary",
    )
    assert (bundle.read_bytes(), bundle.stat().st_mtime_ns) != bundle_before

    assert _score(_text(paper), number) == 0
    site.chat("bob", f"/vote {number} up")
    site.wait(lambda: _score(_text(paper), number) == 1, "the up vote on the paper's page")
    site.chat("bob", f"/vote {number} down")
    site.wait(lambda: _score(_text(paper), number) == -1, "the changed vote on the paper's page")

    # A pending summary withdrawn through the command never reaches the archive ...
    withdrawn = site.chat("ada", f"/withdraw {pending}")
    assert f"Summary #{pending} withdrawn" in withdrawn, withdrawn
    # ... and the paper's approved one, taken back in the database, takes its page and its
    # year's list with it.
    dropped = archive / paper_file(DROPPED)
    assert dropped.is_file() and (archive / "years" / "2018.html").is_file()
    _withdraw_approved(database_url, DROPPED)
    site.wait(lambda: not dropped.exists(), "the withdrawn paper's page to go")
    site.wait(lambda: not (archive / "years" / "2018.html").exists(), "the empty year's list to go")
    site.wait(lambda: "2018" not in _text(archive / "years" / "index.html"), "the year list")
    everything = b"".join(_site_files(archive).values())
    assert b"quokkaflute" not in everything
    return number


def _end(process: subprocess.Popen[bytes]) -> None:
    """Stop a `run` as an operator does (SIGTERM); asserts nothing, so that every process
    a test started is ended even when a check fails."""
    process.send_signal(signal.SIGTERM)  # nothing, if it has ended
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stopped_cleanly(process: subprocess.Popen[bytes], log: Path) -> str:
    output = log.read_text("utf-8")
    assert process.returncode == 0, output
    assert "stopped" in output, output
    assert not ERROR_LINE.search(output), output
    return output


def _same_as_a_full_build(site: Site, tmp_path: Path) -> None:
    other = tmp_path / "other"
    site.shortscience("site", "build", str(other))
    kept, built = _site_files(site.archive), _site_files(other)
    assert sorted(kept) == sorted(built), "the kept folder has other files than a full build"
    assert [page for page in built if kept[page] != built[page]] == [], "pages differ"
    assert _leftovers(site.archive) == []


def test_run_keeps_the_archive_current_and_whole_for_readers(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'shortscience.db'}"
    site = _site(tmp_path, database_url)
    assert "imported 5, skipped 0, already present 0" in site.shortscience("import", "--demo")
    log = tmp_path / "run.log"
    process = site.start(log)
    try:
        site.wait(
            lambda: (
                (site.archive / ".shortscience" / "state.json").is_file()
                and (site.archive / "index.html").is_file()
            ),
            "the first full build",
        )
        with Reader(site.archive) as reader:
            _change_everything(site, database_url)
        assert reader.broken == [], "a reader got part of a page"
        assert reader.reads > 100, "the reader barely read: the check says nothing"
    finally:
        _end(process)
    output = _stopped_cleanly(process, log)
    assert f"archive: active (keeping {site.archive} current, every 0.5 s)" in output
    assert "archive updated for 1 papers" in output, "the changes went page by page"
    _same_as_a_full_build(site, tmp_path)


@pytest.mark.postgres
def test_two_runs_on_postgresql_keep_one_folder(postgres_url: str, tmp_path: Path) -> None:
    site = _site(tmp_path, postgres_url)
    assert "imported 5, skipped 0, already present 0" in site.shortscience("import", "--demo")
    logs = [tmp_path / "run-1.log", tmp_path / "run-2.log"]
    processes = [site.start(log) for log in logs]
    try:
        site.wait(
            lambda: all("running; stop with" in _text(log) for log in logs),
            "both processes to start",
        )
        site.wait(lambda: (site.archive / ".shortscience" / "state.json").is_file(), "a full build")
        with Reader(site.archive) as reader:
            number = _change_everything(site, postgres_url)
            # Either process may have made every pass so far; with the first stopped, the
            # second keeps the folder by itself.
            _end(processes[0])
            site.chat("carol", f"/vote {number} up")
            paper = site.archive / paper_file(PAPER)
            site.wait(
                lambda: _score(_text(paper), number) == 0, "the second process to apply a vote"
            )
        assert reader.broken == [], "a reader got part of a page"
        assert reader.reads > 100, "the reader barely read: the check says nothing"
    finally:
        for process in processes:
            _end(process)
    outputs = [_stopped_cleanly(process, log) for process, log in zip(processes, logs, strict=True)]
    for output in outputs:
        assert f"archive: active (keeping {site.archive} current" in output
    rebuilt = sum(output.count("archive rebuilt:") for output in outputs)
    assert rebuilt == 1, "one process built the folder; the other found it built"
    _same_as_a_full_build(site, tmp_path)
