"""Digests seen from the chat side: what a channel would get now (a preview).

The same selection and renderer the publishing side uses, so the preview is exactly
what the network will receive. A preview writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.moderation import require_moderator
from bot.commands.replies import Action, Field, Reply, Section, Tone
from bot.errors import UserError
from bot.wording import counted, plural
from publishers import digests as digest_service
from publishers.channels import catalogue
from publishers.delivery import Built, Report
from publishers.render import bidi
from publishers.render.clipping import clip
from publishers.render.posts import Cost, RenderedDigest, counter_for
from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage import digests as digest_store
from storage.models import Digest, DigestStatus, Summary, User
from storage.spending import Spending, XPrices, dollars, month_spending


@dataclass(frozen=True)
class Preview:
    channel: ChannelSettings
    digest: RenderedDigest
    limit: int | None
    """The platform's limit per part, as it counts (None: the outbox folder has none)."""
    cost: Cost | None
    """On X, what the posts would cost at the configured prices."""
    month: XMonth | None = None
    """On X, what the channel's posts cost this month so far, and its budget."""


@dataclass(frozen=True)
class XMonth:
    """An X channel's month so far (UTC): its posts sent and committed, priced, and its
    monthly budget, as the preview and `digest status` show them."""

    channel: str
    spent: Spending
    budget_usd: float | None

    @property
    def left_usd(self) -> float | None:
        """What is left of the budget once the sent and committed posts are paid."""
        return None if self.budget_usd is None else self.spent.left(self.budget_usd)

    def fits(self, cost_usd: float) -> bool:
        """A digest of that cost goes out without a moderator (the rule the build applies)."""
        return self.budget_usd is None or self.spent.fits(cost_usd, self.budget_usd)

    @property
    def label(self) -> str:
        """The month counted, in the clock it is counted in: "December 2026 (UTC)"."""
        return f"{self.spent.month_start:%B %Y} (UTC)"

    def summary(self) -> str:
        """One line: sent, committed, and the budget with what is left."""
        spent = self.spent
        text = (
            f"{counted(spent.sent_posts, 'post')} sent, {spent.sent_with_url} with a URL, "
            f"{dollars(spent.sent_usd)}; {counted(spent.committed_posts, 'post')} approved "
            f"and not sent yet, {dollars(spent.committed_usd)}"
        )
        if self.budget_usd is None or self.left_usd is None:
            return f"{text}; no monthly budget set"
        return f"{text}; budget {dollars(self.budget_usd)}, {dollars(self.left_usd)} left"

    def as_json(self) -> dict[str, object]:
        """The same numbers for scripts (amounts in US dollars)."""
        spent = self.spent
        return {
            "month": f"{spent.month_start:%Y-%m}",
            "timezone": "UTC",
            "sent_posts": spent.sent_posts,
            "sent_with_url": spent.sent_with_url,
            "sent_usd": spent.sent_usd,
            "committed_posts": spent.committed_posts,
            "committed_with_url": spent.committed_with_url,
            "committed_usd": spent.committed_usd,
            "total_usd": spent.total_usd,
            "budget_usd": self.budget_usd,
            "left_usd": self.left_usd,
        }


def x_month(session: Session, ctx: CommandContext, channel: ChannelSettings) -> XMonth | None:
    """What an X channel's posts cost this month, at the configured prices; None for the
    channels of other networks, which do not bill posts."""
    if channel.kind != "x":
        return None
    row = channel_store.by_name(session, channel.name)
    prices = XPrices(ctx.publishing.x_post_usd, ctx.publishing.x_post_with_url_usd)
    spent = month_spending(session, row.id if row else None, ctx.clock(), prices)
    return XMonth(channel.name, spent, channel.monthly_budget_usd)


def x_months(session: Session, ctx: CommandContext) -> list[XMonth]:
    """Every X channel's month so far, for `digest status`."""
    return [
        month
        for channel in channels(session, ctx)
        if (month := x_month(session, ctx, channel)) is not None
    ]


def channels(session: Session, ctx: CommandContext) -> list[ChannelSettings]:
    """Every channel that takes digests: config.toml's, then those subscribed from chat."""
    return catalogue(session, ctx.publishing.channels)


