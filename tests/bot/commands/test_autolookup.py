"""Papers linked in conversation get one short answer per channel and cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import autolookup
from bot.commands.context import Actor, CommandContext
from bot.errors import UserError
from storage.database import Database
from tests.bot.commands.conftest import submit_and_approve
from tests.servers.arxiv_server import FakeArxiv

CHANNEL = 111
HOUR = timedelta(hours=1)


async def _mention(ctx: CommandContext, text: str, channel: int = CHANNEL):
    return await autolookup.mentioned(ctx, channel, text, enabled=True, cooldown=HOUR)


async def test_a_linked_paper_gets_its_title_and_an_invitation(ctx: CommandContext) -> None:
    reply = await _mention(ctx, "have you seen https://arxiv.org/abs/1810.03292 ?")
    assert reply is not None
    assert reply.title == "Sanity Checks for Saliency Maps"
    assert reply.text == "No community summary yet. Write one: /submit 1810.03292"


async def test_a_summarised_paper_gets_the_tldr_and_a_read_more_action(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    await submit_and_approve(ctx, ada, mod, paper="1606.04474", tldr="Learn the optimizer.")
    reply = await _mention(ctx, "see arXiv:1606.04474")
    assert reply is not None
    assert reply.text == "TL;DR by Ada: Learn the optimizer."
    assert [(a.command, a.argument) for a in reply.actions] == [("summary", "1606.04474")]


async def test_never_twice_for_the_same_paper_in_a_channel_within_the_cooldown(
    ctx: CommandContext,
) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    ctx.clock = lambda: now[0]
    assert await _mention(ctx, "https://arxiv.org/pdf/1810.03292") is not None
    now[0] += timedelta(minutes=30)
    assert await _mention(ctx, "again https://arxiv.org/abs/1810.03292v1") is None
    assert await _mention(ctx, "https://arxiv.org/abs/1810.03292", channel=222) is not None
    now[0] += timedelta(minutes=31)
    assert await _mention(ctx, "https://arxiv.org/abs/1810.03292") is not None


async def test_quiet_when_switched_off_or_nothing_is_linked(
    ctx: CommandContext, arxiv_server: FakeArxiv
) -> None:
    assert (
        await autolookup.mentioned(
            ctx, CHANNEL, "https://arxiv.org/abs/1810.03292", enabled=False, cooldown=HOUR
        )
        is None
    )
    assert await _mention(ctx, "a plain 1810.03292 number is not a link") is None
    assert arxiv_server.request_count == 0


async def test_quiet_when_arxiv_does_not_know_the_paper(ctx: CommandContext) -> None:
    assert await _mention(ctx, "https://arxiv.org/abs/1606.99999") is None


async def test_only_admins_switch_it_and_config_channels_stay_on(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    admin = Actor("discord", "1", "Admin", is_admin=True)
    with pytest.raises(UserError, match="Only server admins"):
        await autolookup.set_channel(ctx, ada, 9, CHANNEL, True)
    reply = await autolookup.set_channel(ctx, admin, 9, CHANNEL, True)
    assert reply.text.startswith("Auto-lookup is on in this channel.")
    assert await autolookup.enabled_channel_ids(ctx) == {CHANNEL}
    again = await autolookup.set_channel(ctx, admin, 9, CHANNEL, True)
    assert again.text == "Auto-lookup was already on in this channel."
    await autolookup.set_channel(ctx, admin, 9, CHANNEL, False)
    assert await autolookup.enabled_channel_ids(ctx) == set()
    with pytest.raises(UserError, match=r"config\.toml"):
        await autolookup.set_channel(ctx, admin, 9, 5, False, configured=frozenset({5}))
