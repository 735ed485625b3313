"""What an X channel's month costs: parts sent this calendar month (UTC), priced by whether
they hold a URL, and the parts committed to be sent; on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage import channels as channel_store
from storage import deliveries as outbox
from storage import digests as digest_store
from storage import spending
from storage.database import Database
from storage.models import Digest, DigestStatus
from storage.spending import XPrices

PRICES = XPrices(0.01, 0.25)
"""Not the shipped prices: the configured ones must be the ones used."""
DEC = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def channel(db: Database, name: str = "x-main") -> int:
    with db.transaction() as session:
        return channel_store.sync(
            session, name, "x", {"schedule": "0 9 * * *"}, configured=True, now=DEC
        ).id


def digest(
    db: Database, channel_id: int, urls: list[bool], *, at: datetime = DEC, approved: bool = True
) -> int:
    """A digest of one part per entry of ``urls`` (True: the part holds a URL)."""
    with db.transaction() as session:
        parts = [
            digest_store.NewPart(post=n, position=0, text=f"part {n}", key=secrets.token_hex(8),
                                 has_url=url)
            for n, url in enumerate(urls)
        ]  # fmt: skip
        return digest_store.create_digest(
            session, channel_id, [], parts, approved=approved, now=at
        ).id


def send(db: Database, at: datetime, count: int = 1000) -> int:
    """The worker's storage side: claim each due part and record it sent at ``at``."""
    sent = 0
    while sent < count:
        with db.transaction() as session:
            claim = outbox.claim_next(session, at, LEASE, secrets.token_hex(16))
            if claim is None:
                break
            outbox.record_sent(session, claim, outbox.RemoteRef(secrets.token_hex(4)), at)
            sent += 1
    return sent


def month(db: Database, channel_id: int | None, now: datetime = DEC) -> spending.Spending:
    with db.sessions() as session:
        return spending.month_spending(session, channel_id, now, PRICES)


def test_sent_parts_are_priced_by_whether_they_hold_a_url(db: Database) -> None:
    x = channel(db)
    digest(db, x, [True, False, True, False, False])
    assert send(db, DEC) == 5
    spent = month(db, x)
    assert (spent.sent_posts, spent.sent_with_url) == (5, 2)
    assert spent.sent_usd == pytest.approx(3 * 0.01 + 2 * 0.25)
    assert (spent.committed_posts, spent.committed_usd) == (0, 0)
    assert spent.total_usd == pytest.approx(0.53)


def test_a_part_sent_last_month_is_not_counted(db: Database) -> None:
    x = channel(db)
    digest(db, x, [True])
    send(db, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))  # the last second of November
    digest(db, x, [False])
    send(db, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # the first of December
    december = month(db, x)
    assert december.month_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert (december.sent_posts, december.sent_with_url) == (1, 0)
    november = month(db, x, datetime(2026, 11, 15, tzinfo=UTC))
    assert (november.sent_posts, november.sent_with_url) == (1, 1)
    # A new year: December's parts are last month's.
    january = month(db, x, datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    assert january.month_start == datetime(2027, 1, 1, tzinfo=UTC)
    assert january.sent_posts == 0


def test_the_month_is_the_utc_calendar_month(db: Database) -> None:
    """Late on 30 November in New York it is already December in UTC."""
    x = channel(db)
    digest(db, x, [True])
    send(db, datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=new_york)  # 01:00 UTC on 1 December
    assert month(db, x, evening).month_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert month(db, x, evening).sent_posts == 0


def test_approved_digests_not_sent_yet_are_committed_and_drafts_are_not(db: Database) -> None:
    x = channel(db)
    digest(db, x, [True, False])
    digest(db, x, [True])  # a second digest built in the same month counts too
    draft = digest(db, x, [True, True, True], approved=False)
    spent = month(db, x)
    assert (spent.committed_posts, spent.committed_with_url) == (3, 2)
    assert spent.committed_usd == pytest.approx(0.01 + 2 * 0.25)
    assert spent.sent_posts == 0
    # Sending moves a part from committed to sent: never counted twice.
    assert send(db, DEC, count=2) == 2
    spent = month(db, x)
    assert (spent.sent_posts, spent.committed_posts) == (2, 1)
    assert spent.total_usd == pytest.approx(0.01 + 2 * 0.25)
    # A rejected draft stays out; an approved one is committed.
    with db.transaction() as session:
        assert digest_store.decide(session, draft, approve=True, moderator_id=None, now=DEC)
    assert month(db, x).committed_posts == 4


def test_failed_and_held_parts_are_committed_cancelled_ones_are_not(db: Database) -> None:
    x = channel(db)
    failed = digest(db, x, [True, False])
    with db.transaction() as session:
        claim = outbox.claim_next(session, DEC, LEASE, "a" * 32)
        assert claim is not None and claim.digest_id == failed
        outbox.record_failed(session, claim, "X credits exhausted", DEC)
    # The failed part and the one after it go out once the channel is resumed.
    assert month(db, x).committed_posts == 2
    rejected = digest(db, x, [True], approved=False)
    with db.transaction() as session:
        digest_store.decide(session, rejected, approve=False, moderator_id=None, now=DEC)
        assert session.get_one(Digest, rejected).status is DigestStatus.REJECTED
    spent = month(db, x)
    assert (spent.committed_posts, spent.committed_with_url) == (2, 1)


def test_only_the_channels_own_parts_count(db: Database) -> None:
    x, other = channel(db), channel(db, "x-second")
    digest(db, other, [True, True])
    send(db, DEC)
    digest(db, other, [True])
    assert month(db, x) == spending.Spending(datetime(2026, 12, 1, tzinfo=UTC), PRICES)
    assert month(db, other).total_usd == pytest.approx(0.75)
    assert month(db, None).total_usd == 0


def test_amounts_read_as_prices() -> None:
    assert spending.dollars(0.8) == "$0.80"
    assert spending.dollars(19.4) == "$19.40"
    assert spending.dollars(0.015) == "$0.015"
    assert spending.dollars(-0.3) == "-$0.30"
    assert spending.XPrices(0.015, 0.2).of(63, 5) == pytest.approx(58 * 0.015 + 5 * 0.2)
