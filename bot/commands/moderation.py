"""Moderators' commands: the queue, approve, reject. Only moderators may use them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Action, Notice, Reply, Section, Tone
from bot.commands.submissions import parse_summary_number
from bot.errors import UserError
from storage import queue_cards
from storage import search as search_store
from storage import summaries as summary_store
from storage.models import ModerationAction, Summary, SummaryStatus

QUEUE_PAGE = 10
REASON_MAX_CHARS = 1000


class NotAModerator(UserError):
    def __init__(self, what: str) -> None:
        super().__init__(f"Only moderators can {what}. Ask one of your server's moderators.")


def require_moderator(actor: Actor, what: str) -> None:
    """Refuse anyone without a moderator role, before a front end even asks for a reason."""
    if not actor.is_moderator:
        raise NotAModerator(what)


def queue_section(summary: Summary) -> Section:
    reference = summary.paper.arxiv_id or summary.paper.key
    revised = f", revision {summary.revision}" if summary.revision > 1 else ""
    return Section(
        title=f"#{summary.id} · {summary.paper.title} ({reference})",
        text=f"TL;DR: {summary.tldr}\n\n{summary.body}",
        footer=f"by {summary.author.display_name}, {summary.created_at:%Y-%m-%d %H:%M} UTC"
        f"{revised}",
    )


def _queue(session: Session) -> Reply:
    waiting, total = summary_store.pending(session, limit=QUEUE_PAGE)
    if not waiting:
        return Reply(title="Moderation queue", text="Nothing is waiting. Well done!", private=True)
    shown = f"the oldest {len(waiting)} of {total}" if total > len(waiting) else f"{total}"
    return Reply(
        title="Moderation queue",
        text=f"{shown} pending, oldest first. /approve <number> or /reject <number> <reason>.",
        sections=tuple(queue_section(summary) for summary in waiting),
        actions=tuple(
            action
            for summary in waiting
            for action in (
                Action(f"Approve #{summary.id}", "approve", str(summary.id)),
                Action(f"Reject #{summary.id}", "reject", str(summary.id)),
            )
        ),
        private=True,
    )


def _card(session: Session, number: int) -> Reply:
    summary = summary_store.get(session, number)
    if summary is None:
        raise UserError(f"There is no summary #{number}.")
    section = queue_section(summary)
    decided = None
    if summary.status is not SummaryStatus.PENDING:
        decided = summary.status.value.capitalize()
        if summary.moderated_by is not None:
            decided += f" by {summary.moderated_by.display_name}"
        if summary.moderation_reason:
            decided += f". Reason: {summary.moderation_reason}"
    return Reply(
        title=section.title,
        text=section.text,
        url=summary.paper.url,
        footer=section.footer,
        notice=decided,
        summary_id=summary.id,
        actions=(
            Action("Approve", "approve", str(summary.id)),
            Action("Reject", "reject", str(summary.id)),
        )
        if summary.status is SummaryStatus.PENDING
        else (),
    )


async def submission_card(ctx: CommandContext, number: int) -> Reply:
    """One submission as the moderation queue shows it, with its Approve and Reject actions."""
    return await ctx.read(_card, number)


async def queue(ctx: CommandContext, actor: Actor) -> Reply:
    """Pending summaries, oldest first."""
    require_moderator(actor, "see the moderation queue")
    return await ctx.read(_queue)


def _decide(
    session: Session,
    ctx: CommandContext,
    actor: Actor,
    number: int,
    approve: bool,
    reason: str | None,
) -> Reply:
    moderator = summary_store.get_or_create_user(
        session, actor.platform, actor.external_id, actor.display_name
    )
    summary = summary_store.get(session, number)
    if summary is None:
        raise UserError(f"There is no summary #{number}. /queue lists the pending ones.")
    now = ctx.clock()
    values: dict[str, object] = {
        "moderated_by_id": moderator.id,
        "moderated_at": now,
        "moderation_reason": reason,
    }
    if approve:
        values["approved_at"] = now
    target = SummaryStatus.APPROVED if approve else SummaryStatus.REJECTED
    if not summary_store.transition(
        session, number, expected=[SummaryStatus.PENDING], to=target, values=values
    ):
        session.refresh(summary)
        by = f" by {summary.moderated_by.display_name}" if summary.moderated_by else ""
        raise UserError(
            f"Summary #{number} is already {summary.status.value}{by}; nothing changed."
        )
    action = ModerationAction.APPROVED if approve else ModerationAction.REJECTED
    summary_store.record(session, summary, moderator, action, reason)
    if approve:
        search_store.index_summary(session, summary)
    verb = "approved" if approve else "rejected"
    because = f" Reason: {reason}" if reason else ""
    author = summary.author
    if approve:
        told = (
            f"Your summary #{number} of “{summary.paper.title}” was approved by "
            f"{moderator.display_name}. Thank you! It is now shown with the paper."
        )
    else:
        told = (
            f"Your summary #{number} of “{summary.paper.title}” was not approved by "
            f"{moderator.display_name}. Reason: {reason} You are welcome to submit a new one."
        )
    return Reply(
        title=f"Summary #{number} {verb}",
        text=f"#{number} by {author.display_name} of “{summary.paper.title}” is {verb} "
        f"by {moderator.display_name}.{because}",
        tone=Tone.SUCCESS,
        notices=(Notice(author.platform, author.external_id, told),),
        summary_id=number,
    )


async def approve(ctx: CommandContext, actor: Actor, number: str) -> Reply:
    """Publish a pending summary: it is shown to everyone and may go out in digests."""
    require_moderator(actor, "approve summaries")
    return await ctx.write(_decide, ctx, actor, parse_summary_number(number), True, None)


async def reject(ctx: CommandContext, actor: Actor, number: str, reason: str) -> Reply:
    """Turn a pending summary down, with a reason the author will read."""
    require_moderator(actor, "reject summaries")
    summary_id = parse_summary_number(number)
    reason = " ".join(reason.split())
    if not reason:
        raise UserError(f"Say why, so the author can improve it: /reject {summary_id} <reason>")
    if len(reason) > REASON_MAX_CHARS:
        raise UserError(f"Keep the reason under {REASON_MAX_CHARS} characters.")
    return await ctx.write(_decide, ctx, actor, summary_id, False, reason)


# -- cards in a moderation channel (front ends that have one) ---------------------------------


async def claim_cards(ctx: CommandContext, limit: int = 10) -> list[queue_cards.Claim]:
    """Pending summaries (from any front end) whose current revision still needs a card."""
    return await ctx.write(queue_cards.claim_unposted, ctx.clock(), limit)


async def card_posted(
    ctx: CommandContext, claim: queue_cards.Claim, channel_id: int, message_id: int
) -> None:
    await ctx.write(queue_cards.mark_posted, claim, channel_id, message_id, ctx.clock())


async def card_failed(ctx: CommandContext, claim: queue_cards.Claim) -> None:
    await ctx.write(queue_cards.release, claim)
