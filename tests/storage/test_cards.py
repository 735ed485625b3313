"""The card ledger: one card per subject (per revision, for summaries), posted once whoever
sweeps, kept true. Every rule runs for both kinds of card, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from storage import cards
from storage.cards import STALE_CLAIM, Claim, OpenCard
from storage.database import Database
from storage.models import (
    Card,
    CardKind,
    Channel,
    ChannelKind,
    Digest,
    DigestStatus,
    Paper,
    Summary,
    SummaryStatus,
    User,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PLACE = "7"
_names = itertools.count()


def _summaries(db: Database, count: int, status: SummaryStatus) -> list[int]:
    """``count`` summaries of one paper, one per author (an author has one per paper)."""
    with db.transaction() as session:
        n = next(_names)
        paper = Paper(key=f"arxiv:1606.0{n:04d}", arxiv_id=f"1606.0{n:04d}", title="t")
        users = [
            User(platform="console", external_id=f"u{n}-{i}", display_name="u")
            for i in range(count)
        ]
        session.add_all([paper, *users])
        session.flush()
        rows = [
            Summary(paper_id=paper.id, author_id=user.id, tldr="t", body="b", status=status)
            for user in users
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _digests(db: Database, count: int, status: DigestStatus) -> list[int]:
    with db.transaction() as session:
        channel = Channel(name=f"x-{next(_names)}", kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        rows = [Digest(channel_id=channel.id, status=status) for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


Status = SummaryStatus | DigestStatus


@dataclass(frozen=True)
class Kind:
    """A kind of card and what its subjects are, for the table below."""

    kind: CardKind
    model: type[Summary] | type[Digest]
    make: Callable[[Database, int, Any], list[int]]
    open: Status
    """A subject in this state needs a card."""
    closed: Status
    """One in this state needs none."""
    decided: Status
    new_card_per_revision: bool

    def subjects(self, db: Database, count: int = 1, *, open_: bool = True) -> list[int]:
        return self.make(db, count, self.open if open_ else self.closed)

    def decide(self, db: Database, subject_id: int) -> None:
        with db.transaction() as session:
            session.get_one(self.model, subject_id).status = self.decided  # type: ignore[assignment]

    def revise(self, db: Database, subject_id: int) -> None:
        """The subject changes: an author's edit, a summary taken out of a draft."""
        with db.transaction() as session:
            session.get_one(self.model, subject_id).revision += 1


S, D = SummaryStatus, DigestStatus
KINDS = [
    # kind, subjects, made by, open, not open, decided, a new card for each revision
    Kind(CardKind.SUMMARY, Summary, _summaries, S.PENDING, S.APPROVED, S.APPROVED, True),
    Kind(CardKind.DIGEST, Digest, _digests, D.DRAFT, D.APPROVED, D.REJECTED, False),
]


