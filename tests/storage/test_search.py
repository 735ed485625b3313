"""Full-text search: the same behaviour on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, event, func, insert, select, text
from sqlalchemy.orm import Session

from storage import migrate, search
from storage.database import Database
from storage.models import Paper, SearchDocument, Summary, SummaryStatus, User
from storage.search import (
    CANDIDATE_LIMIT,
    SNIPPET_CHARS,
    index_paper,
    index_summary,
    postgres_ranking,
    rebuild_index,
    sqlite_match_expression,
    unindex_summary,
)
from storage.search.candidates import Candidate


def _user(session: Session, name: str = "ada") -> User:
    user = User(platform="console", external_id=name, display_name=name)
    session.add(user)
    session.flush()
    return user


def _paper(session: Session, number: int, title: str, abstract: str = "") -> Paper:
    paper = Paper(key=f"test:{number}", title=title, abstract=abstract)
    session.add(paper)
    session.flush()
    return paper


def _summary(
    session: Session,
    paper: Paper,
    author: User,
    tldr: str,
    body: str = "Nothing more to say.",
    status: SummaryStatus = SummaryStatus.APPROVED,
) -> Summary:
    summary = Summary(paper=paper, author=author, tldr=tldr, body=body, status=status)
    session.add(summary)
    session.flush()
    return summary


def _by_id(candidate: Candidate) -> int:
    return candidate.document_id


def _document_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SearchDocument)) or 0


@pytest.fixture
def library(db: Database) -> dict[str, int]:
    """Three indexed papers, one approved summary and one pending (not indexed)."""
    with db.transaction() as session:
        ada = _user(session)
        attention = _paper(
            session,
            1,
            "Attention is all you need",
            "We propose the Transformer, based solely on attention mechanisms.",
        )
        learning = _paper(
            session,
            2,
            "Learning to learn by gradient descent by gradient descent",
            "The move from hand-designed features to learned features has been a success.",
        )
        graphs = _paper(session, 3, "Semi-supervised classification with graph networks")
        for paper in (attention, learning, graphs):
            index_paper(session, paper)
        approved = _summary(
            session,
            learning,
            ada,
            "An LSTM learns the optimizer that trains another network.",
            "Meta-learning: a recurrent net proposes the parameter updates. Spectacular.",
        )
        index_summary(session, approved)
        pending = _summary(
            session,
            graphs,
            ada,
            "Convolutions generalised to graphs with a zebrafish example.",
            status=SummaryStatus.PENDING,
        )
        return {
            "attention": attention.id,
            "learning": learning.id,
            "graphs": graphs.id,
            "approved": approved.id,
            "pending": pending.id,
        }


def test_a_word_in_a_title_finds_the_paper(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        hits = search.search(session, "transformer")
        title_hits = search.search(session, "Attention")
    assert [hit.paper_id for hit in hits] == [library["attention"]]
    assert [hit.paper_id for hit in title_hits] == [library["attention"]]
    assert title_hits[0].summary_ids == ()
    assert title_hits[0].score > 0


def test_a_word_only_in_an_approved_summary_finds_its_paper_and_summary(
    db: Database, library: dict[str, int]
) -> None:
    with db.transaction() as session:
        hits = search.search(session, "spectacular")
    assert len(hits) == 1
    assert hits[0].paper_id == library["learning"]
    assert hits[0].summary_ids == (library["approved"],)
    assert "spectacular" in hits[0].snippet.lower()


def test_a_pending_summary_is_not_indexed_even_when_asked(
    db: Database, library: dict[str, int]
) -> None:
    with db.transaction() as session:
        assert search.search(session, "zebrafish") == []
        pending = session.get(Summary, library["pending"])
        assert pending is not None
        index_summary(session, pending)
        assert search.search(session, "zebrafish") == []
        assert _document_count(session) == 4


def test_unindex_summary_removes_its_document(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        assert search.search(session, "spectacular") != []
        unindex_summary(session, library["approved"])
    with db.transaction() as session:
        assert search.search(session, "spectacular") == []
        assert _document_count(session) == 3
        unindex_summary(session, library["approved"])  # already gone: nothing happens
        assert _document_count(session) == 3
        # The paper itself is still found by its own words.
        assert [hit.paper_id for hit in search.search(session, "descent")] == [library["learning"]]


def test_withdrawing_and_reindexing_removes_the_summary(
    db: Database, library: dict[str, int]
) -> None:
    with db.transaction() as session:
        summary = session.get(Summary, library["approved"])
        assert summary is not None
        summary.status = SummaryStatus.WITHDRAWN
        index_summary(session, summary)
        assert _document_count(session) == 3
        assert search.search(session, "spectacular") == []


def test_a_summary_no_longer_approved_is_never_returned(
    db: Database, library: dict[str, int]
) -> None:
    # A caller that changes the status but forgets to unindex must not leak the text.
    with db.transaction() as session:
        summary = session.get(Summary, library["approved"])
        assert summary is not None
        summary.status = SummaryStatus.REJECTED
        session.flush()
        assert _document_count(session) == 4
        assert search.search(session, "spectacular") == []


def test_a_summary_no_longer_approved_makes_room_for_the_next_paper(db: Database) -> None:
    """Statuses are read for the papers about to be shown only; when the best match is a
    summary no longer approved (and not unindexed), the next papers fill the list and a
    shown paper lists only its approved summaries."""
    with db.transaction() as session:
        author, other = _user(session), _user(session, "grace")  # one summary a paper each
        first, second, third = (_paper(session, n, f"Paper {n}") for n in (1, 2, 3))
        refused = _summary(session, first, author, "heron heron heron heron", "heron heron")
        approved = {
            paper.id: _summary(session, paper, author, "heron and other birds")
            for paper in (second, third)
        }
        also_refused = _summary(session, third, other, "a heron heron", "heron heron")
        for summary in (refused, *approved.values(), also_refused):
            index_summary(session, summary)
        refused.status = also_refused.status = SummaryStatus.REJECTED
        session.flush()
        hits = search.search(session, "heron", limit=2)
    assert sorted(hit.paper_id for hit in hits) == sorted(approved)
    for hit in hits:
        assert hit.summary_ids == (approved[hit.paper_id].id,)


def test_a_shown_paper_lists_its_summaries_that_rank_below_the_next_paper(db: Database) -> None:
    """Only the first ``limit`` papers are made, but the candidates after them still add
    their summaries to those papers."""
    with db.transaction() as session:
        ada, grace = _user(session), _user(session, "grace")
        shown, other = _paper(session, 1, "Paper 1"), _paper(session, 2, "Paper 2")
        best = _summary(session, shown, ada, "heron heron heron heron", "heron heron heron")
        middle = _summary(session, other, ada, "heron heron", "heron heron")
        last = _summary(session, shown, grace, "a heron", "and nothing more")
        for summary in (best, middle, last):
            index_summary(session, summary)
        hits = search.search(session, "heron", limit=1)
    assert [hit.paper_id for hit in hits] == [shown.id]
    assert hits[0].summary_ids == (best.id, last.id)


@pytest.mark.parametrize("words", ["optimizers", "optimizing", "OPTIMIZER"])
def test_words_are_stemmed(db: Database, library: dict[str, int], words: str) -> None:
    with db.transaction() as session:
        hits = search.search(session, words)
    assert [hit.paper_id for hit in hits] == [library["learning"]]
    assert hits[0].summary_ids == (library["approved"],)


def test_several_words_must_all_match(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        one = {hit.paper_id for hit in search.search(session, "learned")}
        both = search.search(session, "learned features")
        neither = search.search(session, "learned transformer")
    assert one == {library["learning"]}
    assert [hit.paper_id for hit in both] == [library["learning"]]
    assert neither == []


def test_words_across_title_and_body_match_together(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        hits = search.search(session, "gradient spectacular")
    assert [hit.paper_id for hit in hits] == [library["learning"]]
    assert hits[0].summary_ids == (library["approved"],)


HOSTILE = [
    '"',
    '""',
    "*",
    "graph*",
    "NEAR(",
    "NEAR(graph networks, 2)",
    "a OR",
    "OR",
    "AND NOT",
    "-",
    "-graph",
    ":",
    "title:graph",
    "{title body}: graph",
    "^graph",
    "'",
    "'; DROP TABLE papers; --",
    "(((",
    '"unbalanced quote',
    "graph\x00networks",
    "graph\ud800networks \udfff",
    "naïve café 数据 🚀 ﷽ \u200b \u0301",
    "x" * 1000,
    "graph " * 200,
    "a" * 3000,
    "!@#$%^&*()_+=[]{}|\\;,./<>?~`",
]


@pytest.mark.parametrize("words", HOSTILE)
def test_hostile_input_never_raises(db: Database, library: dict[str, int], words: str) -> None:
    with db.transaction() as session:
        hits = search.search(session, words)
        # The session is still usable afterwards: nothing failed inside the transaction.
        assert session.scalar(select(func.count()).select_from(Paper)) == 3
    assert isinstance(hits, list)
    assert all(isinstance(hit, search.SearchHit) for hit in hits)


def test_quotes_and_operators_are_taken_as_words(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        quoted = search.search(session, '"graph"')
        starred = search.search(session, "graph*")
        grouped = search.search(session, "(graph)")
        prefix = search.search(session, "gra*")
    for hits in (quoted, starred, grouped):
        assert [hit.paper_id for hit in hits] == [library["graphs"]]
    # "*" is not a prefix operator here: "gra*" is the word "gra", which nothing contains.
    assert prefix == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(words=st.text(max_size=80))
def test_any_text_is_a_valid_query(db: Database, words: str) -> None:
    with db.transaction() as session:
        assert isinstance(search.search(session, words), list)


@pytest.mark.parametrize("words", ["", "   ", "\t\n", '"" * - : ( )', "\x00"])
def test_a_query_without_words_returns_nothing(
    db: Database, library: dict[str, int], words: str
) -> None:
    with db.transaction() as session:
        assert search.search(session, words) == []


def test_a_limit_below_one_returns_nothing(db: Database, library: dict[str, int]) -> None:
    with db.transaction() as session:
        assert search.search(session, "descent", limit=0) == []
        assert search.search(session, "descent", limit=-3) == []


def test_the_match_expression_quotes_every_word() -> None:
    assert sqlite_match_expression(['say "hi"', "NEAR(", "a"]) == '"say ""hi""" "NEAR(" "a"'
    assert sqlite_match_expression(["", "x"]) == '"x"'