async def channel_names(ctx: CommandContext) -> list[str]:
    """The names a front end offers when a user picks a channel (Discord's autocomplete)."""
    return [channel.name for channel in await ctx.read(channels, ctx)]


async def channel_by_name(ctx: CommandContext, name: str) -> ChannelSettings:
    """The channel a user named (trimmed); a UserError listing the known ones otherwise."""
    known = await ctx.read(channels, ctx)
    found = digest_service.channel_named(known, name.strip())
    if found is None:
        names = ", ".join(channel.name for channel in known) or "none are configured"
        raise UserError(f"There is no channel “{name.strip()[:64]}”. Channels: {names}.")
    return found


async def preview(ctx: CommandContext, name: str) -> Preview:
    """The posts channel ``name`` would get now, each part with its length."""
    channel = await channel_by_name(ctx, name)
    digest = await ctx.run(
        digest_service.preview,
        ctx.db,
        ctx.renderer,
        channel,
        ctx.clock,
        site_url=ctx.publishing.site_url,
    )
    limit = None if channel.kind == "outbox" else counter_for(channel).limit
    cost: Cost | None = None
    month: XMonth | None = None
    if channel.kind == "x":
        cost = digest.cost(ctx.publishing.x_post_usd, ctx.publishing.x_post_with_url_usd)
        month = await ctx.read(x_month, ctx, channel)
    return Preview(channel, digest, limit, cost, month)


async def preview_for_moderator(ctx: CommandContext, actor: Actor, name: str) -> Preview:
    """A preview asked for in chat, where only moderators may see what a channel gets."""
    require_moderator(actor, "preview digests")
    return await preview(ctx, name)


def preview_reply(preview: Preview) -> Reply:
    """A preview as a chat reply: one section per post, each part with its length."""
    channel, digest = preview.channel, preview.digest
    title = f"Digest preview: {channel.name} ({channel.kind})"
    if not digest.posts:
        return Reply(
            title=title,
            text="Nothing to post now: no approved summary this channel has not had yet.",
            private=True,
        )
    facts = [
        Field("Posts", str(len(digest.posts))),
        Field("Parts", str(digest.parts)),
    ]
    if preview.cost is not None:
        facts.append(
            Field(
                "X cost",
                f"{counted(preview.cost.posts, 'post')}, {preview.cost.with_url} with a URL, "
                f"about ${preview.cost.usd:.3f}",
            )
        )
    if preview.month is not None:
        facts.append(Field(f"X in {preview.month.label}", preview.month.summary()))
    sections = []
    for number, post in enumerate(digest.posts, start=1):
        ids = ", ".join(f"#{summary_id}" for summary_id in post.summary_ids)
        limit = f"/{preview.limit}" if preview.limit else ""
        text = "\n\n".join(
            f"[part {index}/{len(post.parts)} · {part.length}{limit}]\n{part.text}"
            + "".join(f"\n[picture: {card.alt}]" for card in part.media)
            for index, part in enumerate(post.parts, start=1)
        )
        sections.append(Section(title=f"Post {number} of {len(digest.posts)} ({ids})", text=text))
    approval = " A moderator approves it before it goes out." if channel.require_approval else ""
    return Reply(
        title=title,
        text=f"What {channel.name} would get now, exactly as sent.{approval}",
        fields=tuple(facts),
        sections=tuple(sections),
        private=True,
    )


# -- sending, deciding, watching ----------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    part: int
    post: int
    position: int
    state: str
    attempts: int
    last_error: str | None
    remote_id: str | None
    remote_url: str | None
    next_attempt_at: datetime | None
    text: str


@dataclass(frozen=True)
class DigestView:
    id: int
    channel: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    notice: str | None
    summary_ids: tuple[int, ...]
    deliveries: tuple[DeliveryView, ...]
    channel_stopped: str | None
    revision: int = 1


def _views(session: Session, limit: int, drafts_only: bool) -> list[DigestView]:
    statuses = (DigestStatus.DRAFT,) if drafts_only else ()
    return [
        _digest_view(session, digest)
        for digest in digest_store.recent(session, limit=limit, statuses=statuses)
    ]


