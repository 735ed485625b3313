"""Transitional: the old summary-card API over ``storage.cards`` (removed once callers move)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage import cards
from storage.cards import STALE_CLAIM
from storage.models import CardKind

__all__ = ["STALE_CLAIM", "Claim", "OpenCard"]

KIND = CardKind.SUMMARY


@dataclass(frozen=True)
class Claim:
    summary_id: int
    revision: int
    retry: bool


@dataclass(frozen=True)
class OpenCard:
    summary_id: int
    revision: int
    channel_id: int
    message_id: int


def _claim(claim: Claim) -> cards.Claim:
    return cards.Claim(KIND, claim.summary_id, claim.revision, claim.retry)


def _card(card: OpenCard) -> cards.OpenCard:
    return cards.OpenCard(
        KIND, card.summary_id, card.revision, str(card.channel_id), str(card.message_id)
    )


def claim_unposted(session: Session, now: datetime, limit: int = 10) -> list[Claim]:
    return [
        Claim(c.subject_id, c.revision, c.retry)
        for c in cards.claim_unposted(session, KIND, now, limit)
    ]


def mark_posted(
    session: Session, claim: Claim, channel_id: int, message_id: int, now: datetime
) -> None:
    cards.mark_posted(session, _claim(claim), str(channel_id), str(message_id), now)


def release(session: Session, claim: Claim, now: datetime) -> None:
    cards.release(session, _claim(claim), now)


def outdated(session: Session, limit: int = 25) -> list[OpenCard]:
    return [
        OpenCard(c.subject_id, c.revision, int(c.place), int(c.message_ref))
        for c in cards.outdated(session, KIND, limit)
    ]


def mark_closed(session: Session, card: OpenCard, now: datetime) -> None:
    cards.mark_closed(session, _card(card), now)