def test_the_better_document_ranks_first(db: Database) -> None:
    filler = "a study of unrelated matters in some depth and detail"
    with db.transaction() as session:
        once = _paper(session, 1, "Paper one", f"kernel {filler} {filler}")
        often = _paper(session, 2, "Paper two", f"kernel kernel kernel {filler} kernel")
        for paper in (often, once):
            index_paper(session, paper)
        hits = search.search(session, "kernel")
    assert [hit.paper_id for hit in hits] == [often.id, once.id]
    assert hits[0].score > hits[1].score


def test_the_snippet_is_short_plain_text_around_the_match(db: Database) -> None:
    before = " ".join(f"before{i}" for i in range(300))
    after = " ".join(f"after{i}" for i in range(300))
    with db.transaction() as session:
        paper = _paper(session, 1, "A long one", f"{before}\n\n  needle   found here\n{after}")
        index_paper(session, paper)
        hits = search.search(session, "needle")
    assert len(hits) == 1
    snippet = hits[0].snippet
    assert "needle" in snippet
    assert len(snippet) <= SNIPPET_CHARS
    assert "\n" not in snippet
    assert "<b>" not in snippet


def test_the_excerpt_comes_from_the_title_when_only_the_title_matches(db: Database) -> None:
    with db.transaction() as session:
        paper = _paper(session, 1, "Capsule routing", "Some abstract about other things.")
        index_paper(session, paper)
        both = _paper(session, 2, "Capsule nets", "An abstract on capsule networks.")
        index_paper(session, both)
        hits = {hit.paper_id: hit.snippet for hit in search.search(session, "capsule")}
    assert "Capsule routing" in hits[paper.id]
    assert "capsule" in hits[both.id].lower()


