"""The outbox's rules, each pinned by a test that fails without it, on SQLite and PostgreSQL.

A worker takes one part at a time (``claim_next``: a lease and a token) and records what
became of it (``record_*``) only while it holds the token. These tests call the storage
functions as the worker does, one transaction each, and read the rows they leave.

Names used below: a digest's ``threads`` say how many parts each of its posts has, so
``(3,)`` is one thread of three parts and ``(1, 1)`` two single posts; ``(digest, part)``
names a part.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from storage import channels as channel_store
from storage import deliveries as outbox
from storage import digests as digest_store
from storage import migrate
from storage.database import Database
from storage.deliveries import Claim, RemoteRef
from storage.models import (
    Channel,
    ChannelKind,
    Delivery,
    DeliveryState,
    Digest,
    DigestStatus,
    PublishingNotice,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
EXPIRED = NOW + LEASE + timedelta(seconds=1)
"""Just after the lease of a claim made at NOW ended."""
LATER = NOW + timedelta(hours=1)

Part = tuple[int, int]
"""(digest id, part number)"""


# -- the outbox as the worker sees it ---------------------------------------------------------


def add_channel(db: Database, name: str = "x-main", kind: ChannelKind = ChannelKind.X) -> int:
    with db.transaction() as session:
        channel = Channel(name=name, kind=kind, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        return channel.id


def add_digest(
    db: Database, channel_id: int, threads: Sequence[int] = (1,), *, approved: bool = True
) -> int:
    parts = [
        digest_store.NewPart(
            post=post, position=position, text=f"post {post}, part {position}", key=uuid.uuid4().hex
        )
        for post, length in enumerate(threads)
        for position in range(length)
    ]
    with db.transaction() as session:
        digest = digest_store.create_digest(
            session, channel_id, [], parts, approved=approved, now=NOW
        )
        return digest.id


def claim(
    db: Database, at: datetime = NOW, channels: Collection[str] | None = None
) -> Claim | None:
    """One worker's claim, committed as the worker commits it before sending."""
    with db.transaction() as session:
        return outbox.claim_next(session, at, LEASE, uuid.uuid4().hex, channels)


def claimed(db: Database, at: datetime = NOW) -> Claim:
    taken = claim(db, at)
    assert taken is not None, f"nothing was due at {at}"
    return taken


def shape(threads: Sequence[int]) -> str:
    """A test id for a digest's threads: ``2+1`` is a thread of two, then a single post."""
    return "+".join(map(str, threads))


def where(taken: Claim | None) -> Part | None:
    return None if taken is None else (taken.digest_id, taken.part)


def posted_as(digest_id: int, part: int) -> RemoteRef:
    """What the network answered for a part: distinct for every part of every digest."""
    name = f"{digest_id}-{part}"
    return RemoteRef(f"remote-{name}", cid=f"cid-{name}", url=f"https://example.org/{name}")


def send(db: Database, taken: Claim, at: datetime = NOW) -> bool:
    with db.transaction() as session:
        return outbox.record_sent(session, taken, posted_as(taken.digest_id, taken.part), at)


def retry(db: Database, taken: Claim, at: datetime, *, look_first: bool = False) -> bool:
    with db.transaction() as session:
        return outbox.record_retry(session, taken, at, "timed out", look_first=look_first)


def hold(db: Database, taken: Claim, at: datetime = NOW) -> bool:
    with db.transaction() as session:
        return outbox.record_held(session, taken, "no answer and no way to look", at)


def fail(db: Database, taken: Claim, at: datetime = NOW) -> bool:
    with db.transaction() as session:
        return outbox.record_failed(session, taken, "token revoked", at)


def looked_up(db: Database, taken: Claim) -> None:
    with db.transaction() as session:
        outbox.record_looked_up(session, taken)


def release(db: Database, digest_id: int, *, posted: bool, at: datetime) -> None:
    with db.transaction() as session:
        assert outbox.release(session, digest_id, posted=posted, now=at) == 1


def row(db: Database, delivery_id: int) -> Delivery:
    with db.sessions() as session:
        return session.get_one(Delivery, delivery_id)


def digest_row(db: Database, digest_id: int) -> Digest:
    with db.sessions() as session:
        return session.get_one(Digest, digest_id)


def everything(db: Database) -> dict[str, Any]:
    """Every row a record could touch: deliveries, digests, channels and notices."""
    with db.sessions() as session:
        return {
            model.__tablename__: [
                r._asdict() for r in session.execute(select(model.__table__).order_by(model.id))
            ]
            for model in (Delivery, Digest, Channel, PublishingNotice)
        }


