"""A digest's life in the database: which summaries it holds, its parts, its decisions.

Selection, creation, a moderator's decision, dropping a summary from a draft and revising
a digest's unsent parts all live here, so every path that builds or changes a digest
(the scheduler, `digest send`, a moderator's card, the fall-back to single posts) obeys
the same rules. The outbox worker's side (claiming and recording parts) is
``storage.deliveries``.

A summary goes to a channel at most once: ``digest_items`` has a unique key on (channel,
summary), so a summary in any digest of the channel (sent, waiting for a moderator,
being sent, or rejected) is never picked again; a summary a moderator dropped from a
draft has no item any more and is back in the pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVarTuple

from sqlalchemy import Select, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.deliveries import finish_if_done
from storage.models import (
    Delivery,
    DeliveryMedia,
    DeliveryState,
    Digest,
    DigestItem,
    DigestStatus,
    Paper,
    PaperCategory,
    Summary,
    SummaryStatus,
)
from storage.votes import score_of
from storage.writes import changed_rows

_Ts = TypeVarTuple("_Ts")

# -- selection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """A channel's rules for what goes into its digests."""

    channel_id: int | None
    """None for a channel not stored yet (a preview before its first digest)."""
    max_items: int
    categories: Sequence[str] = ()
    """arXiv categories (``cs.LG``) or whole archives (``cs``); empty means all."""
    max_age_days: float | None = None
    min_score: int | None = None
    """Only summaries the community scored at least this high."""


def candidates(session: Session, selection: Selection, now: datetime) -> list[Summary]:
    """The newest approved summaries the channel has never had, newest first."""
    return list(session.scalars(_chosen(select(Summary), selection, now)).all())


class CandidateVersion(NamedTuple):
    """A summary :func:`candidates` would choose, as of its current text and paper."""

    summary_id: int
    revision: int
    paper_fetched_at: datetime | None


def candidate_versions(
    session: Session, selection: Selection, now: datetime
) -> list[CandidateVersion]:
    """What :func:`candidates` chooses, as versions: a builder holding these summaries
    already (10,000 channels due at once get the same few) loads only the others."""
    query = select(Summary.id, Summary.revision, Paper.fetched_at).join(
        Paper, Paper.id == Summary.paper_id
    )
    rows = session.execute(_chosen(query, selection, now))
    return [CandidateVersion._make(row) for row in rows]


def _chosen(query: Select[*_Ts], selection: Selection, now: datetime) -> Select[*_Ts]:
    query = (
        query.where(Summary.status == SummaryStatus.APPROVED)
        .order_by(Summary.approved_at.desc(), Summary.id.desc())
        .limit(selection.max_items)
    )
    if selection.channel_id is not None:
        query = query.where(
            ~exists().where(
                DigestItem.channel_id == selection.channel_id,
                DigestItem.summary_id == Summary.id,
            )
        )
    if selection.min_score is not None:
        query = query.where(score_of() >= selection.min_score)
    if selection.max_age_days is not None:
        query = query.where(Summary.approved_at >= now - timedelta(days=selection.max_age_days))
    if selection.categories:
        matches = []
        for category in selection.categories:
            if "." in category:
                matches.append(PaperCategory.category == category)
            else:  # a whole archive: "cs" takes cs.LG, cs.CL, ...
                matches.append(PaperCategory.category.like(f"{category}.%"))
                matches.append(PaperCategory.category == category)
        query = query.where(
            exists().where(PaperCategory.paper_id == Summary.paper_id, or_(*matches))
        )
    return query


# -- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewMedia:
    """A picture for a part (an equation card), its bytes rendered when the digest is built."""

    content: bytes
    mime_type: str
    sha256: str
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class NewPart:
    """One post part as rendered, with the key chosen for it before the first try."""

    post: int
    position: int
    text: str
    key: str
    has_url: bool = False
    link: str | None = None
    summary_id: int | None = None
    media: tuple[NewMedia, ...] = ()
    rich: Mapping[str, Any] | None = None
    """The part's other forms (Slack's blocks, Matrix's and email's HTML), as JSON."""


def create_digest(
    session: Session,
    channel_id: int,
    summary_ids: Sequence[int],
    parts: Sequence[NewPart] = (),
    *,
    approved: bool,
    now: datetime,
    notice: str | None = None,
) -> Digest:
    """A digest with its items (and ``parts``, or add them with :func:`add_parts` once its
    id names them). The caller holds the channel's row (``channels.hold_for_build``), so no
    other build of the channel chooses beside it; a summary in two of the channel's
    digests is still refused by the schema (``uq_digest_items_channel_id_summary_id``)."""
    digest = Digest(
        channel_id=channel_id,
        status=DigestStatus.APPROVED if approved else DigestStatus.DRAFT,
        created_at=now,
        notice=notice,
    )
    session.add(digest)
    session.flush()
    if summary_ids:
        session.execute(
            insert(DigestItem),
            [
                {
                    "digest_id": digest.id,
                    "summary_id": summary_id,
                    "channel_id": channel_id,
                    "position": n,
                }
                for n, summary_id in enumerate(summary_ids)
            ],
        )
    add_parts(session, digest, parts, now=now)
    return digest


