"""The outbox: delivery rows claimed in batches and recorded part by part or per batch.

Every rule that keeps a post from being lost or sent twice is decided by the database:

- Building a digest (``storage.digests``) writes its items and one delivery row per post
  part, with the text to send, in one transaction, before anything is sent. The unique
  key on (channel, summary) keeps a summary from two digests of one channel.
- A worker claims due parts (``claim_due``: up to a limit, each the earliest unsent part of
  its digest, the earlier parts sent) with ``SELECT ... FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (SQLite's writers take turns), marks them ``sending`` with a lease and a
  token, and commits *before* it talks to the network. A worker that dies mid-request
  leaves its parts ``sending``; once the lease ends another worker takes them over and
  must look each post up before sending (``recovered``).
- A result is recorded only by the token's holder, so a worker that outlived its lease
  cannot overwrite what the worker that took over found; a batch's sent parts are
  recorded in one statement run (``record_sent_all``) under the same rule."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from storage.models import (
    Channel,
    ChannelOrigin,
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
    taken = claim_due(session, now, lease, token, channels, limit=1)
    return taken[0] if taken else None


def claim_due(
    session: Session,
    now: datetime,
    lease: timedelta,
    token: str,
    channels: Collection[str] | None = None,
    *,
    limit: int = 1,
    subscribed: bool = False,
) -> list[Claim]:
    """Take up to ``limit`` due parts at once, in (digest, part) order: each is the
    earliest unsent part of its open digest, so a batch never holds two parts of one
    digest and a thread still goes out part after part. One transaction, a handful of
    statements whatever ``limit`` is; the caller commits it before sending any.

    ``channels`` names the channels whose parts this worker sends (None: all), and
    ``subscribed`` adds every Discord channel subscribed and not stopped, which a bot in
    thousands of servers could not list by name in each claim."""
    earlier = aliased(Delivery)
    due = or_(
        and_(
            Delivery.state == DeliveryState.PENDING,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        ),
        and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now),
    )
    query = (
        select(Delivery, Channel.name, Digest.created_at)
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
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    if channels is not None:
        named = Channel.name.in_(list(channels))
        query = query.where(
            or_(named, and_(Channel.origin == ChannelOrigin.DISCORD, Channel.enabled.is_(True)))
            if subscribed
            else named
        )
    found = session.execute(query).all()
    if not found:
        return []
    rows = [(row, name, built_at) for row, name, built_at in found]
    ids = [row.id for row, _, _ in rows]
    digest_ids = sorted({row.digest_id for row, _, _ in rows})
    # A part still ``sending`` had a worker that died or outlived its lease: it may be out.
    recovered = {row.id for row, _, _ in rows if row.state is DeliveryState.SENDING}
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(
            state=DeliveryState.SENDING,
            attempts=Delivery.attempts + 1,
            first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
            lease_until=now + lease,
            claim_token=token,
            needs_lookup=or_(Delivery.needs_lookup, Delivery.state == DeliveryState.SENDING),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Digest)
        .where(Digest.id.in_(digest_ids), Digest.status == DigestStatus.APPROVED)
        .values(status=DigestStatus.SENDING)
        .execution_options(synchronize_session=False)
    )
    counts = _part_counts(session, digest_ids)
    refs = _sent_refs(session, [row for row, _, _ in rows if row.position > 0])
    media = _media(session, ids)
    claims = [
        Claim(
            delivery_id=row.id,
            digest_id=row.digest_id,
            channel_id=row.channel_id,
            channel_name=name,
            part=row.part,
            parts=counts.get(row.digest_id, 0),
            post=row.post,
            position=row.position,
            text=row.text,
            rich=row.rich,
            key=row.idempotency_key,
            link=row.link,
            attempts=row.attempts + 1,
            first_attempt_at=row.first_attempt_at or now,
            look_first=row.needs_lookup or row.id in recovered,
            reply_to=refs.get((row.digest_id, row.post, row.position - 1)),
            root=refs.get((row.digest_id, row.post, 0)) if row.position > 0 else None,
            token=token,
            built_at=built_at,
            media=media.get(row.id, ()),
        )
        for row, name, built_at in rows
    ]
    for row, _, _ in rows:  # the rows as read are stale now: never flushed, never reused
        session.expunge(row)
    return claims


def _part_counts(session: Session, digest_ids: Collection[int]) -> dict[int, int]:
    """Each digest's parts, the cancelled ones (taken back for single posts) left out."""
    found = session.execute(
        select(Delivery.digest_id, func.count())
        .where(Delivery.digest_id.in_(list(digest_ids)), Delivery.state != DeliveryState.CANCELLED)
        .group_by(Delivery.digest_id)
    ).all()
    return {digest_id: int(count) for digest_id, count in found}


def _sent_refs(
    session: Session, replies: Collection[Delivery]
) -> dict[tuple[int, int, int], RemoteRef]:
    """What the network answered for the sent parts the ``replies`` reply to (the part
    before each, and its thread's first), by (digest, post, position)."""
    if not replies:
        return {}
    wanted = {(row.digest_id, row.post, row.position - 1) for row in replies}
    wanted |= {(row.digest_id, row.post, 0) for row in replies}
    found = session.execute(
        select(
            Delivery.digest_id,
            Delivery.post,
            Delivery.position,
            Delivery.remote_id,
            Delivery.remote_cid,
            Delivery.remote_url,
        ).where(
            Delivery.digest_id.in_(sorted({row.digest_id for row in replies})),
            Delivery.post.in_(sorted({row.post for row in replies})),
            Delivery.state == DeliveryState.SENT,
        )
    ).all()
    return {
        (digest_id, post, position): RemoteRef(remote_id, cid, url)
        for digest_id, post, position, remote_id, cid, url in found
        if (digest_id, post, position) in wanted and remote_id is not None
    }