# -- the lease --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "after",
    [timedelta(0), timedelta(seconds=1), LEASE - timedelta(seconds=1), LEASE],
    ids=["same_moment", "a_second_later", "a_second_before_it_ends", "as_it_ends"],
)
def test_a_claimed_part_is_not_claimed_again_while_its_lease_runs(
    db: Database, after: timedelta
) -> None:
    """A second worker asking while the first one's lease runs gets nothing."""
    add_digest(db, add_channel(db))
    assert claimed(db, NOW).attempts == 1
    assert claim(db, NOW + after) is None


def went_quiet(db: Database, first: Claim) -> datetime:
    return EXPIRED


def went_quiet_twice(db: Database, first: Claim) -> datetime:
    claimed(db, EXPIRED)
    return EXPIRED + LEASE + timedelta(seconds=1)


def retried_maybe_out(db: Database, first: Claim) -> datetime:
    retry(db, first, LATER, look_first=True)
    return LATER


def retried_not_out(db: Database, first: Claim) -> datetime:
    retry(db, first, LATER)
    return LATER


def taken_over_then_retried(db: Database, first: Claim) -> datetime:
    retry(db, claimed(db, EXPIRED), LATER)
    return LATER


def taken_over_looked_up_then_retried(db: Database, first: Claim) -> datetime:
    second = claimed(db, EXPIRED)
    looked_up(db, second)
    retry(db, second, LATER)
    return LATER


@pytest.mark.parametrize(
    ("before", "look_first", "attempts"),
    [
        pytest.param(went_quiet, True, 2, id="went_quiet"),
        pytest.param(went_quiet_twice, True, 3, id="went_quiet_twice"),
        pytest.param(retried_maybe_out, True, 2, id="retried_maybe_out"),
        pytest.param(retried_not_out, False, 2, id="retried_not_out"),
        pytest.param(taken_over_then_retried, True, 3, id="taken_over_then_retried"),
        pytest.param(
            taken_over_looked_up_then_retried, False, 3, id="taken_over_looked_up_then_retried"
        ),
    ],
)
def test_a_part_claimed_again_is_looked_up_first_when_it_may_be_out(
    db: Database, before: Callable[[Database, Claim], datetime], look_first: bool, attempts: int
) -> None:
    """The next claim of a part whose earlier try may have posted it (its worker went quiet
    past the lease, or said so) says to look the post up first, until a look-up found
    nothing; every claim counts as an attempt and the first try's time is kept."""
    add_digest(db, add_channel(db), threads=(2,))
    first = claimed(db, NOW)
    at = before(db, first)
    again = claimed(db, at)
    assert (again.delivery_id, again.look_first, again.attempts) == (
        first.delivery_id,
        look_first,
        attempts,
    )
    assert again.first_attempt_at == NOW
    stored = row(db, again.delivery_id)
    assert (stored.state, stored.needs_lookup, stored.claim_token, stored.lease_until) == (
        DeliveryState.SENDING,
        look_first,
        again.token,
        at + LEASE,
    )


# -- only the token's holder records ----------------------------------------------------------

RECORDS: dict[str, Callable[[Session, Claim], bool | None]] = {
    "record_sent": lambda s, c: outbox.record_sent(s, c, posted_as(c.digest_id, c.part), LATER),
    "record_retry": lambda s, c: outbox.record_retry(s, c, LATER, "timed out", look_first=True),
    "record_held": lambda s, c: outbox.record_held(s, c, "no answer", LATER),
    "record_failed": lambda s, c: outbox.record_failed(s, c, "token revoked", LATER),
    "record_looked_up": outbox.record_looked_up,
}
REFUSED: dict[str, bool | None] = {name: False for name in RECORDS}
"""What each record says when it changed nothing."""


@pytest.mark.parametrize("record", RECORDS)
def test_a_worker_whose_part_was_taken_over_records_nothing(db: Database, record: str) -> None:
    """After another worker took the part over (the lease had run out), the first worker's
    result changes no row and says so; the worker that holds the part now records."""
    add_digest(db, add_channel(db), threads=(2,))
    first = claimed(db, NOW)
    second = claimed(db, EXPIRED)
    assert second.delivery_id == first.delivery_id
    before = everything(db)
    with db.transaction() as session:
        assert RECORDS[record](session, first) is REFUSED[record]
    assert everything(db) == before
    with db.transaction() as session:
        assert RECORDS[record](session, second) is not False
    assert everything(db) != before


