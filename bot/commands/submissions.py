"""Writing commands: submit, edit and withdraw a summary; list my own.

Every rule is checked here or in the database, whatever front end asks: the TL;DR's
length in user-perceived characters, the body's length, one active summary per author
and paper, and a rate limit per author. A summary written while arXiv is down is kept:
the paper is stored by its id and its details are fetched later.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.replies import Field, Reply, Section, Tone
from bot.commands.user_text import grapheme_count, normalized, refuse_unsafe_characters
from bot.config import LimitSettings
from bot.errors import UserError
from bot.papers.arxiv_ids import ArxivId, parse_arxiv_id
from bot.papers.lookups import ArxivUnreachable
from storage import papers as paper_store
from storage import summaries as summary_store
from storage.models import ModerationAction, Paper, Summary, SummaryStatus, User

PRECHECK_SECONDS = 2.0
"""How long a check before a form may wait for arXiv: Discord wants the form within 3 s."""


def clean_text(tldr: str, body: str, limits: LimitSettings) -> tuple[str, str]:
    """Validate a TL;DR and body against the limits; both must say something.

    The TL;DR is one line of at most ``tldr_max_chars`` user-perceived characters
    (grapheme clusters after NFC), the way a reader or X counts them, not code points.
    """
    return clean_tldr(tldr, limits), clean_body(body, limits)


def clean_tldr(tldr: str, limits: LimitSettings) -> str:
    """The TL;DR alone, so a front end can check it as soon as it is typed."""
    tldr = " ".join(refuse_unsafe_characters(normalized(tldr), "TL;DR").split())
    if not tldr:
        raise UserError("The TL;DR is empty. Sum the paper up in one line.")
    length = grapheme_count(tldr)
    if length > limits.tldr_max_chars:
        raise UserError(
            f"The TL;DR has {length} characters; keep it to {limits.tldr_max_chars}. "
            "The details belong in the body."
        )
    return tldr


def clean_body(body: str, limits: LimitSettings, *, finished: bool = True) -> str:
    """The body alone; ``finished=False`` for a body still being written, line by line
    (its characters and its length are checked, not yet that it says something)."""
    body = refuse_unsafe_characters(normalized(body), "summary").strip()
    if finished and not body:
        raise UserError("The summary body is empty. Write the summary in Markdown below the TL;DR.")
    if len(body) > limits.body_max_chars:
        raise UserError(
            f"The summary has {len(body):,} characters; the limit is {limits.body_max_chars:,}. "
            "Please shorten it."
        )
    return body


def _own_summary(session: Session, actor: Actor, number: int, verb: str) -> tuple[Summary, User]:
    summary = summary_store.get(session, number)
    user = user_of(session, actor)
    if summary is None or summary.author_id != user.id:
        raise UserError(f"You have no summary #{number}. /mine lists yours.")
    if summary.status is not SummaryStatus.PENDING:
        raise UserError(
            f"Summary #{number} is {summary.status.value}; only pending summaries can be {verb}."
        )
    return summary, user


def _check_rate(session: Session, user: User, ctx: CommandContext) -> None:
    limits = ctx.limits
    window = timedelta(minutes=limits.submission_window_minutes)
    now = ctx.clock()
    recent = summary_store.submitted_since(session, user.id, now - window)
    if len(recent) >= limits.submissions_per_window:
        free_at = recent[-limits.submissions_per_window] + window
        minutes = max(1, math.ceil((free_at - now).total_seconds() / 60))
        raise UserError(
            f"You have submitted {len(recent)} summaries in the last "
            f"{limits.submission_window_minutes:g} minutes, the most allowed. "
            f"Please wait {minutes} minute{'s' if minutes != 1 else ''} before the next."
        )


def _already(existing: Summary) -> UserError:
    return UserError(
        f"You already have summary #{existing.id} of this paper ({existing.status.value}). "
        f"Edit it with /edit {existing.id} while it is pending."
    )


def _create(
    session: Session,
    ctx: CommandContext,
    actor: Actor,
    paper_id: int,
    tldr: str,
    body: str,
    arxiv_down: bool,
    anonymous: bool,
) -> Reply:
    user = user_of(session, actor)
    # One author's submissions take turns, so the window below counts every one of them.
    summary_store.lock_author(session, user.id)
    existing = summary_store.active_for_author(session, paper_id, user.id)
    if existing is not None:
        raise _already(existing)
    _check_rate(session, user, ctx)
    try:
        summary = summary_store.create(
            session, paper_id, user, tldr, body, now=ctx.clock(), anonymous=anonymous
        )
    except summary_store.AlreadyActive as error:
        raise _already(error.summary) from None
    paper = session.get(Paper, paper_id)
    title = paper.title if paper is not None else "the paper"
    text = (
        f"Thank you! Your summary of “{title}” is waiting for a moderator. "
        f"It is #{summary.id}: /edit {summary.id} or /withdraw {summary.id} while it is pending."
    )
    if anonymous:
        text += " It will be shown as written by Anonymous; moderators still see it is yours."
    if arxiv_down:
        text = (
            f"Your summary is saved as #{summary.id} and waits for a moderator. arXiv is not "
            "answering right now, so the paper's details will be fetched later. "
            f"/edit {summary.id} or /withdraw {summary.id} while it is pending."
        )
    return Reply(
        title=f"Summary #{summary.id} received",
        text=text,
        tone=Tone.SUCCESS,
        private=True,
        summary_id=summary.id,
    )


async def _paper_for_submission(ctx: CommandContext, arxiv_id: ArxivId) -> tuple[int, bool]:
    """The paper's row id, and whether it is only a placeholder because arXiv is down."""
    try:
        found = await ctx.lookups.get(arxiv_id)
    except ArxivUnreachable:
        return await ctx.write(paper_store.placeholder, arxiv_id.base, ctx.clock()), True
    return found.paper_id, False


