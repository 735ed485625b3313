"""The schema itself keeps the rules: no double posting, no lost submissions, valid states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from storage.database import Database
from storage.models import (
    TLDR_MAX_CODE_POINTS,
    Channel,
    ChannelKind,
    Delivery,
    Digest,
    DigestItem,
    ModerationAction,
    ModerationEvent,
    Paper,
    PaperAuthor,
    PaperCategory,
    Summary,
    SummaryStatus,
    User,
)


def _paper(session: Session, arxiv_id: str = "1606.04474") -> Paper:
    paper = Paper(
        key=f"arxiv:{arxiv_id}",
        arxiv_id=arxiv_id,
        arxiv_version=2,
        title="Learning to learn by gradient descent by gradient descent",
        authors=[
            PaperAuthor(position=i, name=name)
            for i, name in enumerate(["Marcin Andrychowicz", "Misha Denil", "Sergio Gomez"])
        ],
        categories=[PaperCategory(category="cs.NE"), PaperCategory(category="cs.LG")],
        year=2016,
    )
    session.add(paper)
    session.flush()
    return paper


def _user(session: Session, name: str = "ada") -> User:
    user = User(platform="console", external_id=name, display_name=name)
    session.add(user)
    session.flush()
    return user


def _summary(session: Session, paper: Paper, author: User, **values: object) -> Summary:
    summary = Summary(paper=paper, author=author, tldr="An RNN learns the optimizer.", body="x")
    for name, value in values.items():
        setattr(summary, name, value)
    session.add(summary)
    session.flush()
    return summary


def _channel(session: Session, name: str) -> Channel:
    channel = Channel(name=name, kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
    session.add(channel)
    session.flush()
    return channel


def test_authors_keep_their_order_and_categories_are_stored(db: Database) -> None:
    with db.transaction() as session:
        _paper(session)
    with db.sessions() as session:
        paper = session.scalars(select(Paper)).one()
        assert paper.author_names == ["Marcin Andrychowicz", "Misha Denil", "Sergio Gomez"]
        assert paper.category_names == ["cs.LG", "cs.NE"]


def test_a_paper_without_an_arxiv_id_fits(db: Database) -> None:
    with db.transaction() as session:
        session.add(
            Paper(
                key="bibsonomy:2c6b7f5a",
                doi="10.48550/arXiv.2006.09661",
                title="Implicit Neural Representations with Periodic Activation Functions",
                authors=[PaperAuthor(position=0, name="Sitzmann, Vincent")],
                venue="Bibsonomy",
                year=2020,
            )
        )
    with db.sessions() as session:
        paper = session.scalars(select(Paper)).one()
        assert paper.arxiv_id is None
        assert paper.venue == "Bibsonomy"


def test_arxiv_papers_are_keyed_by_their_id(db: Database) -> None:
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(Paper(key="doi:10.1/other", arxiv_id="1606.04474", title="t"))


def test_a_summary_reaches_a_channel_only_once(db: Database) -> None:
    with db.transaction() as session:
        summary = _summary(session, _paper(session), _user(session))
        channel = _channel(session, "outbox")
        first = Digest(channel_id=channel.id)
        second = Digest(channel_id=channel.id)
        session.add_all([first, second])
        session.flush()
        session.add(
            DigestItem(digest_id=first.id, channel_id=channel.id, summary_id=summary.id, position=0)
        )
        ids = (second.id, channel.id, summary.id)
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(DigestItem(digest_id=ids[0], channel_id=ids[1], summary_id=ids[2], position=0))


def test_the_same_summary_may_go_to_two_channels(db: Database) -> None:
    with db.transaction() as session:
        summary = _summary(session, _paper(session), _user(session))
        for name in ("outbox", "x-main"):
            channel = _channel(session, name)
            digest = Digest(channel_id=channel.id)
            session.add(digest)
            session.flush()
            session.add(
                DigestItem(
                    digest_id=digest.id, channel_id=channel.id, summary_id=summary.id, position=0
                )
            )
    with db.sessions() as session:
        assert len(session.scalars(select(DigestItem)).all()) == 2


def test_a_digest_item_cannot_claim_another_channel(db: Database) -> None:
    with db.transaction() as session:
        summary = _summary(session, _paper(session), _user(session))
        mine, other = _channel(session, "outbox"), _channel(session, "x-main")
        digest = Digest(channel_id=mine.id)
        session.add(digest)
        session.flush()
        ids = (digest.id, other.id, summary.id)
    # Claiming the other channel would dodge the once-per-channel key; the composite key refuses.
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(DigestItem(digest_id=ids[0], channel_id=ids[1], summary_id=ids[2], position=0))


def test_a_delivery_part_exists_once_per_digest(db: Database) -> None:
    with db.transaction() as session:
        channel = _channel(session, "outbox")
        digest = Digest(channel_id=channel.id)
        session.add(digest)
        session.flush()
        session.add(
            Delivery(
                digest_id=digest.id, channel_id=channel.id, part=0, text="a", idempotency_key="k1"
            )
        )
        ids = (digest.id, channel.id)
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(
            Delivery(digest_id=ids[0], channel_id=ids[1], part=0, text="b", idempotency_key="k2")
        )


def test_a_tldr_past_the_code_point_backstop_is_refused_by_the_database(db: Database) -> None:
    # The commands count 280 graphemes; the database keeps a ceiling in code points.
    with db.transaction() as session:
        paper_id, user_id = _paper(session).id, _user(session).id
    with pytest.raises((IntegrityError, DataError)), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO summaries (paper_id, author_id, tldr, body, status, revision,"
                " created_at, updated_at) VALUES (:p, :u, :t, 'b', 'pending', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"p": paper_id, "u": user_id, "t": "x" * (TLDR_MAX_CODE_POINTS + 1)},
        )


def test_an_unknown_status_is_refused_by_the_database(db: Database) -> None:
    with db.transaction() as session:
        summary_id = _summary(session, _paper(session), _user(session)).id
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            text("UPDATE summaries SET status = 'published' WHERE id = :id"), {"id": summary_id}
        )


def test_a_paper_with_summaries_cannot_be_deleted(db: Database) -> None:
    with db.transaction() as session:
        paper = _paper(session)
        _summary(session, paper, _user(session))
        paper_id = paper.id
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM papers WHERE id = :id"), {"id": paper_id})


def test_a_summary_cannot_point_at_a_missing_paper(db: Database) -> None:
    with db.transaction() as session:
        user_id = _user(session).id
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(Summary(paper_id=999_999, author_id=user_id, tldr="t", body="b"))


def test_times_come_back_aware_and_in_utc(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 26, 10, 30, tzinfo=berlin)
    with db.transaction() as session:
        _summary(
            session,
            _paper(session),
            _user(session),
            approved_at=moment,
            status=SummaryStatus.APPROVED,
        )
    with db.sessions() as session:
        stored = session.scalars(select(Summary)).one()
        assert stored.approved_at == moment
        assert stored.approved_at.tzinfo is not None
        assert stored.approved_at.utcoffset() == timedelta(0)
        assert stored.created_at.tzinfo is not None


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as session:
        _summary(session, _paper(session), _user(session), approved_at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_the_audit_log_records_who_did_what(db: Database) -> None:
    with db.transaction() as session:
        user = _user(session)
        summary = _summary(session, _paper(session), user)
        session.add(
            ModerationEvent(
                summary_id=summary.id, actor_id=user.id, action=ModerationAction.SUBMITTED
            )
        )
    with db.sessions() as session:
        event = session.scalars(select(ModerationEvent)).one()
        assert event.action is ModerationAction.SUBMITTED
        assert event.actor.display_name == "ada"
        assert event.created_at <= datetime.now(UTC)


def test_an_author_has_one_active_summary_of_a_paper_whatever_writes_it(db: Database) -> None:
    with db.transaction() as session:
        paper, user = _paper(session), _user(session)
        first = _summary(session, paper, user)
        ids = (paper.id, user.id, first.id)
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(Summary(paper_id=ids[0], author_id=ids[1], tldr="t", body="b"))
    # Once the first is withdrawn the author may write another.
    with db.transaction() as session:
        session.get_one(Summary, ids[2]).status = SummaryStatus.WITHDRAWN
    with db.transaction() as session:
        session.add(Summary(paper_id=ids[0], author_id=ids[1], tldr="t", body="b"))
