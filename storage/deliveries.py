"""The outbox: delivery rows claimed and recorded one part at a time.

Every rule that keeps a post from being lost or sent twice is decided by the database:

- Building a digest (``storage.digests``) writes its items and one delivery row per post
  part, with the text to send, in one transaction, before anything is sent. The unique
  key on (channel, summary) keeps a summary from two digests of one channel.
- A worker claims the next unsent part of a digest (the earlier parts sent) with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's writers take turns), marks
  it ``sending`` with a lease and a token, and commits *before* it talks to the network.
  A worker that dies mid-request leaves the part ``sending``; once the lease ends another
  worker takes it over and must look the post up before sending (``recovered``).
- A result is recorded only by the token's holder, so a worker that outlived its lease
  cannot overwrite what the worker that took over found.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from storage.models import (
    Channel,
    Delivery,
    DeliveryMedia,
    DeliveryState,
    Digest,
    DigestStatus,
)
from storage.notices import add_notice
from storage.writes import changed_rows

OPEN_DIGESTS = (DigestStatus.APPROVED, DigestStatus.SENDING)
DONE_STATES = (DeliveryState.SENT, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class RemoteRef:
    remote_id: str
    cid: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ClaimedMedia:
    """A picture of the claimed part, with the network's reference once it is uploaded."""

    position: int
    content: bytes
    mime_type: str
    sha256: str
    width: int
    height: int
    alt: str
    remote_ref: str | None
    uploaded_at: datetime | None


@dataclass(frozen=True)
class Claim:
    """One part taken by a worker, with what it needs to send it in its place."""

    delivery_id: int
    digest_id: int
    channel_id: int
    channel_name: str
    part: int
    parts: int
    post: int
    position: int
    text: str
    key: str
    link: str | None
    attempts: int
    first_attempt_at: datetime
    look_first: bool
    """An earlier try may have posted it: find the post before sending again."""
    reply_to: RemoteRef | None
    root: RemoteRef | None
    token: str
    built_at: datetime
    """When the part's digest was built."""
    media: tuple[ClaimedMedia, ...] = ()
    """Its pictures in order (equation cards)."""
    rich: Mapping[str, Any] | None = None
    """Its other forms, as built (see ``Delivery.rich``)."""


# -- the worker's side --------------------------------------------------------------------------


def claim_next(
    session: Session,
    now: datetime,
    lease: timedelta,
    token: str,
    channels: Collection[str] | None = None,
) -> Claim | None:
    """Take the next part that is due: the earliest unsent part of an open digest, of one
    of ``channels`` (the ones this process can deliver; None: all)."""
    earlier = aliased(Delivery)
    due = or_(
        and_(
            Delivery.state == DeliveryState.PENDING,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        ),
        and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now),
    )
    query = (
        select(Delivery)
        .join(Digest, Digest.id == Delivery.digest_id)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(
            Digest.status.in_(OPEN_DIGESTS),
            Channel.stopped_at.is_(None),
            due,
            ~exists().where(
                earlier.digest_id == Delivery.digest_id,
                earlier.part < Delivery.part,
                earlier.state.not_in(DONE_STATES),
            ),
        )
        .order_by(Delivery.digest_id, Delivery.part)
        .limit(1)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    if channels is not None:
        query = query.where(Channel.name.in_(list(channels)))
    row = session.scalars(query).first()
    if row is None:
        return None
    recovered = row.state is DeliveryState.SENDING  # its worker died or outlived its lease
    row.state = DeliveryState.SENDING
    row.attempts += 1
    row.first_attempt_at = row.first_attempt_at or now
    row.lease_until = now + lease
    row.claim_token = token
    if recovered:
        row.needs_lookup = True
    session.execute(
        update(Digest)
        .where(Digest.id == row.digest_id, Digest.status == DigestStatus.APPROVED)
        .values(status=DigestStatus.SENDING)
    )
    session.flush()
    return Claim(
        delivery_id=row.id,
        digest_id=row.digest_id,
        channel_id=row.channel_id,
        channel_name=session.get_one(Channel, row.channel_id).name,
        part=row.part,
        parts=_part_count(session, row.digest_id),
        post=row.post,
        position=row.position,
        text=row.text,
        rich=row.rich,
        key=row.idempotency_key,
        link=row.link,
        attempts=row.attempts,
        first_attempt_at=row.first_attempt_at,
        look_first=row.needs_lookup,
        reply_to=_ref(session, row.digest_id, row.post, row.position - 1),
        root=_ref(session, row.digest_id, row.post, 0) if row.position > 0 else None,
        token=token,
        built_at=session.get_one(Digest, row.digest_id).created_at,
        media=tuple(
            ClaimedMedia(
                position=media.position,
                content=media.content,
                mime_type=media.mime_type,
                sha256=media.sha256,
                width=media.width,
                height=media.height,
                alt=media.alt,
                remote_ref=media.remote_ref,
                uploaded_at=media.uploaded_at,
            )
            for media in session.scalars(
                select(DeliveryMedia)
                .where(DeliveryMedia.delivery_id == row.id)
                .order_by(DeliveryMedia.position)
            )
        ),
    )


def _part_count(session: Session, digest_id: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.state != DeliveryState.CANCELLED)
    )
    return int(count or 0)