def _digest_view(session: Session, digest: Digest) -> DigestView:
    deliveries = tuple(
        DeliveryView(
            row.part,
            row.post,
            row.position,
            row.state.value,
            row.attempts,
            row.last_error,
            row.remote_id,
            row.remote_url,
            row.next_attempt_at,
            row.text,
        )
        for row in digest_store.deliveries_of(session, digest.id)
    )
    return DigestView(
        id=digest.id,
        channel=digest.channel.name,
        status=digest.status.value,
        created_at=digest.created_at,
        sent_at=digest.sent_at,
        notice=digest.notice,
        summary_ids=tuple(item.summary_id for item in digest.items),
        deliveries=deliveries,
        channel_stopped=digest.channel.stop_reason if digest.channel.stopped_at else None,
        revision=digest.revision,
    )


async def status(ctx: CommandContext, *, limit: int = 20) -> list[DigestView]:
    """The newest digests with their state and every delivery's."""
    return await ctx.read(_views, limit, False)


async def spending(ctx: CommandContext) -> list[XMonth]:
    """What each X channel's posts cost this month so far, and its budget."""
    return await ctx.read(x_months, ctx)


async def send_now(ctx: CommandContext, name: str) -> tuple[Built, Report | None]:
    """Build the channel's digest now and deliver what is due, as the scheduler will."""
    channel = await channel_by_name(ctx, name)
    publisher = ctx.publishing_service
    built = await ctx.run(publisher.build, channel)
    report = None
    if built.digest_id is not None and built.status == DigestStatus.APPROVED.value:
        report = await ctx.run(publisher.deliver)
    return built, report


async def deliver_now(ctx: CommandContext) -> Report:
    """One pass of the delivery worker over everything due."""
    return await ctx.run(ctx.publishing_service.deliver)


def _moderator_id(session: Session, actor: Actor) -> int:
    return user_of(session, actor).id


async def decide(
    ctx: CommandContext,
    actor: Actor,
    digest_id: int,
    *,
    approve: bool,
    revision: int | None = None,
    delivering: bool = False,
) -> Reply:
    """Approve or reject a draft digest; two moderators at once give one decision.

    ``revision`` is the draft as the moderator read it (a card's button carries it): if a
    summary was taken out since, nothing is decided and the moderator reads it again.
    ``delivering``: the caller delivers at once and says what was sent, so the reply does
    not promise a later delivery.
    """
    require_moderator(actor, "approve digests" if approve else "reject digests")
    moderator = await ctx.write(_moderator_id, actor)
    publisher = ctx.publishing_service
    if not await ctx.run(
        publisher.decide, digest_id, approve=approve, moderator_id=moderator, revision=revision
    ):
        current = await ctx.read(_digest_status, digest_id)
        if current is None:
            raise UserError(f"There is no digest {digest_id}. /digests lists the drafts.")
        if current == DigestStatus.DRAFT.value:
            raise UserError(
                f"Digest {digest_id} changed since you read it (a summary was taken out). "
                "Read it again before deciding."
            )
        raise UserError(f"Digest {digest_id} is {current}, not a draft; nothing changed.")
    verb = "approved" if approve else "rejected"
    if not approve:
        after = " Its summaries will not go to that channel."
    elif delivering:
        after = ""  # the caller says what its delivery sent
    else:
        after = (
            " It goes out with the next delivery (within seconds while `shortscience run` "
            "runs, or with `shortscience digest deliver`)."
        )
    return Reply(
        title=f"Digest {digest_id} {verb}",
        text=f"Digest {digest_id} was {verb} by {actor.display_name}.{after}",
        tone=Tone.SUCCESS,
    )


async def drop(ctx: CommandContext, actor: Actor, digest_id: int, summary_id: int) -> Reply:
    """Take one summary out of a draft; it goes back to the pool for the next digest."""
    require_moderator(actor, "change digests")
    if not await ctx.run(ctx.publishing_service.drop, digest_id, summary_id):
        raise UserError(
            f"Digest {digest_id} is not a draft holding summary #{summary_id}; nothing changed."
        )
    card = await draft_card(ctx, digest_id)
    taken = f"Summary #{summary_id} was taken out; it can go out with a later digest."
    if not card.open:
        return Reply(
            title=f"Digest {digest_id} changed",
            text=f"{taken} {card.reply.notice}",
            tone=Tone.SUCCESS,
        )
    # The reply shows the draft as it is now and its buttons are bound to this revision:
    # whoever took the summary out has read the new draft, so their decision applies to it.
    return Reply(
        title=f"Digest {digest_id} changed",
        text=f"{taken} The draft as it is now follows; /approve-digest {digest_id} decides on it.",
        sections=(
            Section(card.reply.title or f"Digest {digest_id}", card.reply.text, card.reply.footer),
        ),
        actions=card.reply.actions,
        tone=Tone.SUCCESS,
    )


