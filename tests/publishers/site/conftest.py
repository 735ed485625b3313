"""A built archive: the seed summaries plus a few that test ordering, anonymity, math and
figures; the seed papers carry their abstracts and dates from the demo data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from publishers.render.templates import Templates
from publishers.site.builder import BuildReport, SiteBuilder
from publishers.site.paths import PAPER_FOLDER, paper_folder
from storage import summaries as summary_store
from storage.database import Database
from storage.models import Paper, Summary, SummaryStatus
from tests.publishers.conftest import NOW, seed
from tests.publishers.site.chromium import REPO, find_chromium

REAL_NVP = "1605.08803"
AXE_CORE_VERSION = "4.14.1"
AXE_CORE_CACHE = REPO / ".cache" / "npm"
DEMO = Path(__file__).resolve().parents[3] / "bot" / "demo" / "demo.json"
FIGURE = "https://example.org/figures/samples.png"
"""A figure a Real NVP summary shows with Markdown's image syntax (alt: "Samples")."""
IMGUR = "https://i.imgur.com/HMaCeip.png"
"""The figure the 1606.04474 seed summary links: a bare URL on a line of its own."""
MATH_BODY = (
    "The change of variables gives the exact likelihood $\\log p(x)$ of each sample, and the "
    "latent code is a sum over coupling layers:\n\n$$\\sum_i z_i$$\n\nPriced at $5 and $10."
)
HOSTILE_BODY = (
    "<script>alert('body')</script> <img src=x onerror=alert(1)> "
    "[click](javascript:alert(2)) ![tracker](https://example.org/pixel.png) "
    "![script](javascript:alert(4)) ![inline](data:image/png;base64,iVBORw0KGgo=) "
    "$\\href{javascript:alert(3)}{x}$ <iframe src=https://example.org></iframe>"
)


@dataclass(frozen=True)
class Archive:
    directory: Path
    report: BuildReport
    best_id: int
    """The Real NVP summary with the most votes (anonymous, with math)."""
    seed_id: int
    """The Real NVP seed summary (no votes)."""
    low_id: int
    """A Real NVP summary voted down."""
    hostile_id: int


def text_files(directory: Path) -> list[Path]:
    """The pages, feed and style sheet the builder wrote: every text file of the site but
    its state (``.shortscience/``), the search index and the link previews' pictures."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix in (".html", ".xml", ".css")
        and not {".shortscience", "pagefind"} & set(path.relative_to(directory).parts)
    )


def _demo_papers() -> dict[str, dict]:
    """The demo data's papers by arXiv id: their real abstracts and publication dates."""
    data = json.loads(DEMO.read_text("utf-8"))
    return {s["paper"]["arxiv_id"]: s["paper"] for s in data["summaries"] if s["paper"]["arxiv_id"]}


def build_archive(
    db: Database,
    directory: Path,
    *,
    site_url: str | None = None,
    search_shard_from: int | None = None,
) -> Archive:
    seeded = seed(db)
    demo = _demo_papers()
    with db.transaction() as session:
        for stored in session.query(Paper).filter(Paper.arxiv_id.in_(demo)):
            stored.abstract = demo[stored.arxiv_id]["abstract"]
            stored.published_at = datetime.fromisoformat(demo[stored.arxiv_id]["published_at"])
        paper = session.query(Paper).filter_by(arxiv_id=REAL_NVP).one()
        paper.venue = "ICLR 2017"
        seed_summary = next(
            s for s in session.query(Summary).filter_by(paper_id=paper.id) if s.id in seeded.ids
        )

        def add(number: int, tldr: str, body: str, votes: int, anonymous: bool) -> int:
            author = summary_store.get_or_create_user(
                session, "console", f"site{number}", f"Site Writer {number}"
            )
            at = NOW - timedelta(minutes=number)
            summary = Summary(
                paper_id=paper.id,
                author_id=author.id,
                tldr=tldr,
                body=body,
                status=SummaryStatus.APPROVED,
                created_at=at,
                updated_at=at,
                approved_at=at,
                anonymous=anonymous,
                imported_votes=votes,
            )
            session.add(summary)
            session.flush()
            return summary.id

        best = add(1, "Exact $\\log p(x)$ by coupling layers.", MATH_BODY, 7, True)
        low = add(2, "A weaker take.", f"Not much here.\n\n![Samples]({FIGURE})", -2, False)
        hostile = add(3, "<script>alert('tldr')</script>", HOSTILE_BODY, 1, False)
        pending_author = summary_store.get_or_create_user(session, "console", "site9", "Pending")
        session.add(
            Summary(
                paper_id=paper.id,
                author_id=pending_author.id,
                tldr="PENDING-ONLY",
                body="never shown",
                status=SummaryStatus.PENDING,
            )
        )
        seed_id = seed_summary.id
    options = {} if search_shard_from is None else {"search_shard_from": search_shard_from}
    builder = SiteBuilder(db, Templates(), site_url=site_url, clock=lambda: NOW, **options)
    report = builder.build(directory)
    return Archive(directory, report, best, seed_id, low, hostile)


@pytest.fixture
def archive(db: Database, tmp_path: Path) -> Archive:
    return build_archive(db, tmp_path / "site")


@pytest.fixture
def chromium() -> str:
    """The Chromium the browser tests drive; skipped, with the reason, where there is none
    (`.ci/run` installs Debian's chromium, so CI runs them)."""
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it): "
            "the archive's browser checks did not run"
        )
    return found


@pytest.fixture(scope="session")
def axe_core() -> str:
    """axe-core's script: SHORTSCIENCE_AXE_CORE, else the copy .ci/run installs into
    .cache/npm, else installed there now with npm (skipped only where npm is missing)."""
    chosen = os.environ.get("SHORTSCIENCE_AXE_CORE")
    script = Path(chosen) if chosen else AXE_CORE_CACHE / "node_modules/axe-core/axe.min.js"
    if not script.is_file() and not chosen:
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(
                f"no axe-core at {script} and no npm to install it (npm install --prefix "
                f".cache/npm axe-core@{AXE_CORE_VERSION}): the accessibility audit did not run"
            )
        install = ["install", "--no-save", "--no-audit", "--no-fund"]
        subprocess.run(  # the npm registry's axe-core, at the version the project pins
            [npm, *install, "--prefix", str(AXE_CORE_CACHE), f"axe-core@{AXE_CORE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return script.read_text("utf-8")


def paper_file(name: str) -> str:
    """Where the paper page named ``name`` (``1606.04474``) sits in a built site."""
    return f"{PAPER_FOLDER}/{paper_folder(name)}/{name}.html"
