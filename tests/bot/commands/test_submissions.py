"""submit, edit, withdraw and mine: the author's side, with its limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.commands import submissions
from bot.commands.context import Actor, CommandContext
from bot.config import LimitSettings
from bot.errors import UserError
from storage.database import Database
from storage.models import ModerationAction, ModerationEvent, Paper, Summary, SummaryStatus
from tests.bot.commands.conftest import BODY, submit
from tests.conftest import ManualClock
from tests.servers.arxiv_server import FakeArxiv


def _stored(db: Database) -> list[Summary]:
    with db.sessions() as session:
        return list(session.scalars(select(Summary).order_by(Summary.id)).all())


async def test_a_submission_is_stored_pending_and_the_author_told_its_number(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    reply = await submissions.submit(ctx, ada, "1606.04474", " An LSTM  learns to optimize. ", BODY)
    [summary] = _stored(db)
    assert reply.title == f"Summary #{summary.id} received"
    assert f"It is #{summary.id}" in reply.text
    assert reply.private
    assert summary.status is SummaryStatus.PENDING
    assert summary.tldr == "An LSTM learns to optimize."
    assert summary.body == BODY
    with db.sessions() as session:
        events = session.scalars(select(ModerationEvent)).all()
        assert [event.action for event in events] == [ModerationAction.SUBMITTED]


async def test_a_long_markdown_body_with_latex_is_kept_exactly(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    body = ("## Method\n\n$$\\nabla_\\theta f(\\theta)$$ and `code` **bold**\n\n" * 200).strip()
    assert len(body) > 4000  # more than one Discord modal field holds
    await submit(ctx, ada, body=body)
    assert _stored(db)[0].body == body


async def test_different_people_may_summarise_the_same_paper(
    ctx: CommandContext, ada: Actor, bob: Actor, db: Database
) -> None:
    await submit(ctx, ada)
    await submit(ctx, bob)
    assert len(_stored(db)) == 2


async def test_one_person_has_one_active_summary_per_paper(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match=f"You already have summary #{number}"):
        await submit(ctx, ada)
    assert len(_stored(db)) == 1


@pytest.mark.parametrize(
    ("tldr", "body", "message"),
    [
        ("", BODY, "The TL;DR is empty"),
        ("x" * 281, BODY, "The TL;DR has 281 characters; keep it to 280"),
        ("Fine.", "   \n ", "The summary body is empty"),
        ("Fine.", "y" * 20_001, "The summary has 20,001 characters; the limit is 20,000"),
    ],
)
async def test_bad_text_is_refused_and_nothing_stored(
    ctx: CommandContext, ada: Actor, db: Database, tldr: str, body: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await submissions.submit(ctx, ada, "1606.04474", tldr, body)
    assert _stored(db) == []


async def test_a_bad_paper_id_is_refused_before_anything_is_stored(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    with pytest.raises(UserError, match="is not an arXiv id"):
        await submissions.submit(ctx, ada, "not-a-paper", "t", "b")
    with pytest.raises(UserError, match=r"arXiv has no paper 1606\.99999"):
        await submissions.submit(ctx, ada, "1606.99999", "t", "b")
    assert _stored(db) == []


async def test_the_submission_rate_limit_stops_floods(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    ctx.clock = lambda: now[0]
    ctx.limits = LimitSettings(submissions_per_window=2, submission_window_minutes=60)
    await submit(ctx, ada, paper="1606.04474")
    now[0] += timedelta(minutes=10)
    await submit(ctx, ada, paper="1606.02960")
    now[0] += timedelta(minutes=5)
    with pytest.raises(UserError, match="Please wait 45 minutes before the next"):
        await submit(ctx, ada, paper="1810.03292")
    assert len(_stored(db)) == 2
    now[0] += timedelta(minutes=46)
    await submit(ctx, ada, paper="1810.03292")
    assert len(_stored(db)) == 3


async def test_an_author_edits_a_pending_summary(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    reply = await submissions.edit(ctx, ada, number, "Better TL;DR.", "Better body.")
    assert reply.title == f"Summary #{number} updated"
    [summary] = _stored(db)
    assert (summary.tldr, summary.body, summary.revision) == ("Better TL;DR.", "Better body.", 2)
    with db.sessions() as session:
        actions = [event.action for event in session.scalars(select(ModerationEvent))]
    assert actions == [ModerationAction.SUBMITTED, ModerationAction.EDITED]


async def test_nobody_edits_or_withdraws_another_authors_summary(
    ctx: CommandContext, ada: Actor, bob: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match=f"You have no summary #{number}"):
        await submissions.edit(ctx, bob, number, "Mine now.", "Body.")
    with pytest.raises(UserError, match=f"You have no summary #{number}"):
        await submissions.withdraw(ctx, bob, number)
    [summary] = _stored(db)
    assert summary.status is SummaryStatus.PENDING
    assert summary.tldr == "An LSTM learns to optimize."


async def test_withdrawn_summaries_are_kept_but_can_no_longer_change(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    await submissions.withdraw(ctx, ada, number)
    [summary] = _stored(db)
    assert summary.status is SummaryStatus.WITHDRAWN
    assert summary.body == BODY
    with pytest.raises(UserError, match="is withdrawn; only pending summaries can be edited"):
        await submissions.edit(ctx, ada, number, "t", "b")
    # Withdrawing frees the paper for a fresh summary by the same author.
    await submit(ctx, ada)


async def test_mine_lists_my_summaries_with_their_status(
    ctx: CommandContext, ada: Actor, bob: Actor
) -> None:
    first = await submit(ctx, ada, paper="1606.04474")
    second = await submit(ctx, ada, paper="1810.03292")
    await submit(ctx, bob, paper="1606.02960")
    await submissions.withdraw(ctx, ada, first)
    reply = await submissions.mine(ctx, ada)
    assert [section.title.split(" · ")[:2] for section in reply.sections] == [
        [f"#{second}", "pending"],
        [f"#{first}", "withdrawn"],
    ]
    assert {field.name: field.value for field in reply.fields} == {"pending": "1", "withdrawn": "1"}


async def test_mine_when_there_is_nothing_yet(ctx: CommandContext, bob: Actor) -> None:
    reply = await submissions.mine(ctx, bob)
    assert "You have not submitted any yet" in reply.text


# --- nothing typed is lost; hostile text is inert ------------------------------------------


async def test_a_submission_written_while_arxiv_is_down_is_kept_and_fetched_later(
    ctx: CommandContext, ada: Actor, db: Database, arxiv_server: FakeArxiv, arxiv_clock: ManualClock
) -> None:
    arxiv_server.fail_next(50, status=503)
    reply = await submissions.submit(ctx, ada, "1606.04474", "Kept while arXiv is down.", BODY)
    assert "saved as #1" in reply.text
    assert "fetched later" in reply.text
    [summary] = _stored(db)
    assert (summary.status, summary.body) == (SummaryStatus.PENDING, BODY)
    with db.sessions() as session:
        paper = session.get_one(Paper, summary.paper_id)
        assert (paper.arxiv_id, paper.fetched_at) == ("1606.04474", None)
    arxiv_server.reset()  # arXiv is back
    assert await ctx.lookups.fetch_missing() == 0  # not asked during its cool-down
    arxiv_clock.now += 31
    assert await ctx.lookups.fetch_missing() == 1
    with db.sessions() as session:
        paper = session.get_one(Paper, summary.paper_id)
        assert paper.title == "Learning to learn by gradient descent by gradient descent"
        assert paper.fetched_at is not None


@pytest.mark.parametrize(
    ("tldr", "accepted"),
    [
        ("x" * 280, True),  # exactly the limit
        ("x" * 281, False),
        ("e\u0301" * 280, True),  # 280 accented letters typed as letter + combining accent
        ("👩\u200d👩\u200d👧" * 280, True),  # 280 families: 1,400 code points, 280 characters
        ("🇪🇺" * 281, False),
    ],
)
async def test_the_tldr_is_counted_in_the_characters_people_see(
    ctx: CommandContext, ada: Actor, db: Database, tldr: str, accepted: bool
) -> None:
    if accepted:
        await submit(ctx, ada, tldr=tldr)
        assert len(_stored(db)) == 1
    else:
        with pytest.raises(UserError, match="keep it to 280"):
            await submit(ctx, ada, tldr=tldr)
        assert _stored(db) == []


@pytest.mark.parametrize(
    ("tldr", "body", "field"),
    [
        ("Clear line\x1b[2K\rInnocent", BODY, "TL;DR"),
        ("A TL;DR", "Body with a NUL \x00 byte", "summary"),
        ("A TL;DR", "Colours \x1b[31mred\x1b[0m", "summary"),
        ("A TL;DR", "C1 control \x9b2K", "summary"),
    ],
)
async def test_control_characters_are_refused_on_every_database(
    ctx: CommandContext, ada: Actor, db: Database, tldr: str, body: str, field: str
) -> None:
    with pytest.raises(UserError, match=f"The {field} contains a control character"):
        await submissions.submit(ctx, ada, "1606.04474", tldr, body)
    assert _stored(db) == []


NONCHARACTERS = ["\uffff", "\ufffe", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff"]


@pytest.mark.parametrize("character", NONCHARACTERS)
async def test_noncharacters_are_refused_like_control_characters(
    ctx: CommandContext, ada: Actor, db: Database, character: str
) -> None:
    """U+FFFF in a summary made the archive's feed.xml ill-formed XML (issue 16)."""
    code = f"U+{ord(character):04X}"
    with pytest.raises(
        UserError, match=re.escape(f"The summary contains a Unicode noncharacter ({code})")
    ):
        await submissions.submit(ctx, ada, "1606.04474", "A TL;DR", f"Body {character} here.")
    with pytest.raises(
        UserError, match=re.escape(f"The TL;DR contains a Unicode noncharacter ({code})")
    ):
        await submissions.submit(ctx, ada, "1606.04474", f"A TL;DR{character}", BODY)
    assert _stored(db) == []


