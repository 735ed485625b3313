"""Moderators' commands: the queue, approve, reject. Only moderators may use them."""

from __future__ import annotations

from sqlalchemy.orm import Session, defaultload

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.replies import Action, Notice, Reply, Section, Tone
from bot.commands.user_text import clean_line
from bot.errors import UserError
from storage import search as search_store
from storage import summaries as summary_store
from storage.models import ModerationAction, Paper, Summary, SummaryStatus

QUEUE_PAGE = 10
REASON_MAX_CHARS = 1000

_PAPER_WITHOUT_DETAILS = (
    defaultload(Summary.paper).lazyload(Paper.authors),
    defaultload(Summary.paper).lazyload(Paper.categories),
)
"""A card and a decision show the summary's paper by its title and ids: the paper's
authors and categories (two statements more, on every press) are not loaded."""


def _summary(session: Session, number: int) -> Summary | None:
    """The summary with its paper and author, as a card and a decision show them."""
    return session.get(Summary, number, options=_PAPER_WITHOUT_DETAILS)


class NotAModerator(UserError):
    def __init__(self, what: str) -> None:
        super().__init__(f"Only moderators can {what}. Ask one of your server's moderators.")


def require_moderator(actor: Actor, what: str) -> None:
    """Refuse anyone without a moderator role, before a front end even asks for a reason."""
    if not actor.is_moderator:
        raise NotAModerator(what)


def queue_section(summary: Summary) -> Section:
    """A pending summary as moderators see it (queue and card alike): the author's name even
    when shown anonymously, the revision they decide on, and any arXiv details missing."""
    reference = summary.paper.arxiv_id or summary.paper.key
    unfetched = (
        " · paper details not fetched yet (arXiv was down)"
        if summary.paper.fetched_at is None and summary.paper.arxiv_id
        else ""
    )
    return Section(
        title=f"#{summary.id} · {summary.paper.title} ({reference})",
        lead=summary.tldr,
        text=summary.body,
        footer=f"by {summary.byline_for(moderator=True)}, "
        f"{summary.created_at:%Y-%m-%d %H:%M} UTC, "
        f"revision {summary.revision}{unfetched}",
    )


def decision_actions(summary: Summary) -> tuple[Action, ...]:
    """Approve and Reject, bound to the revision shown: a later edit voids them."""
    return (
        Action("Approve", "approve", str(summary.id), revision=summary.revision),
        Action("Reject", "reject", str(summary.id), revision=summary.revision),
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
        actions=tuple(action for summary in waiting for action in decision_actions(summary)),
        private=True,
    )


def card_state(summary: Summary, shown_revision: int | None = None) -> str | None:
    """What a card showing ``shown_revision`` must say now; None while it can be decided."""
    state = None
    if summary.status is not SummaryStatus.PENDING:
        state = summary.status.value.capitalize()
        if summary.moderated_by is not None and summary.status in DECIDED:
            state += f" by {summary.moderated_by.display_name}"
        if summary.moderation_reason:
            state += f". Reason: {summary.moderation_reason}"
    if shown_revision is not None and shown_revision != summary.revision:
        superseded = (
            f"Superseded: the author edited this summary after this card was posted "
            f"(revision {shown_revision}); revision {summary.revision} has its own card."
        )
        state = superseded if state is None else f"{state}. {superseded}"
    return state


def _card(session: Session, number: int, shown_revision: int | None = None) -> Reply:
    summary = _summary(session, number)
    if summary is None:
        raise UserError(f"There is no summary #{number}.")
    section = queue_section(summary)
    state = card_state(summary, shown_revision)
    return Reply(
        title=section.title,
        lead=section.lead,
        text=section.text,
        url=summary.paper.url,
        footer=section.footer,
        notice=state,
        summary_id=summary.id,
        revision=summary.revision,
        actions=decision_actions(summary) if state is None else (),
    )


DECIDED = (SummaryStatus.APPROVED, SummaryStatus.REJECTED)