async def submit(
    ctx: CommandContext,
    actor: Actor,
    reference: str,
    tldr: str,
    body: str,
    *,
    anonymous: bool = False,
) -> Reply:
    """Store a new summary as pending; the author is told its number. ``anonymous``: shown
    as written by "Anonymous" to everyone but moderators.

    If arXiv does not answer, the summary is still stored (the paper known only by its
    id) and the author is told so: nothing typed is thrown away.
    """
    tldr, body = clean_text(tldr, body, ctx.limits)
    arxiv_id = parse_arxiv_id(reference)
    paper_id, arxiv_down = await _paper_for_submission(ctx, arxiv_id)
    return await ctx.write(_create, ctx, actor, paper_id, tldr, body, arxiv_down, anonymous)


def _precheck(session: Session, ctx: CommandContext, actor: Actor, arxiv_id: str) -> bool:
    """Rate limit and an existing summary, from the store; whether the paper is stored."""
    user = user_of(session, actor)
    stored = paper_store.get_by_arxiv_ids(session, [arxiv_id]).get(arxiv_id)
    if stored is not None:
        existing = summary_store.active_for_author(session, stored.id, user.id)
        if existing is not None:
            raise _already(existing)
    _check_rate(session, user, ctx)
    return stored is not None


async def check_can_submit(ctx: CommandContext, actor: Actor, reference: str) -> ArxivId:
    """Everything that can be checked before someone spends time writing: the id, the
    rate limit, an existing summary, and that arXiv has the paper. Returns the id.

    arXiv gets ``PRECHECK_SECONDS``: a form must open within Discord's 3 seconds. If it
    is slow or down the form opens anyway, since the submission will be kept regardless;
    the lookup goes on in the background and stores the paper for the submission.
    """
    arxiv_id = parse_arxiv_id(reference)
    if await ctx.write(_precheck, ctx, actor, arxiv_id.base):
        return arxiv_id
    lookup = asyncio.ensure_future(ctx.lookups.get(arxiv_id))
    try:
        await asyncio.wait_for(asyncio.shield(lookup), PRECHECK_SECONDS)
    except ArxivUnreachable:
        return arxiv_id
    except TimeoutError:
        # Let it finish; a failure later is nobody's business but the log's.
        lookup.add_done_callback(lambda task: task.cancelled() or task.exception())
        return arxiv_id
    return arxiv_id