def add_parts(
    session: Session,
    digest: Digest,
    parts: Sequence[NewPart],
    *,
    now: datetime,
    first_part: int = 0,
) -> None:
    """The delivery rows, each with the text and pictures it will send: written before
    anything is sent. Parts without pictures (nearly all) go in one bulk insert, which
    costs a tenth of the unit of work's per-object bookkeeping: 10,000 digests due at
    once write 50,000 of them."""
    if not any(part.media for part in parts):
        if parts:
            session.execute(
                insert(Delivery),
                [
                    {
                        "digest_id": digest.id,
                        "channel_id": digest.channel_id,
                        "part": first_part + number,
                        "post": part.post,
                        "position": part.position,
                        "summary_id": part.summary_id,
                        "has_url": part.has_url,
                        "link": part.link,
                        "text": part.text,
                        "rich": dict(part.rich) if part.rich is not None else None,
                        "idempotency_key": part.key,
                        "created_at": now,
                    }
                    for number, part in enumerate(parts)
                ],
            )
        return
    session.add_all(
        Delivery(
            digest_id=digest.id,
            channel_id=digest.channel_id,
            part=first_part + number,
            post=part.post,
            position=part.position,
            summary_id=part.summary_id,
            has_url=part.has_url,
            link=part.link,
            text=part.text,
            rich=dict(part.rich) if part.rich is not None else None,
            idempotency_key=part.key,
            created_at=now,
            media=[
                DeliveryMedia(
                    position=place,
                    content=media.content,
                    mime_type=media.mime_type,
                    sha256=media.sha256,
                    width=media.width,
                    height=media.height,
                    alt=media.alt,
                )
                for place, media in enumerate(part.media)
            ],
        )
        for number, part in enumerate(parts)
    )
    session.flush()


# -- moderators' decisions and revisions ----------------------------------------------------


def decide(
    session: Session,
    digest_id: int,
    *,
    approve: bool,
    moderator_id: int | None,
    now: datetime,
    revision: int | None = None,
) -> bool:
    """Approve or reject a draft: one conditional UPDATE, so two moderators give one decision,
    and, with ``revision``, only the draft as the moderator read it.

    A rejected digest keeps its items: its summaries are not offered to the channel again.
    """
    condition = [Digest.id == digest_id, Digest.status == DigestStatus.DRAFT]
    if revision is not None:
        condition.append(Digest.revision == revision)
    changed = changed_rows(
        session,
        update(Digest)
        .where(*condition)
        .values(
            status=DigestStatus.APPROVED if approve else DigestStatus.REJECTED,
            decided_by_id=moderator_id,
            decided_at=now,
        ),
    )
    if changed and not approve:
        session.execute(
            update(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.CANCELLED)
        )
    return changed == 1


def drop_summary(session: Session, digest_id: int, summary_id: int) -> bool:
    """Take one summary out of a draft; it goes back to the pool for the next digest.

    The caller renders the draft again from the summaries that are left.
    """
    digest = session.get(Digest, digest_id, with_for_update=True)
    if digest is None or digest.status is not DigestStatus.DRAFT:
        return False
    item = session.get(DigestItem, (digest_id, summary_id))
    if item is None:
        return False
    session.delete(item)
    digest.revision += 1
    session.flush()
    return True


def revise_draft(session: Session, digest_id: int, parts: Sequence[NewPart], now: datetime) -> None:
    """A draft's parts rendered again from the summaries left in it (after a drop); a draft
    left with nothing to post is closed as rejected, so no moderator waits on it."""
    for row in session.scalars(select(Delivery).where(Delivery.digest_id == digest_id)).all():
        session.delete(row)
    session.flush()
    digest = session.get_one(Digest, digest_id)
    add_parts(session, digest, parts, now=now)
    if not parts:
        digest.status = DigestStatus.REJECTED
        digest.decided_at = now


def take_back_unsent(session: Session, digest_id: int) -> list[int]:
    """Cancel a digest's unsent parts, so they can be rendered again another way (single
    posts after a network refused replies); the summaries none of whose post went out yet.

    A thread already begun keeps what it has: its summary is not posted a second time.
    """
    rows = session.scalars(
        select(Delivery).where(
            Delivery.digest_id == digest_id,
            Delivery.state.in_((DeliveryState.PENDING, DeliveryState.SENDING)),
        )
    ).all()
    unstarted = {row.summary_id for row in rows if row.position == 0 and row.summary_id}
    for row in rows:
        row.state = DeliveryState.CANCELLED
        row.lease_until = None
    session.flush()
    return sorted(unstarted)


def append_posts(session: Session, digest_id: int, parts: Sequence[NewPart], now: datetime) -> None:
    """New posts at the end of a digest, numbered after everything it had; a digest given
    nothing more to post is finished once the rest is out."""
    digest = session.get_one(Digest, digest_id)
    last_part, last_post = session.execute(
        select(func.max(Delivery.part), func.max(Delivery.post)).where(
            Delivery.digest_id == digest_id
        )
    ).one()
    offset = (last_post or 0) + 1
    renumbered = [replace(part, post=part.post + offset) for part in parts]
    add_parts(session, digest, renumbered, first_part=(last_part or 0) + 1, now=now)
    if not parts:
        finish_if_done(session, digest_id, now)


# -- reading ----------------------------------------------------------------------------------


def recent(
    session: Session, *, limit: int = 20, statuses: Sequence[DigestStatus] = ()
) -> list[Digest]:
    """The newest digests first, for `digest status` and /digests."""
    query = select(Digest).order_by(Digest.id.desc()).limit(limit)
    if statuses:
        query = query.where(Digest.status.in_(statuses))
    return list(session.scalars(query).all())


def deliveries_of(session: Session, digest_id: int) -> list[Delivery]:
    """A digest's parts in posting order."""
    return list(
        session.scalars(
            select(Delivery).where(Delivery.digest_id == digest_id).order_by(Delivery.part)
        ).all()
    )
