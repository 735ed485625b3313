"""Publishing notices on their way to the moderation channel: each posted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import notices
from storage.database import Database
from storage.models import Channel, ChannelKind, PublishingNotice

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _notice(db: Database, text: str) -> None:
    with db.transaction() as session:
        channel = Channel(name="x-main", kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        notices.add_notice(session, channel.id, None, text, NOW)


def _claim_notices(db: Database, now: datetime = NOW) -> list[notices.ClaimedNotice]:
    with db.transaction() as session:
        return notices.claim_notices(session, now)


def test_a_notice_is_claimed_once(db: Database) -> None:
    _notice(db, "x-main is stopped.")
    [claimed] = _claim_notices(db)
    assert claimed.text == "x-main is stopped."
    assert _claim_notices(db) == []


def test_a_notice_whose_send_failed_is_claimed_again(db: Database) -> None:
    _notice(db, "x-main is stopped.")
    [claimed] = _claim_notices(db)
    with db.transaction() as session:
        assert notices.release_notice(session, claimed)
    [again] = _claim_notices(db, NOW + timedelta(seconds=10))
    assert again.id == claimed.id
    # The first claimer's late give-back does not undo the second claim.
    with db.transaction() as session:
        assert not notices.release_notice(session, claimed)
    with db.sessions() as session:
        posted = session.get_one(PublishingNotice, claimed.id).posted_at
    assert posted == NOW + timedelta(seconds=10)
