"""The publishing side's services: build and decide digests, and the outbox worker.

``Publisher.build`` has ``publishers.digests`` select and render a channel's digest and
``storage.digests`` write it, parts and all, before anything is sent; a channel that asks
for approval gets a draft, and so does a digest that would take an X channel over its
monthly budget (``storage.spending``). ``deliver`` is the worker: it claims a batch of due
parts in one commit (``storage.deliveries``; at most one part per digest, so a thread goes
out in order), sends each with its channel's client outside any transaction (a channel's
parts one after the other, channels side by side), and records what happened:

- sent: its remote id, so the next part of a thread replies to it (the batch's sent parts
  in one transaction once the batch is done, or sooner when it runs long);
- ``Transient`` / ``RateLimited``: again later, with exponential backoff and jitter, or
  at the time the network named;
- ``UnknownOutcome`` / ``Duplicate``: the post may exist; the next try looks it up first
  (``find``) and records it when found, never sending blindly; a network with no way
  to look holds the part for a moderator;
- ``RepliesRefused``: the channel falls back to single posts, the unsent part of this
  digest is rendered again that way, and moderators are told once;
- ``Permanent``: only this channel stops, and moderators are told.

What differs between networks (keys, pages) is asked of the client, never decided here.
Blocking work (the database, the networks' libraries) runs in the caller's thread, and
a batch over several channels in threads of its own: the service runs this in worker
threads, never on the event loop.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from publishers import digests as building
from publishers.channels import ChannelDirectory, stored_row, subscribed_shape
from publishers.networks.base import (
    Duplicate,
    LookupUnsupported,
    Media,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    RepliesRefused,
    Transient,
    UnknownOutcome,
)
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.settings import ChannelSettings, PublishingSettings
from storage import channels as channel_store
from storage import deliveries as outbox
from storage import digests as digest_store
from storage import notices, spending
from storage.database import Database
from storage.models import Channel, DeliveryState, Digest
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""How long a claimed part is its worker's: past every client's timeout, so a live worker
is never taken over, and short enough that a dead one's part moves on within minutes."""
BATCH = 32
"""Parts claimed in one transaction: the claim, and then the record of what was sent, is
one commit for up to this many parts instead of one each. A process killed mid-batch
leaves its parts to the lease, so the batch bounds what a crash delays."""
CONCURRENCY = 8
"""Channels of one batch sent to at the same time, each by a thread of its own."""
BUILD_BATCH = 16
"""Due digests built in one transaction by a build worker (see ``build_due``)."""
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MOST = timedelta(hours=1)
JITTER = 0.2
DEFAULT_X_PRICES = spending.XPrices(
    PublishingSettings.x_post_usd, PublishingSettings.x_post_with_url_usd
)


@dataclass(frozen=True)
class Built:
    digest_id: int | None
    """None when there was nothing to post (another build of the channel, before this one
    in its turn, may have taken what there was)."""
    status: str
    posts: int = 0
    parts: int = 0
    note: str = ""


@dataclass
class Report:
    """What one pass of the worker did."""

    sent: int = 0
    retried: int = 0
    held: int = 0
    failed: int = 0
    digests_sent: list[int] = field(default_factory=list)

    def add(self, other: Report) -> None:
        """Count what another lane of the same pass did."""
        self.sent += other.sent
        self.retried += other.retried
        self.held += other.held
        self.failed += other.failed
        self.digests_sent.extend(other.digests_sent)

    @property
    def attempts(self) -> int:
        """Parts tried in this pass, whatever became of them; bounds one pass of the worker."""
        return self.sent + self.retried + self.held + self.failed


@dataclass
class _Lane:
    """One channel's share of a batch: sent in order by one thread, through its client."""

    channel: ChannelSettings
    client: Network
    leased_at: datetime
    """When the batch was claimed: its leases run from then."""
    untried: list[outbox.Claim]
    sent: list[_Sent] = field(default_factory=list)
    report: Report = field(default_factory=Report)
    resume_at: datetime | None = None
    """Set by a rate limit: the channel's other parts wait until then, untried."""