def _digest_status(session: Session, digest_id: int) -> str | None:
    digest = session.get(Digest, digest_id)
    return digest.status.value if digest is not None else None


def _drafts(session: Session) -> list[DigestView]:
    return _views(session, 10, True)


async def drafts(ctx: CommandContext, actor: Actor) -> Reply:
    """Digests waiting for a moderator, each with its posts as they will go out."""
    require_moderator(actor, "see digests waiting for approval")
    waiting = await ctx.read(_drafts)
    if not waiting:
        return Reply(title="Digests", text="No digest is waiting for approval.", private=True)
    sections = tuple(draft_section(view) for view in waiting)
    return Reply(
        title="Digests waiting for approval",
        text=f"{len(waiting)} waiting. /approve-digest <number>, /reject-digest <number>, "
        "/drop-from-digest <number> <summary>.",
        sections=sections,
        actions=tuple(
            action
            for view in waiting
            for action in (
                Action("Approve", "approve-digest", str(view.id), revision=view.revision),
                Action("Reject", "reject-digest", str(view.id), revision=view.revision),
            )
        ),
        private=True,
    )


def draft_section(view: DigestView) -> Section:
    """A draft as one reply section, every part as it will be sent: the list and the card
    show the same text."""
    summaries = ", ".join(f"#{number}" for number in view.summary_ids)
    parts = "\n\n".join(
        f"[post {delivery.post + 1}, part {delivery.position + 1}]\n{delivery.text}"
        for delivery in view.deliveries
    )
    note = f"; {view.notice}" if view.notice else ""  # why it waits (over an X budget)
    return Section(
        title=f"Digest {view.id} to {view.channel} ({summaries})",
        text=parts,
        footer=f"{counted(len(view.deliveries), 'part')}; "
        f"made {view.created_at:%Y-%m-%d %H:%M} UTC{note}",
    )


async def release(ctx: CommandContext, digest_id: int, *, posted: bool) -> int:
    """Parts held for a moderator: posted after all, or to be sent again."""
    return await ctx.run(ctx.publishing_service.release, digest_id, posted=posted)


async def resume(ctx: CommandContext, name: str) -> str:
    """Let a stopped channel send again, its failed parts queued anew; says which happened."""
    channel = await channel_by_name(ctx, name)
    stopped, queued = await ctx.run(ctx.publishing_service.resume, channel.name)
    if not stopped:
        return f"Channel {channel.name} is not stopped; nothing changed."
    return (
        f"Channel {channel.name} sends again; {counted(queued, 'failed part')} queued to be sent."
    )


# -- the terminal's chat commands ---------------------------------------------------------------


async def approve_and_send(
    ctx: CommandContext, actor: Actor, number: int, *, revision: int | None = None
) -> Reply:
    """/approve-digest: approve a draft, then deliver what is due, as the command line does."""
    decided = await decide(ctx, actor, number, approve=True, revision=revision, delivering=True)
    report = await deliver_now(ctx)
    view = await ctx.read(_view_of, number)
    states = [delivery.state for delivery in view.deliveries]
    sent = states.count("sent")
    if sent == len(states):
        outcome = f"It was sent now: {counted(sent, 'part')}."
    else:
        left = len(states) - sent
        outcome = (
            f"{sent} of its {counted(len(states), 'part')} were sent now; "
            f"the other {counted(left, 'part')} {plural(left, 'goes', 'go')} out with the "
            "delivery worker's next tries (while `shortscience run` runs, or "
            "`shortscience digest deliver`)."
        )
        stuck = [state for state in states if state in ("held", "failed")]
        if stuck:
            outcome += (
                f" {counted(len(stuck), 'part')} {plural(len(stuck), 'is', 'are')} held or "
                "failed: `shortscience digest status` says why."
            )
    others = report.sent - sent
    if others > 0:
        outcome += (
            f" The same delivery sent {counted(others, 'part')} of other digests that were due."
        )
    return replace(decided, text=f"{decided.text} {outcome}")