def test_a_word_in_more_documents_than_the_bound_gives_the_newest_papers(db: Database) -> None:
    total = CANDIDATE_LIMIT * 3
    with db.transaction() as session:
        # Ten summaries a paper, so ten authors: an author has one summary of a paper.
        authors = [_user(session, f"author{n}") for n in range(10)]
        papers = [_paper(session, n, f"Paper number {n}") for n in range(total // 10)]
        summaries = [
            Summary(
                paper=papers[n // 10],
                author=authors[n % 10],
                tldr=f"Common ubiquitous words, entry {n}.",
                body="ubiquitous " + ("rare marker" if n == 0 else "filler"),
                status=SummaryStatus.APPROVED,
            )
            for n in range(total)
        ]
        session.add_all(summaries)
        session.flush()
        for summary in summaries:
            index_summary(session, summary)
        top = search.search(session, "ubiquitous", limit=7)
        everything = search.search(session, "ubiquitous", limit=total)
        rare = search.search(session, "rare ubiquitous")
        paper_of = {summary.id: summary.paper_id for summary in summaries}
        newest = {summary.id for summary in summaries[-CANDIDATE_LIMIT:]}
    assert len(top) == 7
    assert len({hit.paper_id for hit in top}) == 7
    for hit in top:
        assert hit.summary_ids
        assert all(paper_of[summary_id] == hit.paper_id for summary_id in hit.summary_ids)
    # Only the CANDIDATE_LIMIT newest matching documents are ranked (the documented trade-off).
    found = {summary_id for hit in everything for summary_id in hit.summary_ids}
    assert found == newest
    assert len(everything) == CANDIDATE_LIMIT // 10
    # A rare word is found however old its document: it is among few matches.
    assert [hit.paper_id for hit in rare] == [papers[0].id]
    assert rare[0].summary_ids == (summaries[0].id,)


def test_every_hit_shown_has_its_excerpt(db: Database) -> None:
    """The shown documents are spread among many matches, each more often repeating the
    word the older it is, so the best ones are not the newest; each gets its excerpt."""
    with db.transaction() as session:
        papers = [
            _paper(
                session,
                n,
                f"Paper number {n}",
                f"entry {n} " + "plenty " * (1 + (60 - n) // 6) + "of unrelated words " * 8,
            )
            for n in range(60)
        ]
        for paper in papers:
            index_paper(session, paper)
        hits = search.search(session, "plenty", limit=12)
    assert len(hits) == 12
    for hit in hits:
        assert "plenty" in hit.snippet, hit


def test_reindexing_is_idempotent_and_follows_edits(db: Database) -> None:
    with db.transaction() as session:
        ada = _user(session)
        paper = _paper(session, 1, "Dropout: a simple way", "Prevent co-adaptation.")
        summary = _summary(session, paper, ada, "Randomly drop units while training.")
        for _ in range(3):
            index_paper(session, paper)
            index_summary(session, summary)
        assert _document_count(session) == 2
        ids_before = set(session.scalars(select(SearchDocument.id)))

        summary.body = "Now it talks about ensembles."
        paper.title = "Dropout revisited"
        index_summary(session, summary)
        index_paper(session, paper)
        assert _document_count(session) == 2
        assert set(session.scalars(select(SearchDocument.id))) == ids_before
        assert [hit.summary_ids for hit in search.search(session, "ensembles")] == [(summary.id,)]
        assert search.search(session, "simple") == []
        # The summary's document carries the new title too.
        assert search.search(session, "revisited")[0].summary_ids == (summary.id,)
        titles = set(session.scalars(select(SearchDocument.title)))
        assert titles == {"Dropout revisited"}


def test_rebuild_index_recreates_every_document(db: Database) -> None:
    with db.transaction() as session:
        ada = _user(session)
        first = _paper(session, 1, "Batch normalization", "Internal covariate shift.")
        second = _paper(session, 2, "Layer normalization")
        approved = _summary(session, first, ada, "Normalize activations per mini-batch.")
        _summary(session, second, ada, "Pending words: quokka.", status=SummaryStatus.PENDING)
        # A stale document of a summary that was rejected later, and nothing else indexed.
        index_summary(session, approved)
        approved.status = SummaryStatus.REJECTED
        session.flush()
        fresh = _summary(session, second, _user(session, "bob"), "Normalize across features.")

    with db.transaction() as session:
        assert rebuild_index(session) == 3  # two papers and the one approved summary
    with db.transaction() as session:
        assert rebuild_index(session) == 3
        keys = set(session.scalars(select(SearchDocument.doc_key)))
        assert keys == {f"paper:{first.id}", f"paper:{second.id}", f"summary:{fresh.id}"}
        hits = search.search(session, "across features")
        assert [(hit.paper_id, hit.summary_ids) for hit in hits] == [(second.id, (fresh.id,))]
        assert search.search(session, "activations") == []
        # Stemming: "normalize" finds both titles ("normalization").
        assert {hit.paper_id for hit in search.search(session, "normalize")} == {
            first.id,
            second.id,
        }
        assert search.search(session, "quokka") == []
        assert [hit.paper_id for hit in search.search(session, "covariate")] == [first.id]


def test_upgrading_an_existing_database_indexes_its_content(db: Database) -> None:
    migrate.downgrade(db, "0001")
    with db.engine.begin() as connection:
        session = Session(bind=connection)
        ada = _user(session)
        paper = _paper(session, 1, "Deep residual learning", "Shortcut connections.")
        bob = _user(session, "bob")
        # The summaries table as 0001 made it: today's model has columns it lacks.
        for author, tldr, status in (
            (ada, "Skip connections let very deep nets train.", "approved"),
            (bob, "Pending: capybara.", "pending"),
        ):
            connection.execute(
                text(
                    "INSERT INTO summaries (paper_id, author_id, tldr, body, status, revision,"
                    " created_at, updated_at) VALUES (:paper, :author, :tldr, 'Nothing more.',"
                    " :status, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"paper": paper.id, "author": author.id, "tldr": tldr, "status": status},
            )
        paper_id = paper.id
        session.close()
    migrate.upgrade(db)
    with db.transaction() as session:
        assert _document_count(session) == 2
        hits = search.search(session, "skip")
        assert [hit.paper_id for hit in hits] == [paper_id]
        assert len(hits[0].summary_ids) == 1
        assert search.search(session, "capybara") == []


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database alone, for what only PostgreSQL does."""
    database = Database.connect(postgres_url)
    migrate.upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.mark.postgres
def test_postgres_access_paths_find_the_same_candidates(postgres_db: Database) -> None:
    # Walking the newest documents and reading the GIN index must agree; how far to walk
    # is chosen for the words at hand, so the walks are forced here.
    with postgres_db.transaction() as session:
        authors = [_user(session, f"author{n}") for n in range(10)]
        papers = [_paper(session, n, f"Paper {n} on kernels") for n in range(80)]
        for paper in papers:
            index_paper(session, paper)
        total = CANDIDATE_LIMIT + 300
        for n in range(total):
            summary = _summary(
                session,
                papers[n % len(papers)],
                authors[n // len(papers)],
                f"Entry {n} about kernels" + (" and lattices" if n % 3 == 0 else ""),
            )
            index_summary(session, summary)
        with_lattices = len(range(0, total, 3))
        expected = {"kernels": CANDIDATE_LIMIT, "kernel lattices": with_lattices}
        for words, count in expected.items():
            from_index = postgres_ranking.postgres_candidates(session, words, walk=None)
            walked = postgres_ranking.postgres_candidates(session, words, walk=10**6)
            too_short = postgres_ranking.postgres_candidates(session, words, walk=10)
            assert len(from_index) == count
            assert sorted(walked, key=_by_id) == sorted(from_index, key=_by_id)
            # A walk that comes up short falls back to the index.
            assert sorted(too_short, key=_by_id) == sorted(from_index, key=_by_id)
        # The candidates are the newest matches.
        candidates = postgres_ranking.postgres_candidates(session, "kernels")
        newest = sorted(candidate.document_id for candidate in candidates)
        all_ids = sorted(session.scalars(select(SearchDocument.id)))
        assert newest == all_ids[-CANDIDATE_LIMIT:]


@pytest.mark.postgres
def test_postgres_reads_each_match_once_whichever_way_the_rest_is_read(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the probe of the newest documents, the rest is walked or read from the index,
    and a walk that comes up short leaves the older matches to the index: each way must
    give the newest matches, each once (the bound is lowered so a small table has them
    all)."""
    monkeypatch.setattr(postgres_ranking, "CANDIDATE_LIMIT", 100)
    monkeypatch.setattr(postgres_ranking, "POSTGRES_PROBE", 20)
    total = 900
    with postgres_db.transaction() as session:
        for n in range(total):
            abstract = ["kernels"]
            abstract += ["lattices"] if n % 3 == 0 else []
            abstract += ["sparse"] if n < 100 else []  # the oldest only
            abstract += ["fresh"] if n < 100 or n >= total - 30 else []  # new, then a long gap
            session.add(Paper(key=f"test:{n}", title=f"Paper {n}", abstract=" ".join(abstract)))
        session.flush()
        for paper in session.scalars(select(Paper).order_by(Paper.id)):
            index_paper(session, paper)
        statements: list[str] = []
        event.listen(
            postgres_db.engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_: statements.append(statement),
        )
        ways = {
            "kernels": ["LIMIT %(walk)s", "LIMIT %(walk)s"],  # the probe, then a walk
            "lattices": ["LIMIT %(walk)s", "id + 0"],  # 1 in 3: the index after the probe
            "sparse": ["LIMIT %(walk)s", "id + 0"],  # nothing in the probe: the index
            "fresh": ["LIMIT %(walk)s", "LIMIT %(walk)s", "id + 0"],  # a walk too short
        }
        for words, way in ways.items():
            statements.clear()
            found = postgres_ranking.postgres_candidates(session, words)
            taken = [next(m for m in ("LIMIT %(walk)s", "id + 0") if m in s) for s in statements]
            expected = postgres_ranking.postgres_candidates(session, words, walk=None)
            assert taken == way, words
            assert len(expected) == 100
            assert sorted(found, key=_by_id) == sorted(expected, key=_by_id), words


@pytest.mark.postgres
def test_postgres_search_leaves_the_plan_cache_setting_as_it_was(postgres_db: Database) -> None:
    with postgres_db.transaction() as session:
        paper = _paper(session, 1, "Wasserstein GAN")
        index_paper(session, paper)
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        for _ in range(7):  # past psycopg's prepare threshold
            assert [hit.paper_id for hit in search.search(session, "wasserstein")] == [paper.id]
        setting = session.scalar(text("SELECT current_setting('plan_cache_mode')"))
    assert setting == "force_generic_plan"


@pytest.mark.postgres
def test_postgres_search_statements_are_never_prepared(postgres_db: Database) -> None:
    """A prepared statement may get one generic plan for every word; psycopg prepares a
    statement from its fifth run unless told not to, and its threshold is put back."""
    with postgres_db.transaction() as session:
        paper = _paper(session, 1, "Wasserstein GAN")
        index_paper(session, paper)
        driver: Any = session.connection().connection.driver_connection
        threshold = driver.prepare_threshold
        for _ in range(7):  # past psycopg's prepare threshold
            assert [hit.paper_id for hit in search.search(session, "wasserstein")] == [paper.id]
        prepared = session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
        assert driver.prepare_threshold == threshold
    assert not [statement for statement in prepared if "search_documents" in statement]


def _bulk_paper(connection: Connection, number: int, title: str) -> None:
    paper_id = connection.execute(
        insert(Paper).values(key=f"bulk:{number}", title=title, abstract="").returning(Paper.id)
    ).scalar_one()
    connection.execute(
        insert(SearchDocument).values(
            doc_key=f"paper:{paper_id}", paper_id=paper_id, title=title, body=""
        )
    )


def test_rows_written_during_a_bulk_load_are_found_once_it_ends(db: Database) -> None:
    connection = db.engine.connect().execution_options(shortscience_write=True)
    with connection, search.bulk_indexing(connection), connection.begin():
        for number in range(30):
            _bulk_paper(connection, number, f"Bulk loaded platypus {number}")
    with db.transaction() as session:
        assert len(search.search(session, "platypus", limit=50)) == 30
        # Upkeep is back: a document written afterwards is indexed as it is written.
        paper = _paper(session, 99, "A later wombat")
        index_paper(session, paper)
    with db.transaction() as session:
        assert [hit.paper_id for hit in search.search(session, "wombat")] == [paper.id]


def test_a_failed_bulk_load_leaves_the_index_and_its_upkeep_in_place(
    db: Database, library: dict[str, int]
) -> None:
    with db.engine.connect().execution_options(shortscience_write=True) as connection:
        failing = pytest.raises(RuntimeError, match="disk full")
        with failing, search.bulk_indexing(connection), connection.begin():
            _bulk_paper(connection, 1, "Never committed echidna")
            raise RuntimeError("disk full")
    with db.transaction() as session:
        assert search.search(session, "echidna") == []
        assert [hit.paper_id for hit in search.search(session, "transformer")] == [
            library["attention"]
        ]
        paper = _paper(session, 98, "A later quokka")
        index_paper(session, paper)
    with db.transaction() as session:
        assert [hit.paper_id for hit in search.search(session, "quokka")] == [paper.id]