def _ref(session: Session, digest_id: int, post: int, position: int) -> RemoteRef | None:
    if position < 0:
        return None
    row = session.execute(
        select(Delivery.remote_id, Delivery.remote_cid, Delivery.remote_url).where(
            Delivery.digest_id == digest_id,
            Delivery.post == post,
            Delivery.position == position,
            Delivery.state == DeliveryState.SENT,
        )
    ).first()
    if row is None or row.remote_id is None:
        return None
    return RemoteRef(row.remote_id, row.remote_cid, row.remote_url)


def _mine(claim: Claim) -> ColumnElement[bool]:
    """Only the holder of the claim's token records its result."""
    return and_(
        Delivery.id == claim.delivery_id,
        Delivery.claim_token == claim.token,
        Delivery.state == DeliveryState.SENDING,
    )


def record_uploaded(
    session: Session, claim: Claim, position: int, remote_ref: str, now: datetime
) -> bool:
    """A picture of the part is uploaded: kept, so a retry posts with it instead of
    uploading it again. False when another worker had taken the part over meanwhile."""
    if session.scalar(select(Delivery.id).where(_mine(claim)).with_for_update()) is None:
        return False
    changed = changed_rows(
        session,
        update(DeliveryMedia)
        .where(DeliveryMedia.delivery_id == claim.delivery_id, DeliveryMedia.position == position)
        .values(remote_ref=remote_ref, uploaded_at=now),
    )
    return changed == 1


def record_sent(session: Session, claim: Claim, posted: RemoteRef, now: datetime) -> bool:
    """The part is out. False when another worker had taken it over meanwhile."""
    changed = changed_rows(
        session,
        update(Delivery)
        .where(_mine(claim))
        .values(
            state=DeliveryState.SENT,
            remote_id=posted.remote_id,
            remote_cid=posted.cid,
            remote_url=posted.url,
            sent_at=now,
            last_error=None,
            needs_lookup=False,
            lease_until=None,
        ),
    )
    if changed:
        finish_if_done(session, claim.digest_id, now)
    return changed == 1


def finish_if_done(session: Session, digest_id: int, now: datetime) -> bool:
    """Mark the digest sent once none of its parts is left to send; True if this call did."""
    unsent = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.state.not_in(DONE_STATES))
    )
    if unsent:
        return False
    changed = changed_rows(
        session,
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(OPEN_DIGESTS))
        .values(status=DigestStatus.SENT, sent_at=now),
    )
    return changed == 1


def record_retry(
    session: Session,
    claim: Claim,
    at: datetime,
    error: str,
    *,
    look_first: bool = False,
) -> bool:
    """Not out yet: try again at ``at``; ``look_first`` when it may be out after all."""
    values: dict[str, object] = {
        "state": DeliveryState.PENDING,
        "next_attempt_at": at,
        "last_error": error,
        "lease_until": None,
    }
    if look_first:
        values["needs_lookup"] = True
    return changed_rows(session, update(Delivery).where(_mine(claim)).values(**values)) == 1