def left_sent(db: Database, taken: Claim) -> None:
    assert send(db, taken)


def left_for_a_retry(db: Database, taken: Claim) -> None:
    assert retry(db, taken, LATER)


def left_held(db: Database, taken: Claim) -> None:
    assert hold(db, taken)


def left_failed(db: Database, taken: Claim) -> None:
    assert fail(db, taken)


def taken_back(db: Database, taken: Claim) -> None:
    with db.transaction() as session:
        digest_store.take_back_unsent(session, taken.digest_id)


@pytest.mark.parametrize("record", RECORDS)
@pytest.mark.parametrize(
    "left",
    [left_sent, left_for_a_retry, left_held, left_failed, taken_back],
    ids=lambda left: left.__name__,
)
def test_a_claim_records_one_result_only(
    db: Database, left: Callable[[Database, Claim], None], record: str
) -> None:
    """Once a part is no longer being sent (recorded, or taken back for single posts), its
    claim records nothing more, though its token is still on the row."""
    add_digest(db, add_channel(db), threads=(2,))
    claimed(db, NOW)
    taken = claimed(db, EXPIRED)  # a take-over: to be looked up, which a record could undo
    left(db, taken)
    assert row(db, taken.delivery_id).claim_token == taken.token
    before = everything(db)
    with db.transaction() as session:
        assert RECORDS[record](session, taken) is REFUSED[record]
    assert everything(db) == before


# -- what is never claimed --------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A part no worker gets now, and what lets it go (None: nothing ever does)."""

    at: datetime
    channels: Collection[str] | None
    then: Callable[[], Claim | None] | None
    then_claimed: Part | None = None


def a_held_part(db: Database) -> Waiting:
    """Held: it may be out and the network cannot say; a moderator decides."""
    digest = add_digest(db, add_channel(db))
    assert hold(db, claimed(db))

    def resend() -> Claim | None:
        release(db, digest, posted=False, at=LATER)
        return claim(db, LATER)

    return Waiting(LATER, None, resend, (digest, 0))


def a_draft(db: Database) -> Waiting:
    digest = add_digest(db, add_channel(db), approved=False)

    def approve() -> Claim | None:
        with db.transaction() as session:
            assert digest_store.decide(session, digest, approve=True, moderator_id=None, now=NOW)
        return claim(db, NOW)

    return Waiting(NOW, None, approve, (digest, 0))


def a_rejected_draft(db: Database) -> Waiting:
    digest = add_digest(db, add_channel(db), approved=False)
    with db.transaction() as session:
        assert digest_store.decide(session, digest, approve=False, moderator_id=None, now=NOW)
    return Waiting(LATER, None, None)


def a_stopped_channel(db: Database) -> Waiting:
    """Its first digest was refused for good: the channel stops, its next digest waits."""
    channel = add_channel(db)
    add_digest(db, channel)
    waiting = add_digest(db, channel)
    assert fail(db, claimed(db))

    def resume() -> Claim | None:
        with db.transaction() as session:
            assert channel_store.resume(session, "x-main", LATER)
        return claim(db, LATER)

    return Waiting(LATER, None, resume, (waiting, 0))


def a_failed_digest(db: Database) -> Waiting:
    """Its channel resumed, the failed digest's rest waits until its failure is retried."""
    channel = add_channel(db)
    digest = add_digest(db, channel, threads=(1, 1))
    assert fail(db, claimed(db))
    with db.transaction() as session:
        assert channel_store.resume(session, "x-main", LATER)

    def retry_failed() -> Claim | None:
        with db.transaction() as session:
            assert outbox.retry_failed(session, channel, LATER) == 1
        return claim(db, LATER)

    return Waiting(LATER, None, retry_failed, (digest, 0))


def a_retry_not_due(db: Database) -> Waiting:
    digest = add_digest(db, add_channel(db))
    assert retry(db, claimed(db), LATER)
    return Waiting(LATER - timedelta(seconds=1), None, lambda: claim(db, LATER), (digest, 0))


def a_channel_not_asked_for(db: Database) -> Waiting:
    add_channel(db, "mastodon-main", ChannelKind.MASTODON)
    digest = add_digest(db, add_channel(db, "x-main"))
    return Waiting(NOW, ["mastodon-main"], lambda: claim(db, NOW, ["x-main"]), (digest, 0))


