"""Digests on a terminal: readable text, or JSON for scripts."""

from __future__ import annotations

from typing import Any

from bot.commands.digests import Preview
from bot.commands.user_text import terminal_safe

RULE = "-" * 60


def preview_text(preview: Preview) -> str:
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
        f"Digest for {channel.name} ({channel.kind}): {summaries} "
        f"summar{'y' if summaries == 1 else 'ies'}, {len(digest.posts)} "
        f"post{'s' if len(digest.posts) != 1 else ''}, {digest.parts} "
        f"part{'s' if digest.parts != 1 else ''} in all"
    ]
    if preview.cost is not None:
        lines.append(
            f"X cost: {preview.cost.posts} posts created, {preview.cost.with_url} with a URL, "
            f"about ${preview.cost.usd:.3f}"
        )
    if channel.require_approval:
        lines.append("A moderator approves it before it is posted.")
    for number, post in enumerate(digest.posts, start=1):
        ids = ", ".join(f"#{summary_id}" for summary_id in post.summary_ids)
        lines += ["", RULE, f"Post {number} of {len(digest.posts)} (summary {ids})"]
        for index, part in enumerate(post.parts, start=1):
            limit = f"/{preview.limit}" if preview.limit else ""
            url = ", holds a URL" if part.has_url else ""
            lines += [
                "",
                f"[part {index} of {len(post.parts)}: {part.length}{limit}{url}]",
                part.text,
            ]
    return terminal_safe("\n".join(lines)) + "\n"


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
                {"text": part.text, "length": part.length, "has_url": part.has_url}
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
            }
        posts.append(entry)
    return posts
