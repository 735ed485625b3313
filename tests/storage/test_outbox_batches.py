"""The outbox's batch claim and batch record (``claim_due``, ``record_sent_all``), on SQLite
and PostgreSQL: a batch keeps every rule a claim of one part keeps.

A batch holds at most the earliest unsent part of each digest, so a thread still goes
out part after part; two workers claiming batches at once never share a part; a batch
left behind by a dead worker is claimable once its lease ends, and looked up first; a
batch's parts given back unsent are claimable at once; a batch's record writes only the
parts whose token it still holds.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select, text

from storage import deliveries as outbox
from storage import migrate
from storage.database import Database
from storage.deliveries import Claim
from storage.models import ChannelKind, Delivery, DeliveryState, Digest, DigestStatus
from tests.storage.test_outbox_rules import (
    EXPIRED,
    LEASE,
    NOW,
    Part,
    _blocked_or_done,
    add_channel,
    add_digest,
    claim,
    posted_as,
    row,
)


def batch(db: Database, at: datetime = NOW, limit: int = 10) -> list[Claim]:
    """One worker's batch, committed as the worker commits it before sending any part."""
    with db.transaction() as session:
        return outbox.claim_due(session, at, LEASE, uuid.uuid4().hex, limit=limit)


def parts(claims: list[Claim]) -> list[Part]:
    return [(taken.digest_id, taken.part) for taken in claims]


def send_all(db: Database, claims: list[Claim]) -> tuple[list[Claim], list[int]]:
    with db.transaction() as session:
        return outbox.record_sent_all(
            session, [(taken, posted_as(taken.digest_id, taken.part)) for taken in claims], NOW
        )


def test_a_batch_holds_the_next_part_of_each_digest_and_threads_keep_their_order(
    db: Database,
) -> None:
    """Three digests, threads of 3, 1+1 and 2: each batch takes the earliest unsent part of
    every digest and nothing behind it; each reply names the part before it and its root."""
    x = add_channel(db)
    mastodon = add_channel(db, "mastodon-main", ChannelKind.MASTODON)
    first = add_digest(db, x, threads=(3,))
    second = add_digest(db, mastodon, threads=(1, 1))
    third = add_digest(db, x, threads=(2,))
    rounds = []
    while taken := batch(db):
        rounds.append(parts(taken))
        for reply in (one for one in taken if one.position > 0):
            assert reply.reply_to == posted_as(reply.digest_id, reply.part - 1)
            assert reply.root == posted_as(reply.digest_id, reply.part - reply.position)
        recorded, _ = send_all(db, taken)
        assert recorded == taken
    assert rounds == [
        [(first, 0), (second, 0), (third, 0)],
        [(first, 1), (second, 1), (third, 1)],
        [(first, 2)],
    ]
    with db.sessions() as session:
        assert set(session.scalars(select(Digest.status))) == {DigestStatus.SENT}
        assert set(session.scalars(select(Delivery.attempts))) == {1}


def test_a_batch_takes_no_more_than_its_limit_and_the_rest_waits_for_the_next(
    db: Database,
) -> None:
    channel = add_channel(db)
    digests = [add_digest(db, channel) for _ in range(5)]
    first = batch(db, limit=2)
    second = batch(db, limit=10)
    assert parts(first) == [(digests[0], 0), (digests[1], 0)]
    assert parts(second) == [(digest, 0) for digest in digests[2:]]
    assert batch(db) == []


def test_a_dead_workers_batch_is_claimable_when_its_lease_ends_and_looked_up_first(
    db: Database,
) -> None:
    """A worker that died after committing its batch (some parts may be out): no part of it
    is taken while the lease runs; after, every one is, each to be looked up first."""
    channel = add_channel(db)
    digests = [add_digest(db, channel) for _ in range(3)]
    dead = batch(db)
    assert not any(one.look_first for one in dead)
    assert batch(db, NOW + LEASE / 2) == []
    taken = batch(db, EXPIRED)
    assert parts(taken) == [(digest, 0) for digest in digests]
    assert all(one.look_first and one.attempts == 2 for one in taken)


def test_parts_given_back_unsent_are_claimable_at_once_and_a_possible_post_still_looked_up(
    db: Database,
) -> None:
    """A worker stopped mid-batch gives back what it never tried: due again at once, as if
    never claimed; a part that was taken over from a dead worker stays to be looked up."""
    channel = add_channel(db)
    digests = [add_digest(db, channel) for _ in range(3)]
    batch(db, limit=1)  # its worker dies holding the first
    stopped = batch(db, EXPIRED)
    assert [one.look_first for one in stopped] == [True, False, False]
    with db.transaction() as session:
        assert outbox.record_unsent(session, stopped) == 3
    again = batch(db, EXPIRED)
    assert parts(again) == [(digest, 0) for digest in digests]
    assert [(one.look_first, one.attempts) for one in again] == [
        (True, 2),
        (False, 1),
        (False, 1),
    ]


def test_a_batch_records_only_the_parts_it_still_holds(db: Database) -> None:
    """One part of the batch was taken over by another worker once its lease ran out: the
    batch's record leaves it to that worker, records the others, and finishes only their
    digests."""
    channel = add_channel(db)
    digests = [add_digest(db, channel) for _ in range(3)]
    slow = batch(db, limit=2)
    taker = claim(db, EXPIRED)  # the first digest's part: its lease ran out
    assert taker is not None and (taker.digest_id, taker.part) == (digests[0], 0)
    with db.transaction() as session:
        assert outbox.renew(session, slow[1], EXPIRED + LEASE)
        assert not outbox.renew(session, slow[0], EXPIRED + LEASE)
    recorded, finished = send_all(db, slow)
    assert parts(recorded) == [(digests[1], 0)]
    assert finished == [digests[1]]
    first = row(db, taker.delivery_id)
    assert (first.state, first.claim_token, first.remote_id) == (
        DeliveryState.SENDING,
        taker.token,
        None,
    )
    assert row(db, slow[1].delivery_id).remote_id == posted_as(digests[1], 0).remote_id


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Database]:
    database = Database.connect(postgres_url)
    migrate.upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.mark.postgres
def test_two_batches_claimed_at_once_share_no_part_and_neither_waits(postgres: Database) -> None:
    """PostgreSQL: while one worker's batch is not yet committed, a second worker's batch
    skips its rows (SKIP LOCKED) and takes the other digests' parts without waiting."""
    db = postgres
    channel = add_channel(db)
    digests = [add_digest(db, channel) for _ in range(5)]
    pid: list[int] = []
    second: list[list[Claim]] = []
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            with db.transaction() as session:
                pid.append(int(session.scalar(text("SELECT pg_backend_pid()")) or 0))
                second.append(outbox.claim_due(session, NOW, LEASE, "2" * 32, limit=10))
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    with db.transaction() as session:
        first = outbox.claim_due(session, NOW, LEASE, "1" * 32, limit=2)
        worker = threading.Thread(target=second_worker)
        worker.start()
        waited = _blocked_or_done(db, worker, pid)
    worker.join()
    assert not errors
    assert (parts(first), parts(second[0]), waited) == (
        [(digest, 0) for digest in digests[:2]],
        [(digest, 0) for digest in digests[2:]],
        False,
    )
