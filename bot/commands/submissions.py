"""Writing commands: submit, edit and withdraw a summary; list my own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Field, Reply, Section, Tone
from bot.config import LimitSettings
from bot.errors import UserError
from bot.papers.arxiv_ids import parse_arxiv_id
from storage import summaries as summary_store
from storage.models import ModerationAction, Paper, Summary, SummaryStatus, User

_SUMMARY_NUMBER = re.compile(r"#?\s*(\d{1,12})")
_SPACES = re.compile(r"\s+")


def parse_summary_number(text: str) -> int:
    """``12`` or ``#12``: the number every reply names a summary by."""
    match = _SUMMARY_NUMBER.fullmatch(text.strip())
    if match is None:
        raise UserError(f"“{text.strip()[:40]}” is not a summary number. Use one like #12.")
    return int(match.group(1))


def clean_text(tldr: str, body: str, limits: LimitSettings) -> tuple[str, str]:
    """Validate a TL;DR and body against the limits; both must say something."""
    tldr = _SPACES.sub(" ", tldr).strip()
    body = body.replace("\r\n", "\n").strip()
    if not tldr:
        raise UserError("The TL;DR is empty. Sum the paper up in one line.")
    if len(tldr) > limits.tldr_max_chars:
        raise UserError(
            f"The TL;DR has {len(tldr)} characters; keep it to {limits.tldr_max_chars}. "
            "The details belong in the body."
        )
    if not body:
        raise UserError("The summary body is empty. Write the summary in Markdown below the TL;DR.")
    if len(body) > limits.body_max_chars:
        raise UserError(
            f"The summary has {len(body):,} characters; the limit is {limits.body_max_chars:,}. "
            "Please shorten it."
        )
    return tldr, body


def _user(session: Session, actor: Actor) -> User:
    return summary_store.get_or_create_user(
        session, actor.platform, actor.external_id, actor.display_name
    )


def _own_summary(session: Session, actor: Actor, number: int, verb: str) -> tuple[Summary, User]:
    summary = summary_store.get(session, number)
    user = _user(session, actor)
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


def _create(
    session: Session, ctx: CommandContext, actor: Actor, paper_id: int, tldr: str, body: str
) -> Reply:
    user = _user(session, actor)
    existing = summary_store.active_for_author(session, paper_id, user.id)
    if existing is not None:
        raise UserError(
            f"You already have summary #{existing.id} of this paper ({existing.status.value}). "
            f"Edit it with /edit {existing.id} while it is pending."
        )
    _check_rate(session, user, ctx)
    summary = summary_store.create(session, paper_id, user, tldr, body, now=ctx.clock())
    paper = session.get(Paper, paper_id)
    title = paper.title if paper is not None else "the paper"
    return Reply(
        title=f"Summary #{summary.id} received",
        text=f"Thank you! Your summary of “{title}” is waiting for a moderator. "
        f"It is #{summary.id}: /edit {summary.id} or /withdraw {summary.id} while it is pending.",
        tone=Tone.SUCCESS,
        private=True,
        summary_id=summary.id,
    )


async def submit(ctx: CommandContext, actor: Actor, reference: str, tldr: str, body: str) -> Reply:
    """Store a new summary as pending; the author is told its number."""
    tldr, body = clean_text(tldr, body, ctx.limits)
    found = await ctx.lookups.get(parse_arxiv_id(reference))
    return await ctx.write(_create, ctx, actor, found.paper_id, tldr, body)


def _edit(
    session: Session, ctx: CommandContext, actor: Actor, number: int, tldr: str, body: str
) -> Reply:
    summary, user = _own_summary(session, actor, number, "edited")
    if summary.tldr == tldr and summary.body == body:
        raise UserError(f"Summary #{number} already says exactly that; nothing changed.")
    summary.tldr, summary.body = tldr, body
    summary.revision += 1
    summary.updated_at = ctx.clock()
    summary_store.record(session, summary, user, ModerationAction.EDITED)
    return Reply(
        title=f"Summary #{number} updated",
        text=f"Revision {summary.revision} of #{number} is waiting for a moderator.",
        tone=Tone.SUCCESS,
        private=True,
        summary_id=number,
    )


async def edit(ctx: CommandContext, actor: Actor, number: str, tldr: str, body: str) -> Reply:
    """Replace the text of one's own pending summary."""
    summary_id = parse_summary_number(number)
    tldr, body = clean_text(tldr, body, ctx.limits)
    return await ctx.write(_edit, ctx, actor, summary_id, tldr, body)


@dataclass(frozen=True)
class SummaryText:
    tldr: str
    body: str


def _own_pending(session: Session, actor: Actor, number: int) -> SummaryText:
    summary, _user = _own_summary(session, actor, number, "edited")
    return SummaryText(summary.tldr, summary.body)


async def own_pending(ctx: CommandContext, actor: Actor, number: str) -> SummaryText:
    """The text of one's own pending summary, to edit it (refused for anyone else's)."""
    return await ctx.write(_own_pending, actor, parse_summary_number(number))


def _withdraw(session: Session, actor: Actor, number: int) -> Reply:
    summary, user = _own_summary(session, actor, number, "withdrawn")
    if not summary_store.transition(
        session, number, expected=[SummaryStatus.PENDING], to=SummaryStatus.WITHDRAWN
    ):
        raise UserError(
            f"Summary #{number} was decided a moment ago; it can no longer be withdrawn."
        )
    summary_store.record(session, summary, user, ModerationAction.WITHDRAWN)
    return Reply(
        title=f"Summary #{number} withdrawn",
        text="It will not be shown or published. Its text stays in /mine.",
        tone=Tone.SUCCESS,
        private=True,
    )


async def withdraw(ctx: CommandContext, actor: Actor, number: str) -> Reply:
    """Take back one's own pending summary; it is kept, but never shown."""
    return await ctx.write(_withdraw, actor, parse_summary_number(number))


def _mine(session: Session, actor: Actor) -> Reply:
    user = _user(session, actor)
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