def _view_of(session: Session, digest_id: int) -> DigestView:
    return _digest_view(session, session.get_one(Digest, digest_id))


async def reject_draft(
    ctx: CommandContext, actor: Actor, number: int, *, revision: int | None = None
) -> Reply:
    """/reject-digest N."""
    return await decide(ctx, actor, number, approve=False, revision=revision)


# -- cards in a moderation channel (front ends that have one) ----------------------------------

CHOICE_CHARS = 100
"""A choice's label and description: Discord's limit for a select option's."""


@dataclass(frozen=True)
class DraftChoice:
    """A summary a moderator may take out of a draft."""

    summary_id: int
    label: str
    description: str


@dataclass(frozen=True)
class DraftCard:
    """A digest as its card shows it: a draft with its posts, or what became of it."""

    digest_id: int
    revision: int
    """The draft as shown: its buttons decide on this one only."""
    reply: Reply
    """Title, the posts as they will go out, footer; ``notice`` once it is no draft."""
    choices: tuple[DraftChoice, ...]
    markdown: str
    """The whole preview, for a file when the card cannot hold it."""

    @property
    def open(self) -> bool:
        """Still a draft: the card keeps its buttons and menu until a notice replaces them."""
        return self.reply.notice is None


def digest_state(session: Session, digest: Digest) -> str | None:
    """What a card must say of its digest now; None while it is a draft."""
    if digest.status is DigestStatus.DRAFT:
        return None
    decider = session.get(User, digest.decided_by_id) if digest.decided_by_id else None
    by = f" by {decider.display_name}" if decider is not None else ""
    if digest.status is DigestStatus.REJECTED:
        if not digest.items:
            return "Nothing left to post: every summary was taken out."
        return f"Rejected{by}. Its summaries will not go to {digest.channel.name}."
    if digest.status is DigestStatus.SENT:
        return f"Approved{by}. Sent."
    if digest.status is DigestStatus.FAILED:
        return f"Approved{by}. Sending failed; the channel is stopped (see the notices)."
    return f"Approved{by}. Being sent."


def _choice(summary: Summary) -> DraftChoice:
    """A menu entry: shown text, so without bidirectional controls (like every reply)."""
    label = bidi.neutralise(f"#{summary.id} · {summary.paper.title}")
    return DraftChoice(
        summary_id=summary.id,
        label=clip(label, CHOICE_CHARS) or f"#{summary.id}",
        description=clip(bidi.neutralise(summary.tldr), CHOICE_CHARS),
    )


def _draft_card(session: Session, digest_id: int, choice_limit: int | None) -> DraftCard:
    digest = session.get(Digest, digest_id)
    if digest is None:
        raise UserError(f"There is no digest {digest_id}. /digests lists the drafts.")
    section = draft_section(_digest_view(session, digest))
    state = digest_state(session, digest)
    choices: tuple[DraftChoice, ...] = ()
    intro = f"The posts {digest.channel.name} gets once a moderator approves, exactly as sent."
    if state is None:
        items = digest.items
        offered = items if choice_limit is None else items[:choice_limit]
        choices = tuple(_choice(session.get_one(Summary, item.summary_id)) for item in offered)
        if len(items) > len(offered):
            intro += (
                f" The menu offers the first {len(offered)} summaries; take out the others "
                f"with /drop-from-digest {digest_id} <summary>."
            )
    return DraftCard(
        digest_id=digest_id,
        revision=digest.revision,
        reply=Reply(
            title=section.title,
            text=f"{intro}\n\n{section.text}" if section.text else intro,
            footer=section.footer,
            notice=state,
            actions=(
                (
                    Action("Approve", "approve-digest", str(digest_id), revision=digest.revision),
                    Action("Reject", "reject-digest", str(digest_id), revision=digest.revision),
                )
                if state is None
                else ()
            ),
        ),
        choices=choices,
        markdown=f"# {section.title}\n\n{section.text}\n",
    )


async def draft_card(
    ctx: CommandContext, digest_id: int, *, choice_limit: int | None = None
) -> DraftCard:
    """A digest's card as it must read now; its menu offers every summary of the draft, or
    the first ``choice_limit`` when the front end's menu holds no more (the card says so)."""
    return await ctx.read(_draft_card, digest_id, choice_limit)
