"""Moderators reading drafts (/digests, a draft's card) see why a digest waits when it is
over its X channel's monthly budget; the chat preview shows the month's cost."""

from __future__ import annotations

import dataclasses

from bot.commands import digests
from bot.commands.context import Actor, CommandContext
from publishers.settings import ChannelSettings, PublishingSettings
from tests.publishers.conftest import seed

MODERATOR = Actor("console", "mia", "Mia", is_moderator=True)


def _with_x_budget(ctx: CommandContext, budget: float) -> CommandContext:
    """The context with one X channel (no credentials: its posts would go to a folder)."""
    channel = ChannelSettings(name="x-main", kind="x", max_items=1, monthly_budget_usd=budget)
    publishing = PublishingSettings(channels=(channel,))
    return dataclasses.replace(ctx, publishing=publishing, publisher=None)


async def test_a_draft_over_budget_says_why_on_its_card_and_in_the_list(
    ctx: CommandContext,
) -> None:
    seed(ctx.db, hard=False)
    ctx = _with_x_budget(ctx, 0.01)
    built, report = await digests.send_now(ctx, "x-main")
    assert built.status == "draft" and report is None
    assert built.note.startswith("over budget: this digest costs $0.")
    listed = await digests.drafts(ctx, MODERATOR)
    [section] = listed.sections
    assert section.footer is not None and section.footer.endswith(f"; {built.note}")
    card = await digests.draft_card(ctx, built.digest_id or 0)
    assert card.reply.footer == section.footer


async def test_the_chat_preview_shows_the_month_and_the_budget(ctx: CommandContext) -> None:
    seed(ctx.db, hard=False)
    ctx = _with_x_budget(ctx, 20)
    reply = digests.preview_reply(await digests.preview_for_moderator(ctx, MODERATOR, "x-main"))
    [month] = [field for field in reply.fields if field.name.startswith("X in ")]
    assert month.name.endswith(" (UTC)")
    assert month.value.startswith("0 posts sent, 0 with a URL, $0.00; 0 posts approved")
    assert month.value.endswith("; budget $20.00, $20.00 left")