def no_channel_asked_for(db: Database) -> Waiting:
    digest = add_digest(db, add_channel(db))
    return Waiting(NOW, [], lambda: claim(db, NOW, None), (digest, 0))


def a_part_behind_an_unsent_one(db: Database) -> Waiting:
    digest = add_digest(db, add_channel(db), threads=(2,))
    first = claimed(db)

    def send_first() -> Claim | None:
        assert send(db, first)
        return claim(db, NOW)

    return Waiting(NOW, None, send_first, (digest, 1))


@pytest.mark.parametrize(
    "case",
    [
        a_held_part,
        a_draft,
        a_rejected_draft,
        a_stopped_channel,
        a_failed_digest,
        a_retry_not_due,
        a_channel_not_asked_for,
        no_channel_asked_for,
        a_part_behind_an_unsent_one,
    ],
    ids=lambda case: case.__name__,
)
def test_a_part_that_is_not_due_is_not_claimed(
    db: Database, case: Callable[[Database], Waiting]
) -> None:
    """No worker gets a held part, a part of a digest that is not approved or of a stopped
    channel, a retry before its time, a part of a channel it did not ask for, or a part
    behind an unsent one; once what kept it back is gone, the next claim gets it."""
    waiting = case(db)
    assert claim(db, waiting.at, waiting.channels) is None
    if waiting.then is not None:
        assert where(waiting.then()) == waiting.then_claimed


# -- order ------------------------------------------------------------------------------------


def part_0_sending(db: Database, first: Claim) -> None:
    pass


def part_0_retried(db: Database, first: Claim) -> None:
    assert retry(db, first, LATER)


def part_0_held(db: Database, first: Claim) -> None:
    assert hold(db, first)


def part_0_held_then_released_as_posted(db: Database, first: Claim) -> None:
    assert hold(db, first)
    release(db, first.digest_id, posted=True, at=NOW)


def part_0_held_then_released_to_resend(db: Database, first: Claim) -> None:
    assert hold(db, first)
    release(db, first.digest_id, posted=False, at=LATER)


def part_0_sent(db: Database, first: Claim) -> None:
    assert send(db, first)


@pytest.mark.parametrize(
    ("part_0", "at", "next_part"),
    [
        pytest.param(part_0_sending, NOW + timedelta(minutes=1), None, id="sending"),
        pytest.param(part_0_sending, EXPIRED, 0, id="sending_past_its_lease"),
        pytest.param(part_0_retried, LATER - timedelta(seconds=1), None, id="retry_not_due"),
        pytest.param(part_0_retried, LATER, 0, id="retry_due"),
        pytest.param(part_0_held, LATER, None, id="held"),
        pytest.param(part_0_held_then_released_as_posted, NOW, 1, id="released_as_posted"),
        pytest.param(part_0_held_then_released_to_resend, LATER, 0, id="released_to_resend"),
        pytest.param(part_0_sent, NOW, 1, id="sent"),
    ],
)
def test_part_1_of_a_thread_waits_for_part_0(
    db: Database, part_0: Callable[[Database, Claim], None], at: datetime, next_part: int | None
) -> None:
    """In a thread of three, part 1 is claimed only once part 0 is out; until then the next
    claim gets part 0 again when it is due, and nothing when it is not."""
    digest = add_digest(db, add_channel(db), threads=(3,))
    first = claimed(db, NOW)
    part_0(db, first)
    assert where(claim(db, at)) == (None if next_part is None else (digest, next_part))


def test_a_thread_goes_out_in_order_through_a_retry_and_a_take_over(db: Database) -> None:
    """Part 0 fails once and is tried again, part 1's worker goes quiet and another takes
    over: each part is claimed only after the one before it is sent, replies to it, and
    the late worker's result is refused."""
    digest = add_digest(db, add_channel(db), threads=(3,))
    minute = timedelta(minutes=1)

    part_0 = claimed(db, NOW)
    assert retry(db, part_0, NOW + minute)
    assert claim(db, NOW + minute / 2) is None
    part_0 = claimed(db, NOW + minute)
    assert (part_0.part, part_0.attempts) == (0, 2)
    assert send(db, part_0, NOW + minute)

    part_1 = claimed(db, NOW + 2 * minute)
    assert (part_1.part, part_1.attempts, part_1.reply_to) == (1, 1, posted_as(digest, 0))
    assert claim(db, NOW + 2 * minute) is None
    took_over_at = NOW + 2 * minute + LEASE + timedelta(seconds=1)
    taken_over = claimed(db, took_over_at)
    assert (taken_over.part, taken_over.attempts, taken_over.look_first) == (1, 2, True)
    assert taken_over.reply_to == posted_as(digest, 0)
    assert not send(db, part_1, took_over_at + minute)
    assert claim(db, took_over_at + minute) is None
    assert send(db, taken_over, took_over_at + minute)

    part_2 = claimed(db, LATER)
    assert (part_2.part, part_2.reply_to, part_2.root) == (
        2,
        posted_as(digest, 1),
        posted_as(digest, 0),
    )
    assert send(db, part_2, LATER)
    assert claim(db, LATER) is None
    assert digest_row(db, digest).status is DigestStatus.SENT