def _media(session: Session, delivery_ids: Collection[int]) -> dict[int, tuple[ClaimedMedia, ...]]:
    """The claimed parts' pictures, each part's in order."""
    found: dict[int, list[ClaimedMedia]] = {}
    for media in session.scalars(
        select(DeliveryMedia)
        .where(DeliveryMedia.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryMedia.delivery_id, DeliveryMedia.position)
    ):
        found.setdefault(media.delivery_id, []).append(
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
        )
    return {delivery_id: tuple(pictures) for delivery_id, pictures in found.items()}


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
    changed = _mark_sent(session, claim, posted, now)
    if changed:
        finish_if_done(session, claim.digest_id, now)
    return changed


def record_sent_all(
    session: Session, sent: Sequence[tuple[Claim, RemoteRef]], now: datetime
) -> tuple[list[Claim], list[int]]:
    """Several parts are out (a batch): (the claims recorded, the digests this finished).

    One UPDATE run for every part, each still only by its token's holder; a claim another
    worker took over meanwhile is left out of both lists."""
    if not sent:
        return [], []
    table = cast("Table", Delivery.__table__)
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("claimed_id"),
            table.c.claim_token == bindparam("claimed_token"),
            table.c.state == DeliveryState.SENDING,
        )
        .values(
            state=DeliveryState.SENT,
            remote_id=bindparam("posted_id"),
            remote_cid=bindparam("posted_cid"),
            remote_url=bindparam("posted_url"),
            sent_at=now,
            last_error=None,
            needs_lookup=False,
            lease_until=None,
        )
    )
    changed = _changed_many(
        session,
        statement,
        [
            {
                "claimed_id": claim.delivery_id,
                "claimed_token": claim.token,
                "posted_id": posted.remote_id,
                "posted_cid": posted.cid,
                "posted_url": posted.url,
            }
            for claim, posted in sent
        ],
    )
    recorded = [claim for claim, _ in sent]
    if changed != len(sent):  # some were taken over: find which are ours
        ours = {
            (delivery_id, token)
            for delivery_id, token in session.execute(
                select(Delivery.id, Delivery.claim_token).where(
                    Delivery.id.in_([claim.delivery_id for claim, _ in sent]),
                    Delivery.state == DeliveryState.SENT,
                )
            )
        }
        recorded = [claim for claim, _ in sent if (claim.delivery_id, claim.token) in ours]
    return recorded, finish_all(session, {claim.digest_id for claim in recorded}, now)


def _changed_many(session: Session, statement: Executable, rows: list[dict[str, Any]]) -> int:
    """Run a conditional UPDATE once per row of parameters (one executemany): how many
    rows it changed in all."""
    result = cast("CursorResult[Any]", session.execute(statement, rows))
    return result.rowcount


def finish_all(session: Session, digest_ids: Collection[int], now: datetime) -> list[int]:
    """``finish_if_done`` for several digests at once: the ones this call marked sent."""
    if not digest_ids:
        return []
    unfinished = set(
        session.scalars(
            select(Delivery.digest_id)
            .where(Delivery.digest_id.in_(list(digest_ids)), Delivery.state.not_in(DONE_STATES))
            .distinct()
        )
    )
    done = sorted(set(digest_ids) - unfinished)
    if not done:
        return []
    return sorted(
        session.scalars(
            update(Digest)
            .where(Digest.id.in_(done), Digest.status.in_(OPEN_DIGESTS))
            .values(status=DigestStatus.SENT, sent_at=now)
            .returning(Digest.id)
            .execution_options(synchronize_session=False)
        )
    )


def _mark_sent(session: Session, claim: Claim, posted: RemoteRef, now: datetime) -> bool:
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
    return changed == 1


def renew(session: Session, claim: Claim, until: datetime) -> bool:
    """The claim's lease runs until ``until`` (a part of a batch about to be sent, long
    after the batch was claimed). False when another worker took it over meanwhile: then
    this one must not send it."""
    return (
        changed_rows(session, update(Delivery).where(_mine(claim)).values(lease_until=until)) == 1
    )


def record_unsent(
    session: Session, claims: Collection[Claim], *, at: datetime | None = None
) -> int:
    """Claimed parts this worker will not try after all (it was stopped, a part before
    them in its batch raised, or their network said to wait until ``at``): due again at
    once (or at ``at``), for any worker, as if never claimed. A part that may be out
    (``look_first``) stays marked so. Returns parts given back."""
    values: dict[str, object] = {
        "state": DeliveryState.PENDING,
        "attempts": Delivery.attempts - 1,
        "lease_until": None,
        "claim_token": None,
    }
    if at is not None:
        values["next_attempt_at"] = at
    given = 0
    for claim in claims:
        given += changed_rows(session, update(Delivery).where(_mine(claim)).values(**values))
    return given


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
