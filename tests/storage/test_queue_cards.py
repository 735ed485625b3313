"""Cards in the moderation channel: one per summary revision, whoever sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import queue_cards
from storage.database import Database
from storage.models import Paper, Summary, SummaryStatus, User

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _pending(db: Database, count: int = 1) -> list[int]:
    with db.transaction() as session:
        user = User(platform="console", external_id="ada", display_name="ada")
        paper = Paper(key="arxiv:1606.04474", arxiv_id="1606.04474", title="t")
        session.add_all([user, paper])
        session.flush()
        summaries = [
            Summary(paper_id=paper.id, author_id=user.id, tldr="t", body="b") for _ in range(count)
        ]
        session.add_all(summaries)
        session.flush()
        return [summary.id for summary in summaries]


def _claim(db: Database, now: datetime = NOW) -> list[queue_cards.Claim]:
    with db.transaction() as session:
        return queue_cards.claim_unposted(session, now)


def test_each_pending_summary_is_claimed_once(db: Database) -> None:
    ids = _pending(db, 3)
    assert [claim.summary_id for claim in _claim(db)] == ids
    assert _claim(db) == []


def test_an_edit_needs_a_new_card(db: Database) -> None:
    [summary_id] = _pending(db)
    [first] = _claim(db)
    with db.transaction() as session:
        queue_cards.mark_posted(session, first, channel_id=7, message_id=70, now=NOW)
        session.get(Summary, summary_id).revision = 2
    [second] = _claim(db)
    assert (second.revision, second.previous) == (2, 1)
    assert _claim(db) == []


def test_a_failed_send_is_released_for_the_next_sweep(db: Database) -> None:
    _pending(db)
    [claim] = _claim(db)
    with db.transaction() as session:
        queue_cards.release(session, claim)
    assert len(_claim(db)) == 1


def test_a_claim_whose_sender_died_is_taken_over_later(db: Database) -> None:
    _pending(db)
    assert len(_claim(db)) == 1
    assert _claim(db, NOW + timedelta(minutes=1)) == []
    assert len(_claim(db, NOW + queue_cards.STALE_CLAIM + timedelta(seconds=1))) == 1


def test_decided_summaries_need_no_card(db: Database) -> None:
    [summary_id] = _pending(db)
    with db.transaction() as session:
        session.get(Summary, summary_id).status = SummaryStatus.APPROVED
    assert _claim(db) == []
