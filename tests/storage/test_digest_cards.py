"""Cards for draft digests and publishing notices: posted once, whoever sweeps, kept true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import deliveries as outbox
from storage import digest_cards
from storage.database import Database
from storage.models import Channel, ChannelKind, Digest, DigestCard, PublishingNotice
from tests.publishers.conftest import seed

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _drafts(db: Database, count: int = 1, *, approved: bool = False) -> list[int]:
    """``count`` digests of one summary each (drafts unless ``approved``)."""
    summary_ids = seed(db, hard=False).ids
    with db.transaction() as session:
        channel = Channel(name="x-main", kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        ids = []
        for number in range(count):
            part = outbox.NewPart(post=0, position=0, text=f"Post {number}", key=f"k{number}")
            digest = outbox.create_digest(
                session, channel.id, [summary_ids[number]], [part], approved=approved, now=NOW
            )
            ids.append(digest.id)
        return ids


def _claim(db: Database, now: datetime = NOW) -> list[digest_cards.Claim]:
    with db.transaction() as session:
        return digest_cards.claim_unposted(session, now)


def _post(db: Database, claim: digest_cards.Claim, message_id: int) -> None:
    with db.transaction() as session:
        digest_cards.mark_posted(session, claim, 7, message_id, NOW)


def _outdated(db: Database) -> list[digest_cards.OpenCard]:
    with db.sessions() as session:
        return digest_cards.outdated(session)


def _decide(db: Database, digest_id: int, *, approve: bool = True) -> bool:
    with db.transaction() as session:
        return outbox.decide(session, digest_id, approve=approve, moderator_id=None, now=NOW)


def test_each_draft_is_claimed_once_and_only_drafts(db: Database) -> None:
    drafts = _drafts(db, 2)
    claims = _claim(db)
    assert [claim.digest_id for claim in claims] == drafts
    assert not any(claim.retry for claim in claims)
    assert _claim(db) == []


def test_approved_digests_get_no_card(db: Database) -> None:
    _drafts(db, 1, approved=True)
    assert _claim(db) == []


def test_a_failed_send_is_claimed_again_as_a_retry(db: Database) -> None:
    [digest_id] = _drafts(db)
    [claim] = _claim(db)
    with db.transaction() as session:
        digest_cards.release(session, claim, NOW)
    assert _claim(db) == [digest_cards.Claim(digest_id, 1, retry=True)]
    with db.sessions() as session:
        assert session.get_one(DigestCard, digest_id).attempts == 2


def test_a_claim_is_left_alone_while_its_sender_may_be_sending(db: Database) -> None:
    _drafts(db)
    _claim(db)
    assert _claim(db, NOW + digest_cards.STALE_CLAIM - timedelta(seconds=1)) == []
    [retry] = _claim(db, NOW + digest_cards.STALE_CLAIM + timedelta(seconds=1))
    assert retry.retry


def test_a_posted_card_is_not_claimed_again_even_when_old(db: Database) -> None:
    _drafts(db)
    [claim] = _claim(db)
    _post(db, claim, 70)
    assert _claim(db, NOW + timedelta(days=1)) == []


def test_a_card_is_due_to_be_closed_once_its_digest_is_decided(db: Database) -> None:
    first, second = _drafts(db, 2)
    for claim, message_id in zip(_claim(db), (70, 71), strict=True):
        _post(db, claim, message_id)
    assert _outdated(db) == []
    assert _decide(db, first, approve=True)
    assert _decide(db, second, approve=False)
    due = _outdated(db)
    assert due == [
        digest_cards.OpenCard(first, 7, 70, 1),
        digest_cards.OpenCard(second, 7, 71, 1),
    ]
    with db.transaction() as session:
        for card in due:
            digest_cards.mark_closed(session, card, NOW)
    assert _outdated(db) == []


def test_closing_another_message_leaves_the_recorded_card_to_the_sweep(db: Database) -> None:
    [digest_id] = _drafts(db)
    [claim] = _claim(db)
    _post(db, claim, 70)
    _decide(db, digest_id)
    with db.transaction() as session:
        digest_cards.mark_closed(session, digest_cards.OpenCard(digest_id, 7, 99), NOW)
        assert digest_cards.card_of(session, digest_id) == digest_cards.OpenCard(
            digest_id, 7, 70, 1
        )
    assert _outdated(db) == [digest_cards.OpenCard(digest_id, 7, 70, 1)]


def test_an_unposted_card_is_never_due_to_be_closed(db: Database) -> None:
    [digest_id] = _drafts(db)
    _claim(db)
    _decide(db, digest_id)
    assert _outdated(db) == []
    with db.sessions() as session:
        assert digest_cards.card_of(session, digest_id) is None


# -- notices ------------------------------------------------------------------------------------


def _notice(db: Database, text: str) -> None:
    with db.transaction() as session:
        channel_id = session.scalars(select(Channel.id)).one()
        outbox.add_notice(session, channel_id, None, text, NOW)


def _claim_notices(db: Database, now: datetime = NOW) -> list[digest_cards.ClaimedNotice]:
    with db.transaction() as session:
        return digest_cards.claim_notices(session, now)


def test_a_notice_is_claimed_once(db: Database) -> None:
    _drafts(db)
    _notice(db, "x-main is stopped.")
    [claimed] = _claim_notices(db)
    assert claimed.text == "x-main is stopped."
    assert _claim_notices(db) == []


def test_a_notice_whose_send_failed_is_claimed_again(db: Database) -> None:
    _drafts(db)
    _notice(db, "x-main is stopped.")
    [claimed] = _claim_notices(db)
    with db.transaction() as session:
        assert digest_cards.release_notice(session, claimed)
    [again] = _claim_notices(db, NOW + timedelta(seconds=10))
    assert again.id == claimed.id
    # The first claimer's late give-back does not undo the second claim.
    with db.transaction() as session:
        assert not digest_cards.release_notice(session, claimed)
    with db.sessions() as session:
        posted = session.get_one(PublishingNotice, claimed.id).posted_at
    assert posted == NOW + timedelta(seconds=10)


def test_a_draft_changed_elsewhere_is_due_to_be_drawn_again(db: Database) -> None:
    [digest_id] = _drafts(db)
    [claim] = _claim(db)
    _post(db, claim, 70)
    with db.transaction() as session:
        session.get_one(Digest, digest_id).revision = 2  # a summary was dropped elsewhere
    [due] = _outdated(db)
    assert due.revision == 1
    with db.transaction() as session:
        digest_cards.mark_redrawn(session, due, 2)
    assert _outdated(db) == []
