"""A draft digest's card offers every summary to take out, unless the front end's menu holds
fewer: then the first ones, and the card says how to take out the others."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands import digests
from bot.commands.context import CommandContext
from storage import digests as digest_store
from storage.database import Database
from storage.models import Channel, ChannelKind
from tests.publishers.conftest import seed

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _draft_of_every_seed_summary(db: Database) -> tuple[int, list[int]]:
    summary_ids = list(seed(db, hard=False).ids)
    with db.transaction() as session:
        channel = Channel(name="x-main", kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        part = digest_store.NewPart(post=0, position=0, text="The digest", key="k0")
        digest = digest_store.create_digest(
            session, channel.id, summary_ids, [part], approved=False, now=NOW
        )
        return digest.id, summary_ids


async def test_a_card_offers_every_summary_by_default(ctx: CommandContext, db: Database) -> None:
    digest_id, summary_ids = _draft_of_every_seed_summary(db)
    card = await digests.draft_card(ctx, digest_id)
    assert sorted(choice.summary_id for choice in card.choices) == sorted(summary_ids)
    assert "/drop-from-digest" not in card.reply.text
    assert card.reply.footer == "1 part; made 2026-11-27 12:00 UTC"


async def test_a_card_for_a_smaller_menu_offers_the_first_and_says_so(
    ctx: CommandContext, db: Database
) -> None:
    digest_id, summary_ids = _draft_of_every_seed_summary(db)
    assert len(summary_ids) > 2
    card = await digests.draft_card(ctx, digest_id, choice_limit=2)
    assert len(card.choices) == 2
    assert "The menu offers the first 2 summaries" in card.reply.text
    assert f"/drop-from-digest {digest_id} <summary>" in card.reply.text
    roomy = await digests.draft_card(ctx, digest_id, choice_limit=len(summary_ids))
    assert len(roomy.choices) == len(summary_ids)
    assert "/drop-from-digest" not in roomy.reply.text
