"""Cards in the moderation channel: one per summary revision, whoever sweeps, kept true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import queue_cards
from storage.database import Database
from storage.models import Paper, Summary, SummaryStatus, User

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _pending(db: Database, count: int = 1) -> list[int]:
    """``count`` pending summaries, one per author (an author has one per paper)."""
    with db.transaction() as session:
        paper = Paper(key="arxiv:1606.04474", arxiv_id="1606.04474", title="t")
        users = [
            User(platform="console", external_id=f"user{n}", display_name=f"user{n}")
            for n in range(count)
        ]
        session.add_all([paper, *users])
        session.flush()
        summaries = [
            Summary(paper_id=paper.id, author_id=user.id, tldr="t", body="b") for user in users
        ]
        session.add_all(summaries)
        session.flush()
        return [summary.id for summary in summaries]


def _claim(db: Database, now: datetime = NOW) -> list[queue_cards.Claim]:
    with db.transaction() as session:
        return queue_cards.claim_unposted(session, now)


def _post(db: Database, claim: queue_cards.Claim, message_id: int) -> None:
    with db.transaction() as session:
        queue_cards.mark_posted(session, claim, channel_id=7, message_id=message_id, now=NOW)


def _outdated(db: Database) -> list[queue_cards.OpenCard]:
    with db.sessions() as session:
        return queue_cards.outdated(session)


def test_each_pending_summary_is_claimed_once(db: Database) -> None:
    ids = _pending(db, 3)
    claims = _claim(db)
    assert [claim.summary_id for claim in claims] == ids
    assert not any(claim.retry for claim in claims)
    assert _claim(db) == []


def test_an_edit_needs_a_new_card_and_the_old_one_is_due_to_be_closed(db: Database) -> None:
    [summary_id] = _pending(db)
    [first] = _claim(db)
    _post(db, first, 70)
    assert _outdated(db) == []
    with db.transaction() as session:
        session.get_one(Summary, summary_id).revision = 2
    [second] = _claim(db)
    assert (second.revision, second.retry) == (2, False)
    assert _claim(db) == []
    [old] = _outdated(db)
    assert (old.revision, old.message_id) == (1, 70)
    with db.transaction() as session:
        queue_cards.mark_closed(session, old, NOW)
    assert _outdated(db) == []


def test_a_decided_summary_needs_no_card_and_its_card_is_due_to_be_closed(db: Database) -> None:
    [summary_id] = _pending(db)
    [claim] = _claim(db)
    _post(db, claim, 70)
    with db.transaction() as session:
        session.get_one(Summary, summary_id).status = SummaryStatus.WITHDRAWN
    assert _claim(db) == []
    assert [card.summary_id for card in _outdated(db)] == [summary_id]


def test_a_failed_send_is_retried_by_the_next_sweep_as_a_retry(db: Database) -> None:
    _pending(db)
    [claim] = _claim(db)
    with db.transaction() as session:
        queue_cards.release(session, claim, NOW)
    [again] = _claim(db)
    assert again.retry, "the failed send may have reached Discord: the sender must look first"


def test_a_claim_whose_sender_died_is_taken_over_later_as_a_retry(db: Database) -> None:
    _pending(db)
    assert len(_claim(db)) == 1
    assert _claim(db, NOW + timedelta(minutes=1)) == []
    [taken] = _claim(db, NOW + queue_cards.STALE_CLAIM + timedelta(seconds=1))
    assert taken.retry


def test_a_posted_card_is_never_claimed_again(db: Database) -> None:
    _pending(db)
    [claim] = _claim(db)
    _post(db, claim, 70)
    assert _claim(db, NOW + queue_cards.STALE_CLAIM * 3) == []
