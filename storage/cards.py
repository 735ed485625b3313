"""The card ledger: cards in the moderation channel, every kind kept the same way.

Posting a card is claim, send, confirm. The claim is a ``cards`` row, written before
anything is sent; its key (kind, subject, ``key_revision``) is what makes two processes
post one card once: the second insert fails (:func:`take`). A claim whose sender died, or
whose send failed (:func:`release`), is taken again after ``STALE_CLAIM``, conditionally
on the claim time read, so of two sweepers one wins (:func:`retake`); such a retry is
marked, because the first attempt may have been posted without an answer, and the sender
must look for that card in the channel before posting it again.

A posted card stays open while its subject can be decided at the revision it shows. Once
the subject is decided, withdrawn or changed (anywhere: a chat, the terminal, another
process) the card is due (:func:`outdated`): closed to say what became of it, or, for
kinds whose one card follows its subject (digests), drawn again (:func:`mark_redrawn`).

What a kind's subject is, and when it is open, is all this module knows of it
(:data:`SUBJECTS`); places and messages are the front end's references, opaque here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Card, CardKind, Digest, DigestStatus, Summary, SummaryStatus
from storage.writes import changed_rows

STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Subject:
    """What a kind of card shows: the rows, when one can be decided, how cards follow it."""

    model: type[Summary] | type[Digest]
    open: ColumnElement[bool]
    """A subject moderators can decide now: it needs a card, and its card stays open."""
    per_revision: bool
    """True: each revision gets a card of its own and the older one is closed. False: one
    card per subject, drawn again when the subject changes."""

    def key_revision(self, revision: int) -> int:
        """The key of the card that shows ``revision``."""
        return revision if self.per_revision else 0

    def needed_key(self) -> SQLColumnExpression[int]:
        """In SQL: the key of the card a subject needs at its current revision."""
        return self.model.revision if self.per_revision else literal(0)


SUBJECTS: dict[CardKind, Subject] = {
    CardKind.SUMMARY: Subject(Summary, Summary.status == SummaryStatus.PENDING, per_revision=True),
    CardKind.DIGEST: Subject(Digest, Digest.status == DigestStatus.DRAFT, per_revision=False),
}


def per_revision(kind: CardKind) -> bool:
    """Whether a new revision of this kind's subject gets a card of its own."""
    return SUBJECTS[kind].per_revision


@dataclass(frozen=True)
class CardRef:
    """The card of a subject that shows ``revision``: which row of the ledger it is."""

    kind: CardKind
    subject_id: int
    revision: int

    @property
    def key_revision(self) -> int:
        """The revision in the ledger's key: 0 for kinds with one card per subject."""
        return SUBJECTS[self.kind].key_revision(self.revision)

    def row(self) -> ColumnElement[bool]:
        """In SQL: this card's ledger row, by its key (kind, subject, key revision)."""
        return and_(
            Card.kind == self.kind,
            Card.subject_id == self.subject_id,
            Card.key_revision == self.key_revision,
        )


@dataclass(frozen=True)
class Claim(CardRef):
    retry: bool
    """An earlier attempt may have posted this card: look for it before sending."""


@dataclass(frozen=True)
class Stale(CardRef):
    """An unposted claim older than ``STALE_CLAIM`` (at the subject's revision now), as
    read: retaken only if nobody took it or posted it since."""

    claimed_at: datetime


@dataclass(frozen=True)
class OpenCard(CardRef):
    """A posted card: where it is, and the revision it shows."""

    place: str
    message_ref: str


def _with_subjects(kind: CardKind, *columns: Any) -> Select[Any]:
    """Cards of ``kind`` joined to their subjects."""
    model = SUBJECTS[kind].model
    return select(*columns).join(model, model.id == Card.subject_id).where(Card.kind == kind)


def due(session: Session, kind: CardKind, limit: int = 10) -> list[CardRef]:
    """Open subjects of ``kind`` without a card (at their revision, for per-revision kinds),
    as this process reads them: the claim is still to be made (:func:`take`)."""
    subject = SUBJECTS[kind]
    model = subject.model
    rows = session.execute(
        select(model.id, model.revision)
        .outerjoin(
            Card,
            and_(
                Card.kind == kind,
                Card.subject_id == model.id,
                Card.key_revision == subject.needed_key(),
            ),
        )
        .where(subject.open, Card.subject_id.is_(None))
        .order_by(model.id)
        .limit(limit)
    ).all()
    return [CardRef(kind, subject_id, revision) for subject_id, revision in rows]


