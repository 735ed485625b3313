"""Digests on a terminal: readable text, or JSON for scripts."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.commands import digests
from bot.commands.context import Actor, CommandContext
from bot.commands.digests import DigestView, Preview, XMonth
from bot.commands.parsing import digest_number
from bot.commands.user_text import terminal_safe
from bot.errors import UserError
from bot.wording import counted
from publishers.delivery import Report
from publishers.scheduler import NextRun, next_runs

if TYPE_CHECKING:
    from publishers.render.equation_cards import EquationCard

RULE = "-" * 60


def preview_text(preview: Preview) -> str:
    """A preview as the terminal shows it: every part with its length as the network counts."""
    channel, digest = preview.channel, preview.digest
    if not digest.posts:
        return (
            f"Nothing to post to {channel.name} ({channel.kind}) now: no approved summary "
            "it has not had yet"
            + (" in its categories" if channel.categories else "")
            + (f" from the last {channel.max_age_days:g} days" if channel.max_age_days else "")
            + ".\n"
        )
    summaries = sum(len(post.summary_ids) for post in digest.posts)
    lines = [
        f"Digest for {channel.name} ({channel.kind}): "
        f"{counted(summaries, 'summary', 'summaries')}, {counted(len(digest.posts), 'post')}, "
        f"{counted(digest.parts, 'part')} in all"
    ]
    if preview.cost is not None:
        lines.append(
            f"X cost: {counted(preview.cost.posts, 'post')} created, "
            f"{preview.cost.with_url} with a URL, "
            f"about ${preview.cost.usd:.3f}"
        )
    if preview.month is not None:
        lines.append(f"X in {preview.month.label} so far: {preview.month.summary()}")
        if preview.cost is not None and not preview.month.fits(preview.cost.usd):
            lines.append(
                "Over the monthly budget: built now, this digest would be held as a draft "
                "until a moderator approves it."
            )
    if channel.require_approval:
        lines.append("A moderator approves it before it is posted.")
    for number, post in enumerate(digest.posts, start=1):
        ids = ", ".join(f"#{summary_id}" for summary_id in post.summary_ids)
        lines += ["", RULE, f"Post {number} of {len(digest.posts)} (summary {ids})"]
        for index, part in enumerate(post.parts, start=1):
            limit = f"/{preview.limit}" if preview.limit else ""
            url = ", holds a URL" if part.has_url else ""
            subject = (part.rich or {}).get("subject")
            lines += [
                "",
                f"[part {index} of {len(post.parts)}: {part.length}{limit}{url}]",
                *([f"Subject: {subject}", ""] if subject else []),
                part.text,
            ]
            lines += [picture_line(number, card) for number, card in enumerate(part.media, 1)]
    return terminal_safe("\n".join(lines)) + "\n"


def picture_line(number: int, card: EquationCard) -> str:
    """A picture that goes with a part, as the preview names it."""
    return (
        f"[picture {number}: equation card, {card.width}x{card.height} px, "
        f"{len(card.png) // 1024 + 1} KB; alt text: {card.alt}]"
    )


def preview_json(preview: Preview) -> list[dict[str, Any]]:
    """A list of posts in posting order; each says its channel, summaries and parts."""
    posts = []
    for number, post in enumerate(preview.digest.posts, start=1):
        entry: dict[str, Any] = {
            "channel": preview.channel.name,
            "kind": preview.channel.kind,
            "post": number,
            "summary_ids": list(post.summary_ids),
            "parts": [
                {
                    "text": part.text,
                    "length": part.length,
                    "has_url": part.has_url,
                    "rich": dict(part.rich) if part.rich is not None else None,
                    "pictures": [
                        {
                            "width": card.width,
                            "height": card.height,
                            "bytes": len(card.png),
                            "sha256": card.sha256,
                            "alt": card.alt,
                        }
                        for card in part.media
                    ],
                }
                for part in post.parts
            ],
            "limit": preview.limit,
        }
        if preview.cost is not None:
            with_url = sum(part.has_url for part in post.parts)
            entry["x_cost"] = {
                "posts": len(post.parts),
                "with_url": with_url,
                "digest_usd": preview.cost.usd,
                "month": preview.month.as_json() if preview.month is not None else None,
            }
        posts.append(entry)
    return posts


def status_json(views: list[DigestView], months: Sequence[XMonth] = ()) -> list[dict[str, Any]]:
    """`digest status --format json`: the same facts for scripts; a digest of an X channel
    also carries what the channel's posts cost this month (``x_month``)."""
    by_channel = {month.channel: month.as_json() for month in months}
    return [
        {
            "id": view.id,
            "channel": view.channel,
            "status": view.status,
            "created_at": view.created_at.isoformat(),
            "sent_at": view.sent_at.isoformat() if view.sent_at else None,
            "notice": view.notice,
            "channel_stopped": view.channel_stopped,
            "x_month": by_channel.get(view.channel),
            "summary_ids": list(view.summary_ids),
            "deliveries": [
                {
                    "part": delivery.part,
                    "post": delivery.post,
                    "position": delivery.position,
                    "state": delivery.state,
                    "attempts": delivery.attempts,
                    "last_error": delivery.last_error,
                    "remote_id": delivery.remote_id,
                    "remote_url": delivery.remote_url,
                    "next_attempt_at": delivery.next_attempt_at.isoformat()
                    if delivery.next_attempt_at
                    else None,
                }
                for delivery in view.deliveries
            ],
        }
        for view in views
    ]