def test_digests_interleave_each_in_its_own_order(db: Database) -> None:
    """Parts of different digests do not wait for each other; within a digest each part
    waits for the one before it, and the earliest digest's part goes first."""
    x = add_channel(db, "x-main")
    mastodon = add_channel(db, "mastodon-main", ChannelKind.MASTODON)
    a = add_digest(db, x, threads=(3,))
    b = add_digest(db, x, threads=(1, 1))
    c = add_digest(db, mastodon, threads=(2,))
    held: dict[Part, Claim] = {}
    script: list[tuple[str, Part | None]] = [
        ("claim", (a, 0)),
        ("claim", (b, 0)),
        ("claim", (c, 0)),
        ("claim", None),
        ("send", (b, 0)),
        ("claim", (b, 1)),
        ("claim", None),
        ("send", (a, 0)),
        ("send", (c, 0)),
        ("claim", (a, 1)),
        ("claim", (c, 1)),
        ("claim", None),
        ("send", (a, 1)),
        ("claim", (a, 2)),
        ("claim", None),
    ]
    for step, (action, part) in enumerate(script):
        if action == "send":
            assert part is not None
            assert send(db, held.pop(part)), step
            continue
        taken = claim(db)
        assert where(taken) == part, step
        if taken is not None:
            held[(taken.digest_id, taken.part)] = taken


# -- finishing and references -----------------------------------------------------------------


@pytest.mark.parametrize("threads", [(1,), (3,), (1, 1), (2, 1, 2)], ids=shape)
def test_a_digest_is_sent_exactly_when_its_last_part_is(
    db: Database, threads: tuple[int, ...]
) -> None:
    """A digest is approved until its first part is claimed, sending until its last part
    is recorded sent, then sent, with that moment."""
    digest = add_digest(db, add_channel(db), threads=threads)
    assert digest_row(db, digest).status is DigestStatus.APPROVED
    total = sum(threads)
    for number in range(total):
        at = NOW + timedelta(minutes=number)
        taken = claimed(db, at)
        assert digest_row(db, digest).status is DigestStatus.SENDING
        assert send(db, taken, at)
        stored = digest_row(db, digest)
        if number < total - 1:
            assert (stored.status, stored.sent_at) == (DigestStatus.SENDING, None)
        else:
            assert (stored.status, stored.sent_at) == (DigestStatus.SENT, at)
    assert claim(db, LATER) is None


def test_a_digest_whose_last_part_was_held_is_sent_when_a_moderator_says_it_was_posted(
    db: Database,
) -> None:
    """Held, the last part keeps its digest sending; released as posted, the digest is sent."""
    digest = add_digest(db, add_channel(db), threads=(2,))
    assert send(db, claimed(db, NOW))
    assert hold(db, claimed(db, NOW))
    assert digest_row(db, digest).status is DigestStatus.SENDING
    release(db, digest, posted=True, at=LATER)
    stored = digest_row(db, digest)
    assert (stored.status, stored.sent_at) == (DigestStatus.SENT, LATER)


@pytest.mark.parametrize(
    ("threads", "expected"),
    [
        pytest.param((3,), [(None, None), (0, 0), (1, 0)], id="3"),
        pytest.param((1, 2), [(None, None), (None, None), (1, 1)], id="1+2"),
        pytest.param((2, 3), [(None, None), (0, 0), (None, None), (2, 2), (3, 2)], id="2+3"),
    ],
)
def test_a_reply_names_the_sent_parts_before_it(
    db: Database, threads: tuple[int, ...], expected: list[tuple[int | None, int | None]]
) -> None:
    """The first part of a post replies to nothing; a later part replies to the part just
    before it and names its thread's first part as root, as the network answered for them."""
    digest = add_digest(db, add_channel(db), threads=threads)
    for number, (reply_to, root) in enumerate(expected):
        taken = claimed(db)
        assert taken.part == number
        assert (taken.reply_to, taken.root) == (
            None if reply_to is None else posted_as(digest, reply_to),
            None if root is None else posted_as(digest, root),
        )
        assert (taken.parts, taken.channel_name) == (sum(threads), "x-main")
        assert send(db, taken)