@pytest.fixture(params=KINDS, ids=[k.kind.value for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


def _claim(db: Database, kind: Kind, now: datetime = NOW) -> list[Claim]:
    with db.transaction() as session:
        return cards.claim_unposted(session, kind.kind, now)


def _post(db: Database, claim: Claim, message_ref: str) -> None:
    with db.transaction() as session:
        cards.mark_posted(session, claim, PLACE, message_ref, NOW)


def _outdated(db: Database, kind: Kind) -> list[OpenCard]:
    with db.sessions() as session:
        return cards.outdated(session, kind.kind)


def _attempts(db: Database, kind: Kind, subject_id: int) -> int:
    with db.sessions() as session:
        return session.scalars(
            select(Card.attempts).where(Card.kind == kind.kind, Card.subject_id == subject_id)
        ).one()


def _card_rows(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Card)) or 0


def test_the_table_covers_every_kind_of_card() -> None:
    assert {k.kind for k in KINDS} == set(CardKind) == set(cards.SUBJECTS)
    assert all(k.new_card_per_revision is cards.per_revision(k.kind) for k in KINDS)


# -- claiming ------------------------------------------------------------------------------


def test_each_open_subject_is_claimed_once_and_only_open_ones(db: Database, kind: Kind) -> None:
    kind.subjects(db, open_=False)
    ids = kind.subjects(db, 3)
    claims = _claim(db, kind)
    assert [claim.subject_id for claim in claims] == ids
    assert not any(claim.retry for claim in claims)
    assert _claim(db, kind) == []


def test_a_card_another_process_claimed_meanwhile_is_not_claimed_twice(
    db: Database, kind: Kind
) -> None:
    """Both read the subject as due; the ledger's key lets only the first claim stand."""
    [subject_id] = kind.subjects(db)
    with db.sessions() as session:
        [seen] = cards.due(session, kind.kind)
    assert [claim.subject_id for claim in _claim(db, kind)] == [subject_id]  # the other one
    with db.transaction() as session:
        assert cards.take(session, seen, NOW + timedelta(seconds=1)) is None
    assert _card_rows(db) == 1


def test_a_failed_send_is_claimed_again_as_a_retry(db: Database, kind: Kind) -> None:
    [subject_id] = kind.subjects(db)
    [claim] = _claim(db, kind)
    with db.transaction() as session:
        cards.release(session, claim, NOW)
    # The failed send may have reached the channel: the sender must look first.
    assert _claim(db, kind) == [Claim(kind.kind, subject_id, 1, retry=True)]
    assert _attempts(db, kind, subject_id) == 2


def test_a_claim_is_left_alone_while_its_sender_may_be_sending(db: Database, kind: Kind) -> None:
    kind.subjects(db)
    _claim(db, kind)
    assert _claim(db, kind, NOW + STALE_CLAIM - timedelta(seconds=1)) == []
    [taken] = _claim(db, kind, NOW + STALE_CLAIM + timedelta(seconds=1))
    assert taken.retry


def test_a_stale_claim_another_process_took_over_is_not_taken_twice(
    db: Database, kind: Kind
) -> None:
    """Both read the claim as stale; the update is conditional on the claim time read."""
    [subject_id] = kind.subjects(db)
    _claim(db, kind)
    later = NOW + STALE_CLAIM + timedelta(seconds=1)
    with db.sessions() as session:
        [seen] = cards.stale(session, kind.kind, later)
    [other] = _claim(db, kind, later)
    assert other.retry
    with db.transaction() as session:
        assert cards.retake(session, seen, later) is None
    assert _attempts(db, kind, subject_id) == 2


def test_a_stale_claim_posted_meanwhile_is_not_taken_again(db: Database, kind: Kind) -> None:
    """The slow sender's confirmation came in after the claim was read as stale."""
    kind.subjects(db)
    [claim] = _claim(db, kind)
    later = NOW + STALE_CLAIM + timedelta(seconds=1)
    with db.sessions() as session:
        [seen] = cards.stale(session, kind.kind, later)
    _post(db, claim, "70")
    with db.transaction() as session:
        assert cards.retake(session, seen, later) is None


def test_a_posted_card_is_never_claimed_again_even_when_old(db: Database, kind: Kind) -> None:
    kind.subjects(db)
    [claim] = _claim(db, kind)
    _post(db, claim, "70")
    assert _claim(db, kind, NOW + timedelta(days=1)) == []


# -- keeping cards true --------------------------------------------------------------------


def test_a_card_is_due_to_be_closed_once_its_subject_is_decided(db: Database, kind: Kind) -> None:
    first, second = kind.subjects(db, 2)
    for claim, message_ref in zip(_claim(db, kind), ("70", "71"), strict=True):
        _post(db, claim, message_ref)
    assert _outdated(db, kind) == []
    kind.decide(db, first)
    kind.decide(db, second)
    due = _outdated(db, kind)
    assert due == [
        OpenCard(kind.kind, first, 1, PLACE, "70"),
        OpenCard(kind.kind, second, 1, PLACE, "71"),
    ]
    with db.transaction() as session:
        for card in due:
            cards.mark_closed(session, card, NOW)
    assert _outdated(db, kind) == []


def test_a_decided_subject_needs_no_card(db: Database, kind: Kind) -> None:
    [subject_id] = kind.subjects(db)
    kind.decide(db, subject_id)
    assert _claim(db, kind) == []


def test_closing_another_message_leaves_the_recorded_card_to_the_sweep(
    db: Database, kind: Kind
) -> None:
    [subject_id] = kind.subjects(db)
    [claim] = _claim(db, kind)
    _post(db, claim, "70")
    kind.decide(db, subject_id)
    recorded = OpenCard(kind.kind, subject_id, 1, PLACE, "70")
    with db.transaction() as session:
        cards.mark_closed(session, OpenCard(kind.kind, subject_id, 1, PLACE, "99"), NOW)
        assert cards.card_of(session, kind.kind, subject_id) == recorded
    assert _outdated(db, kind) == [recorded]


def test_an_unposted_card_is_never_due_to_be_closed(db: Database, kind: Kind) -> None:
    [subject_id] = kind.subjects(db)
    _claim(db, kind)
    kind.decide(db, subject_id)
    assert _outdated(db, kind) == []
    with db.sessions() as session:
        assert cards.card_of(session, kind.kind, subject_id) is None


def test_a_changed_subject_gets_a_new_card_or_its_card_drawn_again(
    db: Database, kind: Kind
) -> None:
    """Summaries: each revision has its card, the old one is closed. Digests: the one card
    is drawn again to show the new revision."""
    [subject_id] = kind.subjects(db)
    [first] = _claim(db, kind)
    _post(db, first, "70")
    kind.revise(db, subject_id)
    [old] = _outdated(db, kind)
    assert (old.revision, old.message_ref) == (1, "70")
    if kind.new_card_per_revision:
        assert _claim(db, kind) == [Claim(kind.kind, subject_id, 2, retry=False)]
        with db.transaction() as session:
            cards.mark_closed(session, old, NOW)
    else:
        assert _claim(db, kind) == []
        with db.transaction() as session:
            cards.mark_redrawn(session, old, 2)
            assert cards.card_of(session, kind.kind, subject_id) == OpenCard(
                kind.kind, subject_id, 2, PLACE, "70"
            )
    assert _outdated(db, kind) == []
    assert _claim(db, kind) == []


def test_a_stale_claim_of_a_changed_subject_shows_what_is_current(db: Database, kind: Kind) -> None:
    """Summaries: the old revision's claim is left, the new one claimed fresh. Digests: the
    one claim is retaken to show the new revision."""
    [subject_id] = kind.subjects(db)
    _claim(db, kind)
    kind.revise(db, subject_id)
    later = NOW + STALE_CLAIM + timedelta(seconds=1)
    expected_retry = not kind.new_card_per_revision
    assert _claim(db, kind, later) == [Claim(kind.kind, subject_id, 2, retry=expected_retry)]
