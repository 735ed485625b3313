"""Approved summaries to build digests from: the seed summaries and a few hard ones."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from storage import papers as paper_store
from storage import summaries as summary_store
from storage.database import Database
from storage.models import Summary, SummaryStatus
from storage.papers import PaperData

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

SEED_TLDRS = {
    "1606.04474": "An LSTM learns the update rule $g_t$ of gradient descent and beats hand-made "
    "optimizers on the tasks it was trained for.",
    "1606.02960": "Train seq2seq models with a beam-search loss so training and decoding agree.",
    "1810.03292": "Many saliency methods barely change when the model's weights are randomized: "
    "they explain the input, not the model.",
    "bibsonomy:siren": "SIREN: sine activations let MLPs fit signals and their derivatives, "
    "$\\nabla \\Phi$ included.",
    "1605.08803": "Real NVP: invertible coupling layers give exact log-likelihood "
    "$\\log p(x)$ and fast sampling.",
}

HARD = [
    (
        "2006.09661",
        "Periodic activations, written in CJK: 周期的な活性化関数 🧠",
        "正弦波の活性化関数を使うと、ニューラルネットワークは信号とその導関数を表現できる。"
        "$\\sin(\\omega_0 W x + b)$ を各層で使う。👩\u200d🔬🇪🇺 " * 6,
    ),
    (
        "1606.04474",
        "Hostile text stays text: {{ config }} {% raw %} <script> @everyone",
        "{{ config }} and {% for x in y %}{{ x }}{% endfor %} and {% raw %} <script>alert(1)"
        "</script> @everyone <@123> https://example.org/"
        + "a" * 280
        + " and $\\frac{\\frac{a}{b}}{c}$ with $\\begin{pmatrix}1 & 2\\\\3 & 4\\end{pmatrix}$.",
    ),
]


@dataclass(frozen=True)
class Seeded:
    ids: list[int]
    """Summary ids, oldest approval first."""


def _paper(entry: dict) -> PaperData:
    key = f"arxiv:{entry['arxiv_id']}" if entry["arxiv_id"] else "bibsonomy:siren"
    return PaperData(
        key=key,
        title=entry["title"],
        authors=list(entry["authors"]),
        categories=list(entry["keywords"]),
        arxiv_id=entry["arxiv_id"],
        year=entry["year"],
        url=None if entry["arxiv_id"] else "https://www.bibsonomy.org/bibtex/siren",
    )


def seed(db: Database, *, now: datetime = NOW, hard: bool = True, authors: str = "") -> Seeded:
    """The five seed summaries (and the hard ones) approved one hour apart, newest last."""
    data = json.loads((FIXTURES / "summaries" / "shortscience_home.json").read_text("utf-8"))
    rows: list[tuple[PaperData, str, str]] = []
    for entry in data["summaries"]:
        paper = _paper(entry)
        rows.append((paper, SEED_TLDRS[entry["arxiv_id"] or paper.key], entry["summary_markdown"]))
    if hard:
        for arxiv_id, tldr, body in HARD:
            paper = PaperData(
                key=f"arxiv:{arxiv_id}",
                title=f"Paper {arxiv_id}",
                arxiv_id=arxiv_id,
                categories=["cs.LG"],
            )
            rows.append((paper, tldr, body))
    ids = []
    with db.transaction() as session:
        for number, (data_, tldr, body) in enumerate(rows):
            paper = paper_store.get_by_key(session, data_.key) or paper_store.upsert(session, data_)
            author = summary_store.get_or_create_user(
                session, "console", f"{authors}author{number}", f"Author {number}"
            )
            at = now - timedelta(hours=len(rows) - number)
            summary = Summary(
                paper_id=paper.id,
                author_id=author.id,
                tldr=tldr,
                body=body,
                status=SummaryStatus.APPROVED,
                created_at=at,
                updated_at=at,
                approved_at=at,
            )
            session.add(summary)
            session.flush()
            ids.append(summary.id)
    return Seeded(ids)


def broken_x_templates(folder: Path) -> Path:
    """A templates folder whose X templates fail to render: an X channel's build raises
    (whichever shape it takes), every other kind renders as shipped."""
    broken = folder / "broken"
    (broken / "x").mkdir(parents=True)
    for name in ("summary.txt.j2", "single.txt.j2"):
        (broken / "x" / name).write_text("{{ summary.nope }}", encoding="utf-8")
    return broken


@pytest.fixture
def renderer() -> DigestRenderer:
    return DigestRenderer(Templates())


@pytest.fixture
def update_golden() -> bool:
    """SHORTSCIENCE_UPDATE_GOLDEN=1 rewrites golden files, to be read by eye and committed."""
    return os.environ.get("SHORTSCIENCE_UPDATE_GOLDEN") == "1"


class Clock:
    """The publishing side's clock, moved by hand: the worker, the clients and the local
    servers read the same time, so a retry's wait or an upload's age is the test's word."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()