BIDI_CONTROLS = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


@pytest.mark.parametrize("character", BIDI_CONTROLS)
async def test_bidirectional_controls_are_refused_on_the_way_in(
    ctx: CommandContext, ada: Actor, db: Database, character: str
) -> None:
    code = f"U+{ord(character):04X}"
    with pytest.raises(
        UserError, match=re.escape(f"The summary contains a bidirectional control ({code})")
    ):
        await submissions.submit(ctx, ada, "1606.04474", "A TL;DR", f"txt.{character}exe")
    assert _stored(db) == []


async def test_bidirectional_marks_are_text_and_kept(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    """LRM, RLM and ALM open no embedding; right-to-left writers need them."""
    tldr = "\u05e2\u05d1\u05e8\u05d9\u05ea\u200f (C++) \u061c\u0627 and \u200e."
    await submissions.submit(ctx, ada, "1606.04474", tldr, BODY)
    [summary] = _stored(db)
    assert summary.tldr == tldr


async def test_a_user_name_past_64_characters_is_refused_clearly(
    ctx: CommandContext, db: Database
) -> None:
    long_name = Actor("console", "n" * 65, "n" * 65)
    with pytest.raises(UserError, match="User names are at most 64 characters"):
        await submit(ctx, long_name)
    with pytest.raises(UserError, match="User names are at most 64 characters"):
        await submissions.mine(ctx, long_name)
    assert _stored(db) == []


async def test_a_withdrawn_summary_still_counts_toward_the_rate_limit(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    ctx.limits = LimitSettings(submissions_per_window=2, submission_window_minutes=60)
    first = await submit(ctx, ada, paper="1606.04474")
    await submissions.withdraw(ctx, ada, first)
    await submit(ctx, ada, paper="1606.04474")
    with pytest.raises(UserError, match="the most allowed"):
        await submit(ctx, ada, paper="1810.03292")


async def test_the_checks_before_a_form_refuse_what_would_be_refused_after(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    ctx.limits = LimitSettings(submissions_per_window=1, submission_window_minutes=60)
    assert (await submissions.check_can_submit(ctx, ada, "1606.04474")).base == "1606.04474"
    with pytest.raises(UserError, match=r"arXiv has no paper 1606\.99999"):
        await submissions.check_can_submit(ctx, ada, "1606.99999")
    number = await submit(ctx, ada, paper="1606.04474")
    with pytest.raises(UserError, match=f"You already have summary #{number}"):
        await submissions.check_can_submit(ctx, ada, "1606.04474")
    with pytest.raises(UserError, match="the most allowed"):
        await submissions.check_can_submit(ctx, ada, "1810.03292")


async def test_the_check_before_a_form_lets_it_open_when_arxiv_is_down(
    ctx: CommandContext, ada: Actor, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.fail_next(50, status=503)
    assert (await submissions.check_can_submit(ctx, ada, "1606.04474")).base == "1606.04474"


async def test_an_edit_from_an_outdated_form_does_not_overwrite_a_newer_one(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    await submissions.edit(ctx, ada, number, "Second.", "Second body.", seen_revision=1)
    with pytest.raises(UserError, match="changed since you opened it"):
        await submissions.edit(ctx, ada, number, "Third.", "Third body.", seen_revision=1)
    [summary] = _stored(db)
    assert (summary.tldr, summary.revision) == ("Second.", 2)