@dataclass(frozen=True)
class _Sent:
    """A part the network took, waiting to be recorded with the rest of its batch."""

    channel: ChannelSettings
    client: Network
    claim: outbox.Claim
    posted: Posted


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """30 s, 1 min, 2 min ... at most an hour, each within ±20 % so retries spread out."""
    wait = min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_MOST)
    return wait * rng.uniform(1 - JITTER, 1 + JITTER)


class Publisher:
    """The publishing side's services: build, approve and deliver digests."""

    def __init__(
        self,
        db: Database,
        renderer: DigestRenderer,
        channels: ChannelDirectory | Callable[[], Iterable[ChannelSettings]],
        clients: Clients,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        rng: random.Random | None = None,
        site_url: str | None = None,
        x_prices: spending.XPrices = DEFAULT_X_PRICES,
    ) -> None:
        self.db = db
        self.renderer = renderer
        self.directory = _directory(channels)
        self.clients = clients
        self.clock = clock
        self.lease = lease
        self.batch = batch
        """Parts claimed at once (at most one per digest)."""
        self.concurrency = concurrency
        """Channels of a batch sent to side by side."""
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.builder = building.DigestBuilder(renderer, clients.new_key, site_url)
        self.x_prices = x_prices
        """What X bills per post, for the channels' monthly budgets."""
        self.on_due: Callable[[], None] = lambda: None
        """Called when parts may have become due (a digest was built): the delivery
        worker sets it to wake up instead of waiting for its next poll."""
        self.on_marked: Callable[[], None] | None = None
        """Set while a build worker runs in this process: called when a scheduled digest
        is marked due, so the worker builds it (None: the job builds it itself)."""

    @property
    def channels(self) -> Callable[[], list[ChannelSettings]]:
        """Every channel, configured and subscribed (a list: costly with thousands)."""
        return self.directory

    @channels.setter
    def channels(
        self, channels: ChannelDirectory | Callable[[], Iterable[ChannelSettings]]
    ) -> None:
        self.directory = _directory(channels)

    def channel(self, name: str) -> ChannelSettings | None:
        """A channel by name, configured or subscribed."""
        return self.directory.named(name)

    # -- building ---------------------------------------------------------------------------

    def build(self, channel: ChannelSettings) -> Built:
        """The channel's next digest, written to the outbox (a draft if it needs approval,
        or if it would take an X channel over its monthly budget)."""
        with self.db.transaction() as session:
            return self._build_in(session, channel, self.clock())

    def mark_due(self, channel: ChannelSettings) -> None:
        """The channel's scheduled digest is due now: any process may build it
        (:meth:`build_due`), once."""
        now = self.clock()
        with self.db.transaction() as session:
            _mark_in(session, channel, now)

    def mark_scheduled(self, schedule: str, timezone: str) -> int:
        """Every channel on ``schedule`` in ``timezone`` is due now, in one transaction:
        config.toml's one by one (a few), the subscriptions in one statement however many
        share the time (10,000 at 09:00 take as long as one). How many were marked."""
        now = self.clock()
        configured = self.directory.configured()
        marked = 0
        with self.db.transaction() as session:
            for channel in configured:
                if (channel.schedule, channel.timezone) == (schedule, timezone):
                    _mark_in(session, channel, now)
                    marked += 1
            if self.directory.has_subscriptions:
                marked += channel_store.mark_subscriptions_due(
                    session,
                    schedule,
                    timezone,
                    now,
                    besides=[channel.name for channel in configured],
                )
        return marked

    def any_due(self) -> bool:
        """Whether a scheduled digest waits to be built (a read, no lock taken)."""
        with self.db.sessions() as session:
            return channel_store.any_due(session)

    def build_due(
        self, *, limit: int | None = None, stop: Callable[[], bool] = lambda: False
    ) -> list[tuple[str, Built]]:
        """Build the digests marked due, longest waiting first, until none is left,
        ``limit`` were taken or ``stop`` says so; (channel, what was built) for each.

        Up to ``BUILD_BATCH`` channels are taken in one transaction that holds their
        rows while it builds, so a process building beside this one takes the next ones
        instead (PostgreSQL) and each digest is built once; a batch shares its
        transaction's fixed costs, which matter when 10,000 digests are due at once. When
        a build fails, its batch is undone and that channel is logged and set aside until
        its next time, as a failed scheduled build always was; the others are built by
        the next batch. When the database itself fails, the marks stay for a later try."""
        done: list[tuple[str, Built]] = []
        while (limit is None or len(done) < limit) and not stop():
            take = BUILD_BATCH if limit is None else min(BUILD_BATCH, limit - len(done))
            built: list[tuple[str, Built]] = []
            name = ""
            try:
                with self.db.transaction() as session:
                    rows = channel_store.next_due(session, take)
                    # The batch's marks go in one statement (undone with the batch).
                    channel_store.clear_due(session, [row.id for row in rows])
                    for row in rows:
                        name = row.name
                        channel = self.directory.settings_of(row)
                        if channel is None:
                            log.warning("digest for %s not built: the channel is gone", name)
                            continue
                        built.append((name, self._build_in(session, channel, self.clock(), row)))
            except Exception:
                if not name:  # no build raised: the database did; the marks stay
                    raise
                # The batch is undone; the channel whose build raised is set aside and
                # the others are taken again by the next batch.
                log.exception("digest for channel %s failed; it runs again at its next time", name)
                with self.db.transaction() as session:
                    if (failed := channel_store.by_name(session, name)) is not None:
                        channel_store.clear_due(session, [failed.id])
                continue
            if not rows:
                break
            done.extend(built)
            if any(digest.digest_id is not None for _, digest in built):
                self.on_due()
        return done

    def _build_in(
        self, session: Session, channel: ChannelSettings, now: datetime, held: Channel | None = None
    ) -> Built:
        """:meth:`build` inside the caller's transaction; whatever the build, the
        channel's due mark is cleared with it. ``held``: the channel's row, read and
        locked in this transaction already (a subscription keeps its stored settings, so
        it needs no bringing in line with config.toml)."""
        if held is not None and channel.origin == "discord":
            row = held
        else:
            row = stored_row(session, channel, now)
            channel_store.hold_for_build(session, row.id)
            session.refresh(row)  # as the build before this one left it
        row.digest_due_at = None  # written with the digest: a build answers the mark
        single = row.replies_refused_at is not None and channel.threaded
        shaped = building.shaped(channel, single_posts=single)
        plan = self.builder.select(session, shaped, now, row.id)
        if plan is None:
            return Built(None, "empty", note="no approved summary the channel has not had")
        over = self._over_budget(session, channel, row.id, plan, now)
        said = [building.SINGLE_POSTS_NOTICE] if single else []
        digest = digest_store.create_digest(
            session,
            row.id,
            [item.id for item in plan.items],
            approved=not channel.require_approval and over is None,
            now=now,
            notice="; ".join(said + ([over] if over else [])) or None,
        )
        parts = plan.parts(f"digest-{digest.id}")
        digest_store.add_parts(session, digest, parts, now=now)
        if over is not None:
            notices.add_notice(
                session,
                row.id,
                digest.id,
                f"Digest {digest.id} to {channel.name} is held as a draft, {over}. A "
                f"moderator may still approve it (`shortscience digest approve {digest.id}`"
                "); raising the channel's monthly_budget_usd lets the next ones go out.",
                now,
            )
            log.warning("digest %s for %s held as a draft: %s", digest.id, channel.name, over)
        posts = len(plan.rendered.posts)
        return Built(digest.id, digest.status.value, posts, len(parts), note=over or "")

    def _over_budget(
        self,
        session: Session,
        channel: ChannelSettings,
        channel_id: int,
        plan: building.Plan,
        now: datetime,
    ) -> str | None:
        """Why the digest must wait for a moderator: it costs more on X than is left of the
        channel's monthly budget (sent and committed this month counted); None if it fits."""
        budget = channel.monthly_budget_usd
        if budget is None or channel.kind != "x":
            return None
        prices = self.x_prices
        cost = plan.rendered.cost(prices.post_usd, prices.post_with_url_usd).usd
        month = spending.month_spending(session, channel_id, now, prices)
        if month.fits(cost, budget):
            return None
        return (
            f"over budget: this digest costs {spending.dollars(cost)}; "
            f"{spending.dollars(month.total_usd)} of the {spending.dollars(budget)} monthly "
            f"budget is spent or committed ({month.month_start:%B %Y}, UTC)"
        )

    # -- moderators' decisions ---------------------------------------------------------------

    def decide(
        self,
        digest_id: int,
        *,
        approve: bool,
        moderator_id: int | None,
        revision: int | None = None,
    ) -> bool:
        """Approve or reject a draft (as of ``revision``, when given); False when it is no
        draft (decided, or no such) or no longer that revision."""
        with self.db.transaction() as session:
            return digest_store.decide(
                session,
                digest_id,
                approve=approve,
                moderator_id=moderator_id,
                now=self.clock(),
                revision=revision,
            )

    def drop(self, digest_id: int, summary_id: int) -> bool:
        """Take a summary out of a draft and render the draft again without it."""
        now = self.clock()
        with self.db.transaction() as session:
            if not digest_store.drop_summary(session, digest_id, summary_id):
                return False
            digest = session.get_one(Digest, digest_id)
            channel = self.channel(digest.channel.name)
            if channel is None:  # gone from the config: the draft waits as it is
                return False
            plan = self.builder.redraft(session, digest, channel, now)
            parts = plan.parts(f"digest-{digest_id}-r{digest.revision}")
            digest_store.revise_draft(session, digest_id, parts, now)
            return True

    def release(self, digest_id: int, *, posted: bool) -> int:
        """A moderator's word on held parts: posted after all, or send them again."""
        with self.db.transaction() as session:
            return outbox.release(session, digest_id, posted=posted, now=self.clock())

    def resume(self, name: str) -> tuple[bool, int]:
        """A stopped channel sends again; (it was stopped, parts queued again)."""
        now = self.clock()
        with self.db.transaction() as session:
            row = channel_store.by_name(session, name)
            if row is None or not channel_store.resume(session, name, now):
                return False, 0
            return True, outbox.retry_failed(session, row.id, now)

    # -- delivering ------------------------------------------------------------------------

    def deliver(self, *, limit: int = 1000, stop: Callable[[], bool] = lambda: False) -> Report:
        """Send what is due until nothing is, ``limit`` tries were made, or ``stop`` says
        so (SIGTERM: the parts in flight finish, no new one starts).

        Parts are claimed in batches (``batch`` at most, one transaction committed before
        any of them is sent), each channel's sent in order and the channels side by side,
        and the sent ones are recorded in one transaction per batch."""
        report = Report()
        channels = {
            channel.name: channel
            for channel in self.directory.configured()
            if self.clients.route(channel) != "elsewhere"
        }
        subscribed = (
            self.directory.has_subscriptions
            and self.clients.route(subscribed_shape()) != "elsewhere"
        )
        while report.attempts < limit and not stop():
            now = self.clock()
            with self.db.transaction() as session:
                claims = outbox.claim_due(
                    session,
                    now,
                    self.lease,
                    secrets.token_hex(16),
                    channels.keys(),
                    limit=min(self.batch, limit - report.attempts),
                    subscribed=subscribed,
                )
            if not claims:
                break
            claims = self._known(channels, claims, now)
            self._deliver_batch(channels, claims, now, report, stop)
        return report

    def _known(
        self, channels: dict[str, ChannelSettings], claims: list[outbox.Claim], now: datetime
    ) -> list[outbox.Claim]:
        """The claims whose channel this process knows, subscribed ones read by name as
        they come (and kept in ``channels`` for the rest of the pass); a channel stopped
        since the claim gets its parts back, due again after a lease."""
        unknown = []
        for claim in claims:
            name = claim.channel_name
            if name not in channels:
                found = self.directory.named(name)
                if found is None:
                    unknown.append(claim)
                else:
                    channels[name] = found
        if unknown:
            with self.db.transaction() as session:
                outbox.record_unsent(session, unknown, at=now + self.lease)
        return [claim for claim in claims if claim.channel_name in channels]

    def _deliver_batch(
        self,
        channels: Mapping[str, ChannelSettings],
        claims: list[outbox.Claim],
        now: datetime,
        report: Report,
        stop: Callable[[], bool],
    ) -> None:
        """One batch: each channel's parts in claim order, the channels side by side; the
        sent ones recorded together, the ones never tried given back at once."""
        queues: dict[str, list[outbox.Claim]] = {}
        for claim in claims:
            queues.setdefault(claim.channel_name, []).append(claim)
        lanes = [
            _Lane(channels[name], self.clients.client_for(channels[name]), now, queue)
            for name, queue in queues.items()
        ]
        errors: list[BaseException] = []
        if len(lanes) == 1:
            self._run_lane(lanes[0], stop, errors)
        else:
            with ThreadPoolExecutor(
                max_workers=min(len(lanes), self.concurrency), thread_name_prefix="deliver"
            ) as pool:
                for lane in lanes:
                    pool.submit(self._run_lane, lane, stop, errors)
        if any(lane.untried for lane in lanes):
            with self.db.transaction() as session:
                for lane in lanes:  # a rate-limited channel's wait until the network's time
                    outbox.record_unsent(session, lane.untried, at=lane.resume_at)
        for lane in lanes:
            report.add(lane.report)
        self._record_sent([sent for lane in lanes for sent in lane.sent], report)
        if errors:
            raise errors[0]

    def _run_lane(self, lane: _Lane, stop: Callable[[], bool], errors: list[BaseException]) -> None:
        """A channel's parts of the batch, one after the other, until one raises or
        ``stop`` says so; what is left stays in ``lane.untried``."""
        try:
            while lane.untried and lane.resume_at is None and not stop():
                claim = lane.untried.pop(0)
                if not self._leased(lane, claim):
                    continue
                posted = self._deliver_one(lane, claim)
                if posted is not None:
                    lane.sent.append(_Sent(lane.channel, lane.client, claim, posted))
        except BaseException as error:  # handed to the batch, once the other lanes finish
            errors.append(error)

    def _leased(self, lane: _Lane, claim: outbox.Claim) -> bool:
        """Every part starts with (nearly) its whole lease ahead, as a part claimed alone
        does. In a batch claimed more than a tenth of a lease ago, the part's lease is
        renewed first, and what the lane sent so far is recorded with it (before its own
        leases run out). False when another worker took the part over meanwhile."""
        if self.clock() - lane.leased_at <= self.lease / 10:
            return True
        sent, lane.sent = lane.sent, []
        if self._record_sent(sent, lane.report, renew=claim):
            return True
        log.warning(
            "digest %s part %s was taken over by another worker", claim.digest_id, claim.part
        )
        return False

    def _deliver_one(self, lane: _Lane, claim: outbox.Claim) -> Posted | None:
        """Send one claimed part: what the network answered when it is out (recorded with
        the batch), None when it is not (what became of it is recorded here). A rate limit
        pauses the lane until the time the network named."""
        channel, client, report = lane.channel, lane.client, lane.report
        post = OutgoingPost(
            text=claim.text,
            rich=claim.rich,
            key=claim.key,
            part=claim.part,
            parts=claim.parts,
            reply_to=_posted(claim.reply_to),
            root=_posted(claim.root),
            link=claim.link,
            not_before=claim.first_attempt_at,
            digest_id=claim.digest_id,
            post=claim.post,
            position=claim.position,
            built_at=claim.built_at,
            media=tuple(
                Media(
                    position=media.position,
                    content=media.content,
                    mime_type=media.mime_type,
                    sha256=media.sha256,
                    width=media.width,
                    height=media.height,
                    alt=media.alt,
                    remote_ref=media.remote_ref if self._reusable(client, media) else None,
                )
                for media in claim.media
            ),
        )
        try:
            posted = None
            if claim.look_first:
                posted = client.find(post)
                if posted is None:
                    with self.db.transaction() as session:
                        still_mine = outbox.record_looked_up(session, claim)
                    if not still_mine:  # its lease ran out while we looked: the other
                        log.warning(  # worker looks and posts, never both of us
                            "digest %s part %s was taken over by another worker",
                            claim.digest_id,
                            claim.part,
                        )
                        return None
            if posted is None:
                uploaded = self._uploaded(client, claim, post)
                if uploaded is None:
                    return None
                posted = client.post(uploaded)
        except RateLimited as error:
            lane.resume_at = self._retry(claim, error, report, at=error.retry_at)
            return None
        except RepliesRefused as error:
            self._refused_replies(channel, claim, error, report)
            return None
        except Permanent as error:
            self._fail(claim, error, report)
            return None
        except (UnknownOutcome, Duplicate) as error:
            # It may be out: the next try looks it up before anything else.
            self._retry(claim, error, report, at=None, look_first=True, soon=True)
            return None
        except LookupUnsupported as error:
            with self.db.transaction() as session:
                outbox.record_held(session, claim, str(error), self.clock())
            log.warning("digest %s part %s held for a moderator", claim.digest_id, claim.part)
            report.held += 1
            return None
        except Transient as error:
            self._retry(claim, error, report, at=error.retry_at)
            return None
        except PublishError as error:  # a new kind of error: the safe reading is "unknown"
            self._retry(claim, error, report, at=None, look_first=True)
            return None
        return posted

    def _reusable(self, client: Network, media: outbox.ClaimedMedia) -> bool:
        """An upload a post may still refer to (the network has not forgotten it yet)."""
        return (
            media.remote_ref is not None
            and media.uploaded_at is not None
            and self.clock() - media.uploaded_at < client.media_reuse
        )

    def _uploaded(
        self, client: Network, claim: outbox.Claim, post: OutgoingPost
    ) -> OutgoingPost | None:
        """The post with every picture uploaded, each upload recorded as it is made, so a
        retry reuses it; None when another worker took the part over meanwhile."""
        if not client.uploads_media or not post.media:
            return post
        media = []
        for picture in post.media:
            if picture.remote_ref is None:
                ref = client.upload(picture, post)
                with self.db.transaction() as session:
                    mine = outbox.record_uploaded(
                        session, claim, picture.position, ref, self.clock()
                    )
                if not mine:
                    log.warning(
                        "digest %s part %s was taken over by another worker",
                        claim.digest_id,
                        claim.part,
                    )
                    return None
                picture = replace(picture, remote_ref=ref)
            media.append(picture)
        return replace(post, media=tuple(media))

    def _record_sent(
        self, sent: list[_Sent], report: Report, *, renew: outbox.Claim | None = None
    ) -> bool:
        """What a batch sent, recorded in one transaction, with ``renew``'s lease renewed in
        it (the answer: renewed; True without one). A part whose lease another worker took
        over meanwhile is logged, not counted (that worker records it)."""
        if not sent and renew is None:
            return True
        now = self.clock()
        with self.db.transaction() as session:
            recorded, finished = outbox.record_sent_all(
                session,
                [
                    (
                        item.claim,
                        outbox.RemoteRef(item.posted.remote_id, item.posted.cid, item.posted.url),
                    )
                    for item in sent
                ],
                now,
            )
            renewed = renew is None or outbox.renew(session, renew, now + self.lease)
        mine = {claim.delivery_id for claim in recorded}
        for item in sent:
            claim = item.claim
            if claim.delivery_id not in mine:
                log.warning(
                    "digest %s part %s was taken over by another worker",
                    claim.digest_id,
                    claim.part,
                )
                continue
            report.sent += 1
            log.info(
                "sent digest %s part %d/%d to %s (%s)",
                claim.digest_id,
                claim.part + 1,
                claim.parts,
                claim.channel_name,
                item.posted.remote_id,
            )
        for item in sent:
            if item.claim.digest_id in finished and item.claim.delivery_id in mine:
                report.digests_sent.append(item.claim.digest_id)
                if item.client.keeps_pages:
                    self._keep_page(item.channel, item.client, item.claim.digest_id)
        return renewed

    def _keep_page(self, channel: ChannelSettings, client: Network, digest_id: int) -> None:
        """The digest as one page beside its posts, so a new user sees real output."""
        with self.db.sessions() as session:
            digest = session.get_one(Digest, digest_id)
            built_at = digest.created_at
            page = self.builder.page(session, digest, channel)
        if page:
            try:
                client.write_page(digest_id, page, built_at)
            except PublishError as error:
                log.warning("could not write the page of digest %s: %s", digest_id, error)

    def _retry(
        self,
        claim: outbox.Claim,
        error: PublishError,
        report: Report,
        *,
        at: datetime | None,
        look_first: bool = False,
        soon: bool = False,
    ) -> datetime:
        now = self.clock()
        wait = timedelta(seconds=1) if soon else backoff(claim.attempts, self.rng)
        when = max(at, now) if at is not None else now + wait
        with self.db.transaction() as session:
            outbox.record_retry(session, claim, when, str(error), look_first=look_first)
        log.info(
            "digest %s part %d to %s: %s; again at %s",
            claim.digest_id,
            claim.part + 1,
            claim.channel_name,
            error,
            f"{when:%H:%M:%S}",
        )
        report.retried += 1
        return when

    def _fail(self, claim: outbox.Claim, error: PublishError, report: Report) -> None:
        with self.db.transaction() as session:
            outbox.record_failed(session, claim, str(error), self.clock())
        log.error("channel %s stopped: %s", claim.channel_name, error)
        report.failed += 1

    def _refused_replies(
        self, channel: ChannelSettings, claim: outbox.Claim, error: PublishError, report: Report
    ) -> None:
        """Replies refused: single posts from now on, starting with what is unsent here."""
        now = self.clock()
        with self.db.transaction() as session:
            told = channel_store.refuse_replies(session, claim.channel_id, now)
            if told:
                notices.add_notice(
                    session,
                    claim.channel_id,
                    claim.digest_id,
                    f"{channel.name}: the network refused a reply in a thread ({error}). The "
                    "channel posts one post per summary (TL;DR and link) from now on.",
                    now,
                )
            unsent = digest_store.take_back_unsent(session, claim.digest_id)
            plan = self.builder.plan(
                building.shaped(channel, single_posts=True), self.builder.of(session, unsent), now
            )
            parts = plan.parts(f"digest-{claim.digest_id}-single")
            digest_store.append_posts(session, claim.digest_id, parts, now)
        log.warning("channel %s: replies refused; falling back to single posts", channel.name)
        report.retried += 1


def _mark_in(session: Session, channel: ChannelSettings, now: datetime) -> None:
    if channel.origin == "discord":  # a subscription: its row exists, as stored
        channel_store.mark_subscribed_due(session, channel.name, now)
    else:
        channel_store.mark_due(session, stored_row(session, channel, now).id, now)


def _directory(
    channels: ChannelDirectory | Callable[[], Iterable[ChannelSettings]],
) -> ChannelDirectory:
    return channels if isinstance(channels, ChannelDirectory) else ChannelDirectory.of(channels)


def _posted(ref: outbox.RemoteRef | None) -> Posted | None:
    return Posted(ref.remote_id, ref.cid, ref.url) if ref is not None else None


__all__ = ["Built", "DeliveryState", "Publisher", "Report", "backoff"]