def record_looked_up(session: Session, claim: Claim) -> bool:
    """The look-up found nothing: the next try may post without looking again. False when
    another worker took the part over meanwhile: then this one must not post it."""
    return (
        changed_rows(session, update(Delivery).where(_mine(claim)).values(needs_lookup=False)) == 1
    )


def record_held(session: Session, claim: Claim, error: str, now: datetime) -> bool:
    """It may be out and the network cannot say: a moderator decides (digest release)."""
    changed = changed_rows(
        session,
        update(Delivery)
        .where(_mine(claim))
        .values(state=DeliveryState.HELD, last_error=error, lease_until=None),
    )
    if changed:
        add_notice(
            session,
            claim.channel_id,
            claim.digest_id,
            f"Digest {claim.digest_id} to {claim.channel_name}: part {claim.part + 1} may have "
            f"been posted, but {error}. It is held: check the network, then run "
            f"`shortscience digest release {claim.digest_id} posted` or `... resend`.",
            now,
        )
    return changed == 1


def record_failed(session: Session, claim: Claim, error: str, now: datetime) -> bool:
    """Refused for good: the part and digest fail and the channel stops, the rest go on."""
    changed = changed_rows(
        session,
        update(Delivery)
        .where(_mine(claim))
        .values(state=DeliveryState.FAILED, last_error=error, lease_until=None),
    )
    if not changed:
        return False
    session.execute(
        update(Digest).where(Digest.id == claim.digest_id).values(status=DigestStatus.FAILED)
    )
    stopped = changed_rows(
        session,
        update(Channel)
        .where(Channel.id == claim.channel_id, Channel.stopped_at.is_(None))
        .values(stopped_at=now, stop_reason=error),
    )
    if stopped:  # the moderators are told once: not again by a worker whose part failed
        add_notice(  # while the channel was being stopped (it failed for the same reason)
            session,
            claim.channel_id,
            claim.digest_id,
            f"Channel {claim.channel_name} is stopped: {error}. Nothing more is sent to it "
            f"until it is fixed and resumed with `shortscience digest resume "
            f"{claim.channel_name}`.",
            now,
        )
    return True


# -- moderators' decisions ------------------------------------------------------------------


def release(session: Session, digest_id: int, *, posted: bool, now: datetime) -> int:
    """A moderator's word on held parts: posted after all (sent), or send again (pending)."""
    values: dict[str, object]
    if posted:
        values = {"state": DeliveryState.SENT, "sent_at": now, "needs_lookup": False}
    else:
        values = {"state": DeliveryState.PENDING, "next_attempt_at": now, "needs_lookup": False}
    changed = changed_rows(
        session,
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.state == DeliveryState.HELD)
        .values(**values),
    )
    if changed and posted:
        finish_if_done(session, digest_id, now)
    return changed


def retry_failed(session: Session, channel_id: int, now: datetime) -> int:
    """After a channel is resumed: its failed parts and digests are sent again."""
    failed = select(Delivery.digest_id).where(
        Delivery.channel_id == channel_id, Delivery.state == DeliveryState.FAILED
    )
    session.execute(
        update(Digest)
        .where(Digest.id.in_(failed), Digest.status == DigestStatus.FAILED)
        .values(status=DigestStatus.SENDING)
    )
    return changed_rows(
        session,
        update(Delivery)
        .where(Delivery.channel_id == channel_id, Delivery.state == DeliveryState.FAILED)
        .values(state=DeliveryState.PENDING, next_attempt_at=now),
    )


# -- reading ----------------------------------------------------------------------------------


def failed_count(session: Session) -> int:
    """Parts that need a person (failed or held), for `health`."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.state.in_((DeliveryState.FAILED, DeliveryState.HELD)))
        )
        or 0
    )
