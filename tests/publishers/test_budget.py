"""A budget on X: a digest that would take an X channel over its monthly budget is held as
a draft with its reason, and X's 402 (credits exhausted) stops only that channel.

The worker drives the real X client (tweepy) against the local fake X API; the month's
cost is read from what the outbox recorded (``storage.spending``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from publishers import digests as digest_service
from publishers.channels import stored_row
from publishers.delivery import Built, Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage import digests as digest_store
from storage import migrate
from storage import papers as paper_store
from storage import summaries as summary_store
from storage.database import Database
from storage.models import (
    Channel,
    Digest,
    DigestItem,
    DigestStatus,
    PublishingNotice,
    Summary,
    SummaryStatus,
)
from storage.papers import PaperData
from storage.spending import XPrices, dollars
from tests.servers.x_server import OTHER_ACCOUNT, XAccount, XServer

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PRICES = XPrices(0.02, 0.5)
"""Not the shipped prices: the configured ones must be the ones the budget uses."""
PAPERS = ["1605.08803", "1606.04474", "1810.03292", "1606.02960"]


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def x(clock: Clock) -> Iterator[XServer]:
    with XServer(clock=clock) as server:
        yield server
    assert not server.server_errors


def approved(db: Database, number: int, approved_at: datetime = START) -> int:
    """An approved summary of the ``number``-th paper, short enough for one post."""
    arxiv_id = PAPERS[number]
    with db.transaction() as session:
        paper = paper_store.upsert(
            session,
            PaperData(key=f"arxiv:{arxiv_id}", title=f"Paper {arxiv_id}", arxiv_id=arxiv_id,
                      categories=["cs.LG"]),
        )  # fmt: skip
        user = summary_store.get_or_create_user(session, "console", f"a{number}", f"A {number}")
        summary = Summary(
            paper_id=paper.id,
            author_id=user.id,
            tldr=f"Finding number {number}: a short, plain TL;DR.",
            body="Short enough for one post.",
            status=SummaryStatus.APPROVED,
            approved_at=approved_at - timedelta(minutes=number),
        )
        session.add(summary)
        session.flush()
        return summary.id


def x_channel(x: XServer, account: XAccount | None = None, **changes: object) -> ChannelSettings:
    account = account or x.account
    return ChannelSettings(
        name="x-main" if account == x.account else "x-second",
        kind="x",
        api_base=x.url,
        credentials={
            "api_key": account.consumer_key,
            "api_secret": account.consumer_secret,
            "access_token": account.access_token,
            "access_token_secret": account.access_token_secret,
        },
    ).updated(**changes)


def publisher(
    db: Database, channels: Sequence[ChannelSettings], clock: Clock, tmp_path: Path
) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: list(channels),
        Clients(fallback_dir=tmp_path / "outbox", timeout=2, clock=clock),
        clock=clock,
        rng=random.Random(7),
        x_prices=PRICES,
    )


def next_cost(db: Database, channel: ChannelSettings, clock: Clock) -> float:
    """What the channel's next digest costs at the test's prices, as the preview says."""
    rendered = digest_service.preview(db, DigestRenderer(Templates()), channel, clock)
    assert rendered.posts, "nothing to build"
    return rendered.cost(PRICES.post_usd, PRICES.post_with_url_usd).usd


def digest(db: Database, digest_id: int | None) -> Digest:
    assert digest_id is not None
    with db.sessions() as session:
        row = session.get_one(Digest, digest_id)
        session.expunge(row)
        return row


def notices(db: Database) -> list[PublishingNotice]:
    with db.sessions() as session:
        return list(session.scalars(select(PublishingNotice).order_by(PublishingNotice.id)))


def channel_row(db: Database, name: str) -> Channel:
    with db.sessions() as session:
        row = session.scalars(select(Channel).where(Channel.name == name)).one()
        session.expunge(row)
        return row


# --- the monthly budget --------------------------------------------------------------------------


def test_a_digest_within_the_budget_goes_out_as_configured(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, 0)
    approved(db, 1)
    channel = x_channel(x, monthly_budget_usd=5)
    service = publisher(db, [channel], clock, tmp_path)
    built = service.build(channel)
    assert built.status == "approved" and built.note == ""
    assert digest(db, built.digest_id).notice is None
    assert notices(db) == []
    assert service.deliver().sent == built.parts == len(x.posts) == 2


def test_a_digest_over_the_budget_is_held_with_its_reason_and_approving_sends_it(
    db: Database, x: XServer, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    approved(db, 0)
    plain = x_channel(x)
    service = publisher(db, [plain], clock, tmp_path)
    first = next_cost(db, plain, clock)
    service.build(plain)
    assert service.deliver().sent == 1  # sent this month: it counts
    approved(db, 1)
    second = next_cost(db, plain, clock)
    budget = round(first + second - 0.01, 2)
    channel = x_channel(x, monthly_budget_usd=budget)
    service.channels = lambda: [channel]
    clock.now += timedelta(days=1)

    built = service.build(channel)
    assert built.status == "draft", "held whatever require_approval says"
    reason = (
        f"over budget: this digest costs {dollars(second)}; {dollars(first)} of the "
        f"{dollars(budget)} monthly budget is spent or committed (December 2026, UTC)"
    )
    assert built.note == reason
    held = digest(db, built.digest_id)
    assert held.status is DigestStatus.DRAFT and held.notice == reason
    [notice] = notices(db)
    assert notice.digest_id == built.digest_id
    assert f"Digest {built.digest_id} to x-main is held as a draft, {reason}." in notice.text
    assert f"shortscience digest approve {built.digest_id}" in notice.text
    assert f"digest {built.digest_id} for x-main held as a draft: {reason}" in caplog.text
    assert service.deliver().sent == 0 and len(x.posts) == 1

    # The moderator's decision: sent over budget.
    assert service.decide(built.digest_id or 0, approve=True, moderator_id=None)
    assert service.deliver().sent == 1 and len(x.posts) == 2
    assert digest(db, built.digest_id).status is DigestStatus.SENT
    assert len(notices(db)) == 1


def test_a_digest_that_costs_exactly_what_is_left_goes_out(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, 0)
    plain = x_channel(x)
    service = publisher(db, [plain], clock, tmp_path)
    first = next_cost(db, plain, clock)
    service.build(plain)
    service.deliver()
    approved(db, 1)
    channel = x_channel(x, monthly_budget_usd=first + next_cost(db, plain, clock))
    built = service.build(channel)
    assert built.status == "approved", built.note
    assert notices(db) == []


def test_what_was_sent_last_month_does_not_count(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    clock.now = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    approved(db, 0, clock.now)
    plain = x_channel(x)
    service = publisher(db, [plain], clock, tmp_path)
    service.build(plain)
    assert service.deliver().sent == 1  # on the last day of November
    clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    approved(db, 1, clock.now)
    channel = x_channel(x, monthly_budget_usd=next_cost(db, plain, clock))
    service.channels = lambda: [channel]
    built = service.build(channel)
    assert built.status == "approved", built.note
    assert service.deliver().sent == 1


def test_digests_built_but_not_sent_yet_count(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, 0)
    plain = x_channel(x, max_items=1)
    first = next_cost(db, plain, clock)
    channel = x_channel(x, max_items=1, monthly_budget_usd=round(2 * first - 0.01, 2))
    service = publisher(db, [channel], clock, tmp_path)
    assert service.build(channel).status == "approved"  # nothing sent yet, nothing delivered
    approved(db, 1)
    built = service.build(channel)
    assert built.status == "draft"
    assert f"{dollars(first)} of the" in built.note, "the first digest is committed"
    assert len(notices(db)) == 1


def test_a_channel_asking_for_approval_still_says_the_draft_is_over_budget(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, 0)
    channel = x_channel(x, require_approval=True, monthly_budget_usd=0.01)
    service = publisher(db, [channel], clock, tmp_path)
    built = service.build(channel)
    assert built.status == "draft" and built.note.startswith("over budget: ")
    assert digest(db, built.digest_id).notice == built.note
    [notice] = notices(db)
    assert "is held as a draft, over budget" in notice.text


# --- X's 402: credits exhausted ------------------------------------------------------------------


def test_credits_exhausted_stops_only_that_channel_tells_once_and_resume_sends_again(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    main, second = x_channel(x), x_channel(x, OTHER_ACCOUNT)
    service = publisher(db, [main, second], clock, tmp_path)
    approved(db, 0)
    main_digest = service.build(main).digest_id
    second_digest = service.build(second).digest_id
    x.deplete_credits()  # the first account only

    report = service.deliver()
    assert (report.failed, report.sent) == (1, 1)
    stopped = channel_row(db, "x-main")
    assert stopped.stopped_at is not None
    assert stopped.stop_reason is not None
    assert stopped.stop_reason.startswith("X credits exhausted"), stopped.stop_reason
    assert channel_row(db, "x-second").stopped_at is None
    assert digest(db, main_digest).status is DigestStatus.FAILED
    assert digest(db, second_digest).status is DigestStatus.SENT
    [notice] = notices(db)
    assert "X credits exhausted" in notice.text and "x-main" in notice.text

    # The other channel keeps going; the stopped one sends nothing and says nothing more.
    approved(db, 1)
    later_main = service.build(main).digest_id
    later_second = service.build(second).digest_id
    clock.now += timedelta(hours=1)
    assert service.deliver().sent == 1
    assert digest(db, later_second).status is DigestStatus.SENT
    assert digest(db, later_main).status is DigestStatus.APPROVED
    assert [post.author_id for post in x.posts] == [OTHER_ACCOUNT.user_id] * 2
    assert len(notices(db)) == 1

    # Credits added and the channel resumed: both of its digests go out, in order.
    x.add_credits()
    assert service.resume("x-main") == (True, 1)
    assert channel_row(db, "x-main").stop_reason is None
    assert service.deliver().sent == 2
    assert digest(db, main_digest).status is DigestStatus.SENT
    assert digest(db, later_main).status is DigestStatus.SENT
    assert len(x.posts) == 4


def test_two_workers_refused_for_credits_at_once_tell_the_moderators_once(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    """Two workers each hold a part of a different digest of the channel when X answers
    402 to both: the channel stops once and the moderators get one notice."""
    main = x_channel(x, max_items=1)
    first, second = (publisher(db, [main], clock, tmp_path) for _ in range(2))
    approved(db, 0)
    first.build(main)
    approved(db, 1)
    first.build(main)
    x.deplete_credits()
    x.latency = 0.5  # both parts are claimed before either answer comes
    workers = [
        threading.Thread(target=service.deliver, kwargs={"limit": 1}) for service in (first, second)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)
    with db.sessions() as session:
        states = sorted(row.status for row in session.scalars(select(Digest)))
    assert states == [DigestStatus.FAILED, DigestStatus.FAILED], "both parts were tried"
    [notice] = notices(db)
    assert "X credits exhausted" in notice.text
    assert channel_row(db, "x-main").stop_reason.startswith("X credits exhausted")


def test_a_draft_held_over_budget_after_refused_replies_stays_single_posts_when_trimmed(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    """Its notice holds both reasons; taking a summary out draws it again as it was drawn
    (one post per summary), not as the thread the channel would otherwise ask for."""
    main = x_channel(x, max_items=2, thread=True, max_parts=25, monthly_budget_usd=0.01)
    service = publisher(db, [main], clock, tmp_path)
    kept, dropped = approved(db, 0), approved(db, 1)
    with db.transaction() as session:
        for summary_id in (kept, dropped):
            session.get_one(Summary, summary_id).body = "A long sentence of the body. " * 60
        row = stored_row(session, main, clock())
        channel_store.refuse_replies(session, row.id, clock())
    built = service.build(main)
    held = digest(db, built.digest_id)
    assert held.status is DigestStatus.DRAFT
    assert held.notice is not None
    assert held.notice.startswith(digest_service.SINGLE_POSTS_NOTICE)
    assert "over budget" in held.notice
    assert built.parts == 2, "one post per summary, replies being refused"
    assert service.drop(held.id, dropped)
    with db.sessions() as session:
        parts = digest_store.deliveries_of(session, held.id)
    assert [(part.summary_id, part.position) for part in parts] == [(kept, 0)]


@pytest.mark.postgres
def test_a_build_while_another_is_being_written_counts_it_against_the_budget(
    postgres_url: str, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    """PostgreSQL: a build of the channel waits for a build of it in flight (the build
    updates the channel's row, and that row lock is held to the commit), so it sees that
    digest's parts as committed spending and is held, not sent over the budget."""
    db = Database.connect(postgres_url)
    migrate.upgrade(db)
    try:
        main = x_channel(x, max_items=1)
        newest, older = approved(db, 0), approved(db, 1)
        one_digest = next_cost(db, main, clock)
        main = main.updated(monthly_budget_usd=one_digest * 1.5)
        first, second = (publisher(db, [main], clock, tmp_path) for _ in range(2))
        results: list[object] = []
        with db.transaction() as session:  # the channel as its earlier digests left it
            stored_row(session, main, clock())
        with db.transaction() as session:  # the first build, not committed yet
            row = stored_row(session, main, clock())
            plan = first.builder.plan(main, first.builder.of(session, [older]), clock())
            written = digest_store.create_digest(
                session, row.id, [older], approved=True, now=clock()
            )
            digest_store.add_parts(
                session, written, plan.parts(f"digest-{written.id}"), now=clock()
            )

            def build_again() -> None:
                try:
                    results.append(second.build(main))
                except BaseException as error:  # handed to the test's thread
                    results.append(error)

            worker = threading.Thread(target=build_again)
            worker.start()
            worker.join(timeout=1.0)
            assert worker.is_alive(), "the second build waits for the first to commit"
        worker.join(timeout=30)
        [built] = results
        assert isinstance(built, Built) and built.digest_id is not None
        held = digest(db, built.digest_id)
        assert held.status is DigestStatus.DRAFT, "the first digest's parts were counted"
        assert held.notice is not None and "over budget" in held.notice
        with db.sessions() as session:
            assert [item.summary_id for item in held_items(session, built.digest_id)] == [newest]
    finally:
        db.dispose()


def held_items(session: Session, digest_id: int) -> list[DigestItem]:
    """A digest's summaries in their order."""
    return list(
        session.scalars(
            select(DigestItem)
            .where(DigestItem.digest_id == digest_id)
            .order_by(DigestItem.position)
        )
    )