def _edit(
    session: Session,
    ctx: CommandContext,
    actor: Actor,
    number: int,
    tldr: str,
    body: str,
    seen_revision: int | None,
) -> Reply:
    summary, user = _own_summary(session, actor, number, "edited")
    if summary.tldr == tldr and summary.body == body:
        raise UserError(f"Summary #{number} already says exactly that; nothing changed.")
    base = seen_revision if seen_revision is not None else summary.revision
    now = ctx.clock()
    if not summary_store.revise(
        session, number, author_id=user.id, seen_revision=base, tldr=tldr, body=body, now=now
    ):
        session.refresh(summary)
        if summary.status is not SummaryStatus.PENDING:
            raise UserError(
                f"Summary #{number} was {summary.status.value} a moment ago; it can no longer "
                "be edited. Your new text is not saved: copy it before closing this."
            )
        raise UserError(
            f"Summary #{number} changed since you opened it (it is at revision "
            f"{summary.revision} now). Open /edit {number} again to start from the current text."
        )
    summary_store.record(session, summary, user, ModerationAction.EDITED, now=now)
    return Reply(
        title=f"Summary #{number} updated",
        text=f"Revision {summary.revision} of #{number} is waiting for a moderator.",
        tone=Tone.SUCCESS,
        private=True,
        summary_id=number,
    )


async def edit(
    ctx: CommandContext,
    actor: Actor,
    number: int,
    tldr: str,
    body: str,
    *,
    seen_revision: int | None = None,
) -> Reply:
    """Replace the text of one's own pending summary.

    ``seen_revision`` is the revision the author started from (a Discord form carries
    it); an edit made meanwhile elsewhere is then not silently overwritten.
    """
    tldr, body = clean_text(tldr, body, ctx.limits)
    return await ctx.write(_edit, ctx, actor, number, tldr, body, seen_revision)


@dataclass(frozen=True)
class SummaryText:
    tldr: str
    body: str
    revision: int


def _own_pending(session: Session, actor: Actor, number: int) -> SummaryText:
    summary, _user = _own_summary(session, actor, number, "edited")
    return SummaryText(summary.tldr, summary.body, summary.revision)


async def own_pending(ctx: CommandContext, actor: Actor, number: int) -> SummaryText:
    """The text of one's own pending summary, to edit it (refused for anyone else's)."""
    return await ctx.write(_own_pending, actor, number)


def _withdraw(session: Session, ctx: CommandContext, actor: Actor, number: int) -> Reply:
    summary, user = _own_summary(session, actor, number, "withdrawn")
    now = ctx.clock()
    if not summary_store.transition(
        session, number, expected=[SummaryStatus.PENDING], to=SummaryStatus.WITHDRAWN, now=now
    ):
        raise UserError(
            f"Summary #{number} was decided a moment ago; it can no longer be withdrawn."
        )
    summary_store.record(session, summary, user, ModerationAction.WITHDRAWN, now=now)
    return Reply(
        title=f"Summary #{number} withdrawn",
        text="It will not be shown or published. Its text stays in /mine.",
        tone=Tone.SUCCESS,
        private=True,
        summary_id=number,
    )


async def withdraw(ctx: CommandContext, actor: Actor, number: int) -> Reply:
    """Take back one's own pending summary; it is kept, but never shown."""
    return await ctx.write(_withdraw, ctx, actor, number)


def _mine(session: Session, actor: Actor) -> Reply:
    user = user_of(session, actor)
    own = summary_store.for_author(session, user.id)
    if not own:
        return Reply(
            title="Your summaries",
            text="You have not submitted any yet. /submit <arXiv id> starts one.",
            private=True,
        )
    sections = []
    for summary in own:
        reason = f" Reason: {summary.moderation_reason}" if summary.moderation_reason else ""
        sections.append(
            Section(
                title=f"#{summary.id} · {summary.status.value} · {summary.paper.title}",
                text=f"TL;DR: {summary.tldr}{reason}",
                footer=f"submitted {summary.created_at:%Y-%m-%d}",
            )
        )
    counts: dict[str, int] = {}
    for summary in own:
        counts[summary.status.value] = counts.get(summary.status.value, 0) + 1
    return Reply(
        title="Your summaries",
        fields=tuple(Field(status, str(count)) for status, count in sorted(counts.items())),
        sections=tuple(sections),
        private=True,
    )


async def mine(ctx: CommandContext, actor: Actor) -> Reply:
    """One's own summaries, newest first, with their status."""
    return await ctx.write(_mine, actor)