def take(session: Session, found: CardRef, now: datetime) -> Claim | None:
    """Claim a card read as due; None if another process claimed it since (the key)."""
    try:
        with session.begin_nested():
            session.add(
                Card(
                    kind=found.kind,
                    subject_id=found.subject_id,
                    key_revision=found.key_revision,
                    revision=found.revision,
                    claimed_at=now,
                )
            )
    except IntegrityError:
        return None
    return Claim(found.kind, found.subject_id, found.revision, retry=False)


def stale(session: Session, kind: CardKind, now: datetime, limit: int = 10) -> list[Stale]:
    """Unposted claims older than ``STALE_CLAIM`` on subjects still open, the same card."""
    subject = SUBJECTS[kind]
    rows = session.execute(
        _with_subjects(kind, Card.subject_id, subject.model.revision, Card.claimed_at)
        .where(
            subject.open,
            Card.key_revision == subject.needed_key(),
            Card.message_ref.is_(None),
            Card.claimed_at < now - STALE_CLAIM,
        )
        .order_by(Card.subject_id)
        .limit(limit)
    ).all()
    return [
        Stale(kind, subject_id, revision, claimed_at) for subject_id, revision, claimed_at in rows
    ]


def retake(session: Session, found: Stale, now: datetime) -> Claim | None:
    """Take over a stale claim as a retry; None if another process took or posted it since
    (the update is conditional on the claim time read and on no message yet)."""
    taken = changed_rows(
        session,
        update(Card)
        .where(found.row(), Card.claimed_at == found.claimed_at, Card.message_ref.is_(None))
        .values(claimed_at=now, attempts=Card.attempts + 1, revision=found.revision),
    )
    if taken != 1:
        return None
    return Claim(found.kind, found.subject_id, found.revision, retry=True)


def claim_unposted(session: Session, kind: CardKind, now: datetime, limit: int = 10) -> list[Claim]:
    """Claim up to ``limit`` cards of ``kind``: subjects without one, then stale claims."""
    claims: list[Claim] = []
    for found in due(session, kind, limit):
        claim = take(session, found, now)
        if claim is not None:
            claims.append(claim)
    if len(claims) >= limit:
        return claims
    for found_stale in stale(session, kind, now, limit - len(claims)):
        claim = retake(session, found_stale, now)
        if claim is not None:
            claims.append(claim)
    return claims


def mark_posted(
    session: Session, claim: Claim, place: str, message_ref: str, now: datetime
) -> None:
    """Confirm a claim's card was sent: where it is, so the sweep can close or redraw it."""
    session.execute(
        update(Card).where(claim.row()).values(place=place, message_ref=message_ref, posted_at=now)
    )


def release(session: Session, claim: Claim, now: datetime) -> None:
    """Give a claim back after a failed send: the next sweep retries it, looking first."""
    session.execute(
        update(Card)
        .where(claim.row(), Card.message_ref.is_(None))
        .values(claimed_at=now - STALE_CLAIM - timedelta(seconds=1))
    )


def outdated(session: Session, kind: CardKind, limit: int = 25) -> list[OpenCard]:
    """Posted cards still open although their subject was decided or changed since."""
    subject = SUBJECTS[kind]
    rows = session.execute(
        _with_subjects(kind, Card.subject_id, Card.revision, Card.place, Card.message_ref)
        .where(
            Card.message_ref.is_not(None),
            Card.closed_at.is_(None),
            or_(~subject.open, subject.model.revision != Card.revision),
        )
        .order_by(Card.subject_id, Card.key_revision)
        .limit(limit)
    ).all()
    return [
        OpenCard(kind, subject_id, revision, place, message_ref)
        for subject_id, revision, place, message_ref in rows
        if place is not None and message_ref is not None
    ]


def _this_message(card: OpenCard) -> ColumnElement[bool]:
    return and_(card.row(), Card.message_ref == card.message_ref)


def mark_redrawn(session: Session, card: OpenCard, revision: int) -> None:
    """The card was drawn again and shows ``revision`` now (kinds with one card)."""
    session.execute(update(Card).where(_this_message(card)).values(revision=revision))


def mark_closed(session: Session, card: OpenCard, now: datetime) -> None:
    """The card at ``card.message_ref`` says what became of its subject; another message
    (an older copy someone pressed) leaves the recorded card to the sweep."""
    session.execute(
        update(Card).where(_this_message(card), Card.closed_at.is_(None)).values(closed_at=now)
    )


def card_of(session: Session, kind: CardKind, subject_id: int) -> OpenCard | None:
    """Where the newest posted card of a subject is, if one was posted."""
    row = session.scalars(
        select(Card)
        .where(Card.kind == kind, Card.subject_id == subject_id, Card.message_ref.is_not(None))
        .order_by(Card.key_revision.desc())
        .limit(1)
    ).first()
    if row is None or row.place is None or row.message_ref is None:
        return None
    return OpenCard(kind, subject_id, row.revision, row.place, row.message_ref)