async def submission_card(
    ctx: CommandContext, number: int, *, shown_revision: int | None = None
) -> Reply:
    """One submission as the moderation queue shows it, with Approve and Reject while it is
    pending. With ``shown_revision`` (a card already posted), the card as it must read now:
    decided, withdrawn or superseded by an edit, without buttons."""
    return await ctx.read(_card, number, shown_revision)


async def queue(ctx: CommandContext, actor: Actor) -> Reply:
    """Pending summaries, oldest first."""
    require_moderator(actor, "see the moderation queue")
    return await ctx.read(_queue)


def _not_pending(summary: Summary) -> str:
    """Why a summary cannot be decided on: what became of it, and by whom."""
    if summary.status is SummaryStatus.WITHDRAWN:
        return f"Summary #{summary.id} was withdrawn by its author; there is nothing to decide."
    by = f" by {summary.moderated_by.display_name}" if summary.moderated_by else ""
    return f"Summary #{summary.id} is already {summary.status.value}{by}; nothing changed."


class Superseded(UserError):
    """The moderator decided on a revision that is no longer the summary's text."""


def _decide(
    session: Session,
    ctx: CommandContext,
    actor: Actor,
    number: int,
    approve: bool,
    reason: str | None,
    revision: int | None,
    must_have_read: bool,
) -> Reply:
    moderator = user_of(session, actor)
    summary = _summary(session, number)
    if summary is None:
        raise UserError(f"There is no summary #{number}. /queue lists the pending ones.")
    if summary.status is not SummaryStatus.PENDING:
        raise UserError(_not_pending(summary))
    if approve and summary.author_id == moderator.id and not ctx.moderation.allow_self_approval:
        raise UserError(f"You wrote summary #{number}; another moderator must approve it.")
    if must_have_read and revision is None:
        raise UserError(
            f"Read summary #{number} before deciding: /queue shows the pending summaries "
            "with their text."
        )
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
        session,
        number,
        expected=[SummaryStatus.PENDING],
        to=target,
        revision=revision,
        now=now,
        values=values,
    ):
        session.refresh(summary)
        if summary.status is SummaryStatus.PENDING:
            raise Superseded(
                f"Summary #{number} was edited after you read it: revision {summary.revision} "
                "is waiting now. Read the new text (its own card, or /queue) before deciding."
            )
        raise UserError(_not_pending(summary))
    action = ModerationAction.APPROVED if approve else ModerationAction.REJECTED
    summary_store.record(session, summary, moderator, action, reason, now=now)
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
        f"by {moderator.display_name} (revision {summary.revision}).{because}",
        tone=Tone.SUCCESS,
        notices=(Notice(author.platform, author.external_id, told),),
        summary_id=number,
        revision=summary.revision,
    )


async def approve(
    ctx: CommandContext,
    actor: Actor,
    number: int,
    *,
    revision: int | None = None,
    must_have_read: bool = False,
) -> Reply:
    """Publish a pending summary: it is shown to everyone and may go out in digests.

    ``revision`` is the revision the moderator read (a card's button carries it); if the
    author edited since, nothing is approved and the moderator is told to read again.
    With ``must_have_read`` (the terminal, which remembers what it showed), a pending
    summary the moderator was never shown (``revision`` None) is not decided either.
    """
    require_moderator(actor, "approve summaries")
    return await ctx.write(_decide, ctx, actor, number, True, None, revision, must_have_read)


async def reject(
    ctx: CommandContext,
    actor: Actor,
    number: int,
    reason: str,
    *,
    revision: int | None = None,
    must_have_read: bool = False,
) -> Reply:
    """Turn a pending summary down, with a reason the author will read (``revision`` and
    ``must_have_read`` as for ``approve``)."""
    require_moderator(actor, "reject summaries")
    reason = clean_line(reason, "reason")
    if not reason:
        raise UserError(f"Say why, so the author can improve it: /reject {number} <reason>")
    if len(reason) > REASON_MAX_CHARS:
        raise UserError(f"Keep the reason under {REASON_MAX_CHARS} characters.")
    return await ctx.write(_decide, ctx, actor, number, False, reason, revision, must_have_read)
