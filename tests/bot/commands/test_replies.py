"""Replies are what people read: no bidirectional control survives into one (issue 16)."""

from __future__ import annotations

from dataclasses import astuple, fields

from sqlalchemy import select

from bot.commands import digests, moderation, papers
from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Field, Notice, Reply, Section
from storage import digests as digest_store
from storage.database import Database
from storage.models import Channel, ChannelKind, Paper, Summary, SummaryStatus
from tests.bot.commands.conftest import submit
from tests.publishers.conftest import NOW, seed

CONTROLS = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def _texts(reply: Reply) -> list[str]:
    """Every string a front end may show of a reply, its fields' and sections' included."""
    found: list[str] = []
    for value in (reply, *reply.fields, *reply.sections, *reply.notices):
        found += [item for item in astuple(value) if type(item) is str]
    return found


async def test_stored_rows_with_bidirectional_controls_read_in_stored_order(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor, db: Database
) -> None:
    """Rows stored before the controls were refused (and arXiv's titles, which are never
    refused) reached moderators and readers untouched, so a text could show reversed."""
    approved = await submit(ctx, ada)
    pending = await submit(ctx, bob)
    with db.transaction() as session:
        rows = {s.id: s for s in session.scalars(select(Summary))}
        rows[approved].status = SummaryStatus.APPROVED
        rows[approved].approved_at = rows[approved].created_at
        rows[approved].tldr = "Approve \u202egnp.exe\u202c now"
        rows[approved].body = "An \u2067isolated\u2069 word and a mark \u200f(kept)."
        rows[pending].tldr = "Pending \u202bembedded\u202c"
        rows[pending].body = "Pending \u2066body\u2069."
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "1606.04474")).one()
        paper.title = "Learning \u202dto\u202c learn"
    shown = await papers.summary(ctx, "1606.04474")
    queue = await moderation.queue(ctx, mod)
    texts = _texts(shown) + _texts(queue)
    assert not [text for text in texts if any(char in text for char in CONTROLS)]
    assert shown.title == "Learning to learn"
    assert "Approve gnp.exe now" in texts
    assert any("An isolated word and a mark \u200f(kept)." in text for text in texts)
    assert any("Pending embedded" in text for text in _texts(queue))


def test_every_text_field_of_a_reply_is_neutralised() -> None:
    """Made at the one place every front end takes its text from, whatever built it."""
    hostile = "a\u202eb\u2066c\u2069"
    reply = Reply(
        title=hostile,
        text=hostile,
        url=hostile,
        fields=(Field(hostile, hostile),),
        sections=(Section(hostile, hostile, hostile, hostile, hostile),),
        notice=hostile,
        footer=hostile,
        notices=(Notice("console", "ada", hostile),),
        lead=hostile,
    )
    for value in (reply, *reply.fields, *reply.sections, *reply.notices):
        for spec in fields(value):
            text = getattr(value, spec.name)
            if type(text) is str and spec.name not in ("platform", "external_id"):
                assert text == "abc", (type(value).__name__, spec.name)


async def test_a_draft_digests_menu_shows_titles_and_tldrs_in_stored_order(
    ctx: CommandContext, db: Database
) -> None:
    """The menu a moderator drops summaries from is text shown too, not only the card."""
    summary_ids = list(seed(db, hard=False).ids)
    with db.transaction() as session:
        summary = session.get(Summary, summary_ids[0])
        assert summary is not None
        summary.tldr = "Approve \u202egnp.exe\u202c now"
        summary.paper.title = "A \u2067title\u2069"
        channel = Channel(name="drafts", kind=ChannelKind.OUTBOX, schedule="0 9 * * *")
        session.add(channel)
        session.flush()
        part = digest_store.NewPart(post=0, position=0, text="The digest", key="k0")
        digest = digest_store.create_digest(
            session, channel.id, summary_ids, [part], approved=False, now=NOW
        )
        digest_id = digest.id
    card = await digests.draft_card(ctx, digest_id)
    [choice] = [choice for choice in card.choices if choice.summary_id == summary_ids[0]]
    assert (choice.label, choice.description) == (
        f"#{summary_ids[0]} · A title",
        "Approve gnp.exe now",
    )


async def test_paper_suggestions_show_titles_in_stored_order(
    ctx: CommandContext, db: Database
) -> None:
    """An autocomplete box shows arXiv's titles, which are never refused on the way in."""
    await papers.summary(ctx, "1606.04474")
    with db.transaction() as session:
        paper = session.scalars(select(Paper).where(Paper.arxiv_id == "1606.04474")).one()
        paper.title = "Learning \u202eto\u202c learn"
    [(label, value)] = await papers.suggest_papers(ctx, "", limit=5)
    assert (label, value) == ("1606.04474 · Learning to learn", "1606.04474")