# -- workers at the same time -----------------------------------------------------------------


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Database]:
    """A migrated database on the PostgreSQL server: its row locks are what is tested."""
    database = Database.connect(postgres_url)
    migrate.upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


def _blocked_or_done(db: Database, worker: threading.Thread, pid: list[int]) -> bool:
    """Whether the worker waits on a lock (True) or finished without waiting (False)."""
    deadline = time.monotonic() + 60
    with db.engine.connect() as watcher:
        while worker.is_alive():
            if pid:
                waiting = watcher.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid[0]},
                )
                watcher.rollback()
                if waiting == "Lock":
                    return True
            if time.monotonic() > deadline:
                raise AssertionError("the second worker neither finished nor waited on a lock")
            time.sleep(0.01)
    return False


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("digests", "second_gets"),
    [([(1,), (1,)], (1, 0)), ([(2,)], None)],
    ids=["two_digests", "one_thread"],
)
def test_a_claim_in_flight_is_skipped_not_shared_or_waited_for(
    postgres: Database, digests: list[tuple[int, ...]], second_gets: tuple[int, int] | None
) -> None:
    """PostgreSQL: while one worker's claim is not yet committed, a second worker claiming at
    the same moment neither waits for it (SKIP LOCKED) nor takes its part: it takes the next
    digest's part, or nothing when the only other part is behind the one in flight."""
    db = postgres
    channel = add_channel(db)
    ids = [add_digest(db, channel, threads=threads) for threads in digests]
    pid: list[int] = []
    second: list[Claim | None] = []
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            with db.transaction() as session:
                pid.append(int(session.scalar(text("SELECT pg_backend_pid()")) or 0))
                second.append(outbox.claim_next(session, NOW, LEASE, "2" * 32))
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    with db.transaction() as session:
        first = outbox.claim_next(session, NOW, LEASE, "1" * 32)
        worker = threading.Thread(target=second_worker)
        worker.start()
        waited = _blocked_or_done(db, worker, pid)
    worker.join()
    assert not errors
    expected = None if second_gets is None else (ids[second_gets[0]], second_gets[1])
    assert (where(first), where(second[0]), waited) == ((ids[0], 0), expected, False)
    with db.sessions() as session:
        claims = session.execute(
            select(Delivery.claim_token, Delivery.attempts).where(
                Delivery.state == DeliveryState.SENDING
            )
        ).all()
    assert sorted(claims) == sorted(
        [("1" * 32, 1)] + ([] if second_gets is None else [("2" * 32, 1)])
    )


def test_workers_draining_the_outbox_at_once_send_each_part_once_in_order(db: Database) -> None:
    """Four workers claim and record at once until everything is out: each part is claimed
    once and sent once, after the part before it (it replies to it), and every digest is
    sent."""
    x = add_channel(db, "x-main")
    mastodon = add_channel(db, "mastodon-main", ChannelKind.MASTODON)
    digests = [add_digest(db, channel, threads=(2, 1)) for channel in (x, mastodon, x, mastodon)]
    total = 3 * len(digests)
    start = threading.Barrier(4)
    claims: list[Claim] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def unsent() -> int:
        with db.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.state != DeliveryState.SENT)
                )
                or 0
            )

    def worker() -> None:
        try:
            start.wait()
            for _ in range(10_000):
                taken = claim(db, NOW)
                if taken is None:
                    if unsent() == 0:
                        return
                    time.sleep(0.001)
                    continue
                with lock:
                    claims.append(taken)
                assert send(db, taken, NOW)
            raise AssertionError("the outbox never drained")
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors
    assert sorted(taken.delivery_id for taken in claims) == sorted(
        {taken.delivery_id for taken in claims}
    )
    assert len(claims) == total
    for taken in claims:
        if taken.position > 0:
            assert taken.reply_to == posted_as(taken.digest_id, taken.part - 1)
    with db.sessions() as session:
        assert session.scalars(select(Delivery.attempts).distinct()).all() == [1]
        assert set(session.scalars(select(Digest.status)).all()) == {DigestStatus.SENT}
