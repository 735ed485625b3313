"""SQLite search ranks its candidates itself, without bm25()'s scan of each word's whole
posting list; the scores must be bm25()'s (to within the ties a word in most documents
breaks), and a search must find what bm25() in SQL would."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import migrate, search
from storage.database import Database
from storage.models import Paper, SearchDocument
from storage.search import CANDIDATE_LIMIT, TITLE_WEIGHT, sqlite_match_expression, sqlite_ranking

WORDS = (
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """120 documents: "common" in ~80 %, "often" in ~40 %, "seldom" in 5; lengths vary and
    words repeat, so frequencies and lengths both matter to the score. Ranking here is what
    these tests are about, so it is used for any number of documents."""
    monkeypatch.setattr(sqlite_ranking, "HERE_FROM_DOCUMENTS", 0)
    db = Database.connect(f"sqlite:///{tmp_path / 'ranking.db'}")
    migrate.upgrade(db)
    rng = random.Random(7)
    with db.transaction() as session:
        for number in range(120):
            words = rng.choices(WORDS, k=rng.randint(5, 60))
            if rng.random() < 0.8:
                words += ["common"] * rng.randint(1, 4)
            if rng.random() < 0.4:
                words += ["often"] * rng.randint(1, 3)
            if number % 24 == 5:
                words.append("seldom")
            rng.shuffle(words)
            title = " ".join(rng.choices(WORDS, k=4) + (["common"] if number % 3 else []))
            paper = Paper(key=f"test:{number}", title=title, abstract=" ".join(words))
            session.add(paper)
            session.flush()
            search.index_paper(session, paper)
    try:
        yield db
    finally:
        db.dispose()


def _bm25(db: Database, terms: list[str], limit: int = CANDIDATE_LIMIT) -> dict[int, float]:
    with db.sessions() as session:
        rows = session.execute(
            text(
                "SELECT rowid, -bm25(search_documents_fts, :weight, 1.0)"
                " FROM search_documents_fts WHERE search_documents_fts MATCH :match"
                " ORDER BY rowid DESC LIMIT :candidates"
            ),
            {
                "weight": TITLE_WEIGHT,
                "match": sqlite_match_expression(terms),
                "candidates": limit,
            },
        ).all()
    return {rowid: score for rowid, score in rows}


def _here(db: Database, terms: list[str]) -> dict[int, float] | None:
    with db.sessions() as session:
        ranked = sqlite_ranking.sqlite_ranked_here(session, terms)
    if ranked is None:
        return None
    return {candidate.document_id: candidate.score for candidate in ranked}


@pytest.mark.parametrize(
    "terms",
    [["common"], ["often"], ["seldom"], ["alpha"], ["often", "seldom"], ["common", "alpha"]],
)
def test_scores_are_bm25s(corpus: Database, terms: list[str]) -> None:
    expected = _bm25(corpus, terms)
    found = _here(corpus, terms)
    assert found is not None
    assert found.keys() == expected.keys() and expected
    for rowid, score in expected.items():
        assert found[rowid] == pytest.approx(score, rel=1e-9, abs=1e-12)


def _add_paper(db: Database, title: str, abstract: str) -> None:
    with db.transaction() as session:
        paper = Paper(key=f"test:{title}", title=title, abstract=abstract)
        session.add(paper)
        session.flush()
        search.index_paper(session, paper)


def test_a_long_document_is_scored_as_bm25_scores_it(corpus: Database) -> None:
    """More than 127 tokens in a column take FTS5 two bytes to record."""
    _add_paper(corpus, "often long", "often " + "alpha beta gamma " * 90 + "often common")
    expected = _bm25(corpus, ["often"])
    found = _here(corpus, ["often"])
    assert found is not None and found.keys() == expected.keys()
    for rowid, score in expected.items():
        assert found[rowid] == pytest.approx(score, rel=1e-9, abs=1e-12)


def test_marks_and_nul_characters_in_a_text_leave_its_score_alone(corpus: Database) -> None:
    """Frequencies are the marks highlight() adds: marks already in the text, or a NUL
    (highlight() drops what follows one up to the next match), must not change them."""
    _add_paper(corpus, "often \x01 title", "\x00 often \x01\x01 alpha \x00 often beta common")
    expected = _bm25(corpus, ["often"])
    found = _here(corpus, ["often"])
    assert found is not None and found.keys() == expected.keys()
    for rowid, score in expected.items():
        assert found[rowid] == pytest.approx(score, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "terms",
    [["seldom", "common"], ["often", "common"], ["often", "alpha"], ["seldom", "common", "often"]],
)
def test_a_word_in_most_documents_only_breaks_ties_beside_a_rarer_one(
    corpus: Database, terms: list[str]
) -> None:
    expected = _bm25(corpus, terms)
    found = _here(corpus, terms)
    assert found is not None and found.keys() == expected.keys() and expected
    for rowid, score in expected.items():
        # "common" and "alpha" are in over half the documents: FTS5 gives them its minimal
        # IDF (1e-6), and left out they move a score by less than 1e-6 * (k1 + 1) * weight.
        assert found[rowid] == pytest.approx(score, abs=1e-5)
    assert max(found, key=found.__getitem__) == max(expected, key=expected.__getitem__)


def test_a_search_finds_the_papers_bm25_ranks_first(corpus: Database) -> None:
    with corpus.sessions() as session:
        hits = search.search(session, "often alpha", limit=5)
        documents = {
            document.id: document.paper_id for document in session.query(SearchDocument).all()
        }
    expected = _bm25(corpus, ["often", "alpha"])
    best = sorted(expected, key=lambda rowid: (-expected[rowid], -rowid))
    assert [hit.paper_id for hit in hits] == [documents[rowid] for rowid in best[:5]]


def test_too_many_words_are_left_to_bm25_in_sql(corpus: Database) -> None:
    assert _here(corpus, ["alpha", "beta", "gamma", "delta", "epsilon"]) is None


def test_words_in_few_documents_are_left_to_bm25_in_sql(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bm25()'s scan is cheap then, cheaper than reading the candidates' frequencies."""
    monkeypatch.setattr(sqlite_ranking, "HERE_FROM_DOCUMENTS", 100)
    assert _here(corpus, ["seldom"]) is None
    assert _here(corpus, ["often"]) is None  # in ~48 documents
    assert _here(corpus, ["common", "often"]) is not None  # ~96 + ~48


def test_nothing_matching_is_no_candidates(corpus: Database) -> None:
    assert _here(corpus, ["nowhere"]) == {}


def test_a_word_with_more_matches_than_candidates_keeps_bm25s_order(
    corpus: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its document count is then estimated from its newest matches; for one word the IDF
    is a common factor, so the order is still exactly bm25()'s."""
    monkeypatch.setattr(sqlite_ranking, "CANDIDATE_LIMIT", 20)
    monkeypatch.setattr(sqlite_ranking, "HERE_MAX_SCANNED", 80)
    expected = _bm25(corpus, ["often"], limit=20)
    found = _here(corpus, ["often"])
    assert found is not None and found.keys() == expected.keys() and len(expected) == 20
    ratios = {found[rowid] / expected[rowid] for rowid in expected}
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