def status_text(views: list[DigestView], months: Sequence[XMonth] = ()) -> str:
    """`digest status`: what each X channel's posts cost this month, then each digest and
    every delivery, so an operator sees what is stuck."""
    lines = [f"{month.channel}: X in {month.label} so far: {month.summary()}" for month in months]
    if not views:
        lines.append("No digests yet. `shortscience digest send <channel>` builds one now.")
        return "\n".join(lines) + "\n"
    for view in views:
        sent = sum(delivery.state == "sent" for delivery in view.deliveries)
        lines.append(
            f"digest {view.id}  {view.channel}  {view.status}  {sent}/{len(view.deliveries)} "
            f"parts sent  made {view.created_at:%Y-%m-%d %H:%M} UTC"
        )
        if view.notice:
            lines.append(f"    note: {view.notice}")
        if view.channel_stopped:
            lines.append(f"    channel stopped: {view.channel_stopped}")
        for delivery in view.deliveries:
            if delivery.state == "sent" and not delivery.last_error:
                continue
            tries = counted(delivery.attempts, "try", "tries")
            detail = f"    part {delivery.part + 1}: {delivery.state}, {tries}"
            if delivery.last_error:
                detail += f", last error: {delivery.last_error}"
            if delivery.next_attempt_at and delivery.state == "pending":
                detail += f", next try {delivery.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
            lines.append(detail)
    return terminal_safe("\n".join(lines)) + "\n"


def _report_line(report: Report) -> str:
    return (
        f"{counted(report.sent, 'part')} sent, {report.retried} to try again, "
        f"{report.held} held for a moderator, {report.failed} failed"
    )


async def digest_command(ctx: CommandContext, args: argparse.Namespace) -> str:
    """`shortscience digest ...`: the operator's commands; returns what to print."""
    action = args.digest_command
    if action == "preview":
        preview = await digests.preview(ctx, args.channel)
        if args.format == "json":
            return json.dumps(preview_json(preview), ensure_ascii=False, indent=2) + "\n"
        return preview_text(preview)
    if action == "send":
        built, report = await digests.send_now(ctx, args.channel)
        if built.digest_id is None:
            return f"Nothing to send to {args.channel}: {built.note}.\n"
        line = (
            f"Digest {built.digest_id} for {args.channel}: {counted(built.posts, 'post')}, "
            f"{counted(built.parts, 'part')}"
        )
        if report is None:
            why = f": {built.note}" if built.note else ""
            return (
                f"{line}; a draft waiting for a moderator (digest approve {built.digest_id})"
                f"{why}.\n"
            )
        folder = ctx.publishing_service.clients.folder_for(
            await digests.channel_by_name(ctx, args.channel)
        )
        where = f"; files in {folder}" if folder is not None else ""
        return f"{line}; {_report_line(report)}{where}.\n"
    if action == "deliver":
        report = await digests.deliver_now(ctx)
        return f"Delivered: {_report_line(report)}.\n"
    if action == "status":
        views = await digests.status(ctx, limit=args.limit)
        months = await digests.spending(ctx)
        if args.format == "json":
            return json.dumps(status_json(views, months), ensure_ascii=False, indent=2) + "\n"
        return status_text(views, months)
    if action in ("approve", "reject"):
        actor = operator(args.user)
        number = digest_number(args.digest)
        if action == "approve":
            reply = await digests.approve_and_send(ctx, actor, number)
        else:
            reply = await digests.decide(ctx, actor, number, approve=False)
        return reply.text + "\n"
    if action == "release":
        released = await digests.release(
            ctx, digest_number(args.digest), posted=args.verdict == "posted"
        )
        return f"{counted(released, 'held part')} released ({args.verdict}).\n"
    if action == "resume":
        return (await digests.resume(ctx, args.channel)) + "\n"
    if action == "schedule":
        channels = await ctx.read(digests.channels, ctx)
        return schedule_text(next_runs(channels, ctx.clock()))
    raise UserError(f"unknown digest action {action}")


def operator(name: str | None) -> Actor:
    """Whoever runs the command line: trusted with a moderator's decisions."""
    user = (name or os.environ.get("USER") or "operator").strip() or "operator"
    return Actor(platform="console", external_id=user, display_name=user, is_moderator=True)


def schedule_text(runs: list[NextRun]) -> str:
    """`digest schedule`: each channel's next digest in its own time zone."""
    if not runs:
        return "No channels. config.toml's [[channels]] or /digest subscribe add them.\n"
    width = max(len(run.channel) for run in runs)
    lines = [
        f"{run.channel:<{width}}  {run.at:%Y-%m-%d %H:%M %Z} ({run.timezone})  `{run.schedule}`"
        if run.at
        else f"{run.channel:<{width}}  never ({run.timezone})  `{run.schedule}`"
        for run in runs
    ]
    return "\n".join(lines) + "\n"
