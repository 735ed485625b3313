"""The outbox: digests reach each network once and in order, whatever fails on the way.

The worker drives the real clients (tweepy, Mastodon.py, atproto, requests) against the
local fakes, on SQLite and PostgreSQL; every assertion is on what the fake network holds
and what the database recorded.
"""

from __future__ import annotations

import html
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage import papers as paper_store
from storage import summaries as summary_store
from storage.database import Database
from storage.models import (
    Channel,
    Delivery,
    DeliveryState,
    Digest,
    DigestStatus,
    PublishingNotice,
    Summary,
    SummaryStatus,
)
from storage.papers import PaperData
from tests.publishers.conftest import Clock
from tests.servers.bluesky_server import CREATE_RECORD, FakeBluesky
from tests.servers.discord_webhook_server import FakeDiscordWebhook
from tests.servers.facebook_server import FakeFacebook
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.mastodon_server import FakeMastodon
from tests.servers.x_server import TWEETS, XServer

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BUILT = "20261127-090000"
"""How the outbox folder's names begin for digests built at NOW (the clock stands still)."""
PARAGRAPH = (
    "Coupling layers keep the Jacobian triangular, so its determinant is the product of "
    "the diagonal and the log-likelihood stays exact. The scale and shift networks can be "
    "anything, because they are never inverted. "
)


def approved(db: Database, body: str, *, arxiv_id: str = "1605.08803", author: str = "ada") -> int:
    """One approved summary of a paper, by ``author``."""
    with db.transaction() as session:
        paper = paper_store.get_by_key(session, f"arxiv:{arxiv_id}") or paper_store.upsert(
            session,
            PaperData(key=f"arxiv:{arxiv_id}", title="Density estimation using Real NVP",
                      arxiv_id=arxiv_id, categories=["cs.LG"]),
        )  # fmt: skip
        user = summary_store.get_or_create_user(session, "console", author, author)
        summary = Summary(
            paper_id=paper.id,
            author_id=user.id,
            tldr="Invertible coupling layers: exact likelihood, fast sampling.",
            body=body,
            status=SummaryStatus.APPROVED,
            approved_at=NOW - timedelta(hours=1),
        )
        session.add(summary)
        session.flush()
        return summary.id


def publisher(
    db: Database, channel: ChannelSettings, clock: Clock, tmp_path: Path, **clients: object
) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(
            __import__("publishers.render.templates", fromlist=["Templates"]).Templates()
        ),
        lambda: [channel],
        Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock, **clients),  # type: ignore[arg-type]
        clock=clock,
        rng=random.Random(7),
    )


def x_channel(x: XServer, **changes: object) -> ChannelSettings:
    account = x.account
    channel = ChannelSettings(
        name="x-main",
        kind="x",
        thread=True,
        max_parts=25,
        api_base=x.url,
        link="first",
        credentials={
            "api_key": account.consumer_key,
            "api_secret": account.consumer_secret,
            "access_token": account.access_token,
            "access_token_secret": account.access_token_secret,
        },
    )
    return channel.updated(**changes)


@pytest.fixture
def x(clock: Clock) -> Iterator[XServer]:
    with XServer(clock=clock) as server:
        yield server
    assert not server.server_errors


def deliveries(db: Database) -> list[Delivery]:
    with db.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.part)).all())


def digest_status(db: Database, digest_id: int) -> DigestStatus:
    with db.sessions() as session:
        return session.get_one(Digest, digest_id).status


def five_part_summary(db: Database) -> int:
    return approved(db, "\n\n".join([PARAGRAPH] * 4))


# --- building --------------------------------------------------------------------------------


def test_a_digest_is_written_whole_before_anything_is_sent(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    built = publisher(db, x_channel(x), clock, tmp_path).build(x_channel(x))
    assert built.status == "approved" and built.parts == 5
    rows = deliveries(db)
    assert [row.state for row in rows] == [DeliveryState.PENDING] * 5
    assert [(row.post, row.position) for row in rows] == [(0, n) for n in range(5)]
    assert rows[-1].text.endswith(" 5/5")
    assert len({row.idempotency_key for row in rows}) == 5
    assert x.posts == [], "building sends nothing"


def test_a_second_digest_for_the_same_summaries_is_not_built(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    service = publisher(db, x_channel(x), clock, tmp_path)
    assert service.build(x_channel(x)).digest_id is not None
    again = service.build(x_channel(x))
    assert (again.digest_id, again.status) == (None, "empty")


# --- a thread reaches X in order, once --------------------------------------------------------


def test_a_five_part_thread_goes_out_in_order_as_replies(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    service = publisher(db, x_channel(x), clock, tmp_path)
    digest_id = service.build(x_channel(x)).digest_id
    assert digest_id is not None
    report = service.deliver()
    assert report.sent == 5 and report.digests_sent == [digest_id]
    posts = x.posts
    assert all(f" {n}/5" in post.text for n, post in enumerate(posts, start=1))
    assert posts[0].in_reply_to is None
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]
    assert [row.remote_id for row in deliveries(db)] == [post.id for post in posts]
    assert digest_status(db, digest_id) is DigestStatus.SENT


def test_a_failed_third_part_is_retried_later_and_the_thread_completes_once(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    service = publisher(db, x_channel(x), clock, tmp_path)
    service.build(x_channel(x))
    x.fail(
        "POST",
        TWEETS,
        Fault(FaultKind.REPLY, Response(503, {"title": "Service Unavailable"})),
        skip=2,
    )
    first = service.deliver()
    assert (first.sent, first.retried) == (2, 1)
    third = deliveries(db)[2]
    assert third.state is DeliveryState.PENDING
    assert third.next_attempt_at is not None and third.next_attempt_at > clock.now
    assert service.deliver().sent == 0, "not due yet: the backoff holds"
    clock.advance(minutes=2)
    assert service.deliver().sent == 3
    posts = x.posts
    assert len(posts) == 5
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]


def test_an_answer_lost_after_the_post_was_made_does_not_post_it_twice(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    service = publisher(db, x_channel(x), clock, tmp_path)
    service.build(x_channel(x))
    x.fail("POST", TWEETS, Fault(FaultKind.DROP_AFTER), skip=1)  # the 2nd post: made, no answer
    service.deliver()
    second = deliveries(db)[1]
    assert second.needs_lookup and second.state is DeliveryState.PENDING
    clock.advance(seconds=5)
    service.deliver()
    posts = x.posts
    assert len(posts) == 5, "the second post was found, not posted again"
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]
    assert [row.remote_id for row in deliveries(db)] == [post.id for post in posts]


def test_a_rate_limit_waits_until_the_reset_x_gives(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one post.")
    service = publisher(db, x_channel(x), clock, tmp_path)
    service.build(x_channel(x))
    reset = int((NOW + timedelta(minutes=13)).timestamp())
    x.fail(
        "POST",
        TWEETS,
        Fault(
            FaultKind.REPLY,
            Response(
                429,
                {"title": "Too Many Requests", "status": 429},
                {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            ),
        ),
    )
    service.deliver()
    [row] = deliveries(db)
    assert row.next_attempt_at == datetime.fromtimestamp(reset, UTC)
    clock.advance(minutes=13)
    assert service.deliver().sent == 1


def test_a_revoked_token_stops_only_its_channel_and_tells_the_moderators(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one post.")
    broken = x_channel(x, credentials={**x_channel(x).credentials, "access_token": "tok-x-refuses"})
    outbox = ChannelSettings(name="outbox", kind="outbox", directory=tmp_path / "files")
    service = Publisher(
        db,
        publisher(db, broken, clock, tmp_path).renderer,
        lambda: [broken, outbox],
        Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock),
        clock=clock,
    )
    x_digest = service.build(broken).digest_id
    outbox_digest = service.build(outbox).digest_id
    report = service.deliver()
    assert report.failed == 1 and report.sent == 1
    assert digest_status(db, x_digest or 0) is DigestStatus.FAILED
    assert digest_status(db, outbox_digest or 0) is DigestStatus.SENT
    with db.sessions() as session:
        channel = session.scalars(select(Channel).where(Channel.name == "x-main")).one()
        assert channel.stopped_at is not None
        [notice] = session.scalars(select(PublishingNotice)).all()
    assert "x-main is stopped" in notice.text
    assert "tok-x-refuses" not in notice.text, "never a credential in a notice"
    # Fixed and resumed, it goes out.
    service.channels = lambda: [x_channel(x), outbox]
    service.clients = Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock)
    assert service.resume("x-main") == (True, 1)
    assert service.deliver().sent == 1
    assert len(x.posts) == 1


def test_replies_refused_fall_back_to_single_posts_and_tell_moderators_once(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    with XServer(clock=clock, self_replies=False) as x:
        five_part_summary(db)
        approved(db, "\n\n".join([PARAGRAPH] * 3), arxiv_id="1606.04474", author="bob")
        service = publisher(db, x_channel(x), clock, tmp_path)
        digest_id = service.build(x_channel(x)).digest_id
        service.deliver()
        posts = x.posts
        # The first thread's first part went out; its reply was refused; the rest became
        # single posts: one for the summary not started yet.
        assert posts[0].in_reply_to is None
        assert all(post.in_reply_to is None for post in posts)
        assert len(posts) == 2
        assert digest_status(db, digest_id or 0) is DigestStatus.SENT
        with db.sessions() as session:
            channel = session.scalars(select(Channel)).one()
            assert channel.replies_refused_at is not None
            notices = session.scalars(select(PublishingNotice)).all()
        assert len(notices) == 1 and "one post per summary" in notices[0].text
        # The next digest is built as single posts from the start.
        approved(db, "\n\n".join([PARAGRAPH] * 4), arxiv_id="1810.03292", author="cy")
        built = service.build(x_channel(x))
        assert built.parts == 1


# --- Bluesky and Mastodon threads ---------------------------------------------------------------


def test_a_bluesky_thread_chains_root_and_parent_and_survives_a_lost_answer(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    with FakeBluesky(clock=clock) as pds:
        approved(db, "\n\n".join([PARAGRAPH] * 3))
        channel = ChannelSettings(
            name="sky",
            kind="bluesky",
            thread=True,
            max_parts=25,
            api_base=pds.url,
            credentials={"handle": pds.handle, "app_password": pds.app_password},
        )
        service = publisher(db, channel, clock, tmp_path)
        service.build(channel)
        pds.fail("POST", CREATE_RECORD, Fault(FaultKind.DROP_AFTER), skip=1)
        service.deliver()
        clock.advance(seconds=5)
        service.deliver()
        posts = pds.posts
        assert len(posts) == len(deliveries(db)) >= 3
        root = posts[0]
        assert all(post.reply_root == root.uri for post in posts[1:])
        assert [post.reply_parent for post in posts[1:]] == [post.uri for post in posts[:-1]]
        assert [row.idempotency_key for row in deliveries(db)] == [post.rkey for post in posts]


def test_a_mastodon_thread_uses_idempotency_keys_and_never_doubles(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    with FakeMastodon(clock=clock) as instance:
        approved(db, "\n\n".join([PARAGRAPH] * 4))
        channel = ChannelSettings(
            name="toot",
            kind="mastodon",
            thread=True,
            max_parts=25,
            api_base=instance.url,
            credentials={"access_token": instance.access_token},
        )
        service = publisher(db, channel, clock, tmp_path)
        service.build(channel)
        instance.fail("POST", instance.statuses_pattern, Fault(FaultKind.DROP_AFTER), skip=1)
        service.deliver()
        clock.advance(seconds=5)
        service.deliver()
        posts = instance.posts
        assert len(posts) == len(deliveries(db)) >= 2
        assert [post.in_reply_to_id for post in posts[1:]] == [post.id for post in posts[:-1]]
        keys = {request.headers.get("idempotency-key") for request in instance.received("POST")}
        assert keys == {row.idempotency_key for row in deliveries(db)}


def test_a_worker_whose_part_was_taken_over_while_it_looked_does_not_post_it(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """Worker A looks a part up after a lost answer; the look-up outlasts A's lease and
    worker B takes the part over. B looks, finds nothing and posts; A, told by the outbox
    that the part is no longer its own, sends nothing: one POST per attempt, one post."""
    with FakeFacebook(clock=clock) as graph:
        approved(db, "Short enough for one post.")
        channel = ChannelSettings(
            name="page",
            kind="facebook",
            api_base=graph.url,
            page_id=graph.page_id,
            credentials={"page_token": graph.page_token},
        )
        first, second = (
            Publisher(
                db,
                DigestRenderer(Templates()),
                lambda: [channel],
                Clients(fallback_dir=tmp_path / "outbox", timeout=10, clock=clock),
                clock=clock,
            )
            for _ in range(2)
        )
        first.build(channel)
        graph.fail("POST", graph.feed_pattern, Fault(FaultKind.DROP_BEFORE))
        assert first.deliver().retried == 1  # the answer is lost: look before sending again
        clock.advance(seconds=5)

        graph.latency = 1.0  # A's look-up is still on its way when B takes over
        looking = threading.Thread(target=first.deliver, kwargs={"limit": 1})
        looking.start()
        for _ in range(500):
            if graph.received("GET", graph.posts_pattern):
                break
            time.sleep(0.01)
        assert graph.received("GET", graph.posts_pattern), "worker A never looked"
        clock.advance(minutes=10)  # A's lease is over
        assert second.deliver(limit=1).sent == 1
        looking.join(timeout=30)

        assert not looking.is_alive()
        assert len(graph.posts) == 1
        assert len(graph.received("POST", graph.feed_pattern)) == 2  # the lost one and B's
        [row] = deliveries(db)
        assert row.state is DeliveryState.SENT and row.remote_id == graph.posts[0].id


# --- no credentials, no network, no silence ----------------------------------------------------


def test_a_channel_without_credentials_writes_to_the_outbox_folder_with_a_warning(
    db: Database, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    approved(db, "Short enough for one post.")
    channel = ChannelSettings(
        name="x-main", kind="x", thread=True, max_parts=25, missing=("X_API_KEY",)
    )
    service = publisher(db, channel, clock, tmp_path)
    service.build(channel)
    with caplog.at_level("WARNING"):
        assert service.deliver().sent == 1
    assert "X_API_KEY not set" in caplog.text
    [written] = (tmp_path / "outbox" / "x-main").glob("*.md")
    assert "Invertible coupling layers" in written.read_text(encoding="utf-8")


def test_the_outbox_channel_writes_one_file_per_post_and_a_page(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "One.", arxiv_id="1605.08803", author="ada")
    approved(db, "<script>alert(1)</script> Two.", arxiv_id="1606.04474", author="bob")
    channel = ChannelSettings(name="outbox", kind="outbox", directory=tmp_path / "files")
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id
    assert service.deliver().sent == 2
    files = sorted((tmp_path / "files").glob("*.md"))
    assert len(files) == 2
    page = (tmp_path / "files" / f"{BUILT}-digest-{digest_id:06d}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_outbox_page_shows_the_markdown_as_a_reader_would(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """The page once showed the body as plain text: bold lost, links as "here (https://…)"
    with nothing to click, and an empty meta line for a paper without authors."""
    approved(
        db,
        "A **bold** claim; see [here](https://example.org/a?b=1&c=2) and $x^2$.\n\n"
        "Code: https://github.com/example/realnvp.",
    )
    channel = ChannelSettings(name="outbox", kind="outbox", directory=tmp_path / "files")
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id
    assert service.deliver().sent == 1

    page = (tmp_path / "files" / f"{BUILT}-digest-{digest_id:06d}.html").read_text(encoding="utf-8")
    assert "A <strong>bold</strong> claim" in page
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener">here</a>' in page
    assert "here (https://" not in page
    assert (
        'Code: <a href="https://github.com/example/realnvp" rel="nofollow noopener">'
        "https://github.com/example/realnvp</a>." in page
    ), "a bare URL is a link too, as a Markdown reader shows it"
    assert "<math" in page, "math as MathML, as the archive shows it"
    assert '<p class="meta"></p>' not in page
    assert not re.search(r'<p class="meta">\s*</p>', page)


def test_two_digests_built_in_the_same_second_keep_their_posts_apart(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """A file's name comes from its digest's number, not the time: `digest send` twice in
    one second once failed on the second digest with a duplicate key."""
    approved(db, "The first summary.", author="ada")
    approved(db, "The second summary.", author="bob")
    channel = ChannelSettings(
        name="outbox", kind="outbox", directory=tmp_path / "files", max_items=1
    )
    service = publisher(db, channel, clock, tmp_path)
    first, second = service.build(channel), service.build(channel)  # the clock stands still
    assert (first.status, second.status) == ("approved", "approved")
    assert service.deliver().sent == 2
    names = sorted(path.name for path in (tmp_path / "files").glob("*.md"))
    assert names == [
        f"{BUILT}-digest-{first.digest_id:06d}-post001-part001.md",
        f"{BUILT}-digest-{second.digest_id:06d}-post001-part001.md",
    ]


def _deliver_watching(service: Publisher, folder: Path) -> list[str]:
    """Deliver one part at a time; the folder's new files in the order they appeared (a
    digest's page after the part that finished it)."""
    appeared: list[str] = []
    while service.deliver(limit=1).sent:
        new = set(os.listdir(folder)) - set(appeared)
        appeared += sorted(new, key=lambda name: (name.endswith(".html"), name))
    return appeared


def test_ls_lists_a_folder_in_posting_order_across_digests_and_threads(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """x-main without credentials once wrote random hex names, so the order of a thread
    could not be seen; digests 9 and 10 must sort as numbers, and so must parts 9 and 10."""
    for number in range(12):
        body = ("\n\n".join([PARAGRAPH] * (12, 4, 1)[number % 3])).strip()
        approved(db, body, arxiv_id=f"1605.{8800 + number:05d}", author=f"author{number}")
    channel = ChannelSettings(
        name="x-main", kind="x", thread=True, max_parts=25, missing=("X_API_KEY",), max_items=1
    )
    service = publisher(db, channel, clock, tmp_path)
    built = [service.build(channel) for _ in range(12)]
    assert [b.digest_id for b in built] == list(range(1, 13)), "digests 9 and 10 among them"
    assert max(b.parts for b in built) >= 10, "a thread of ten parts or more"

    folder = tmp_path / "outbox" / "x-main"
    appeared = _deliver_watching(service, folder)

    assert sorted(os.listdir(folder)) == appeared
    sent = [row.remote_id for row in sorted(deliveries(db), key=lambda r: (r.digest_id, r.part))]
    assert [name for name in appeared if name.endswith(".md")] == sent
    assert len([name for name in appeared if name.endswith(".html")]) == 12
    assert appeared[:2] == [
        f"{BUILT}-digest-{built[0].digest_id:06d}-post001-part001.md",
        f"{BUILT}-digest-{built[0].digest_id:06d}-post001-part002.md",
    ]
    assert all(len(row.idempotency_key) == 32 for row in deliveries(db)), "keys stay X's form"


def test_a_bluesky_channel_in_the_folder_keeps_tid_keys_and_readable_names(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """The key is chosen at build time for the network: a digest built while Bluesky has no
    credentials may be sent there once they are set, and a record key must be a TID."""
    five_part_summary(db)
    channel = ChannelSettings(
        name="sky", kind="bluesky", thread=True, max_parts=25, missing=("BLUESKY_HANDLE",)
    )
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert service.deliver().sent == 5

    rows = deliveries(db)
    assert all(re.fullmatch(r"[234567a-j][234567a-z]{12}", row.idempotency_key) for row in rows)
    assert sorted(os.listdir(tmp_path / "outbox" / "sky")) == [
        *(f"{BUILT}-digest-{digest_id:06d}-post001-part{n:03d}.md" for n in range(1, 6)),
        f"{BUILT}-digest-{digest_id:06d}.html",
    ]


def test_a_part_written_before_a_crash_is_found_not_written_again(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """The process died after writing a part and before recording it: the next worker takes
    the part over once its lease is out, finds the file, and the thread goes on from it."""
    five_part_summary(db)
    channel = ChannelSettings(
        name="x-main", kind="x", thread=True, max_parts=25, missing=("X_API_KEY",)
    )
    service = publisher(db, channel, clock, tmp_path)
    service.build(channel)
    assert service.deliver(limit=2).sent == 2
    folder = tmp_path / "outbox" / "x-main"
    second = folder / sorted(os.listdir(folder))[1]
    written = second.stat().st_mtime_ns
    with db.transaction() as session:  # what the crash leaves: claimed, written, unrecorded
        row = session.scalars(select(Delivery).where(Delivery.part == 1)).one()
        row.state, row.sent_at = DeliveryState.SENDING, None
        row.remote_id = row.remote_url = None
        row.lease_until = clock() - timedelta(seconds=1)

    assert service.deliver().sent == 4

    names = sorted(os.listdir(folder))
    assert len(names) == 6  # five parts and the page: nothing written twice
    assert second.stat().st_mtime_ns == written
    rows = deliveries(db)
    assert [row.remote_id for row in rows] == names[:5]
    third = (folder / names[2]).read_text(encoding="utf-8")
    assert third.startswith(f"In reply to: {names[1]}\n\n")


def test_a_network_channels_page_shows_its_thread_as_the_network_would(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """x-main's page once showed the digest as the outbox channel's article instead of the
    posts X would get: now its parts in order, numbered, their links clickable."""
    five_part_summary(db)
    approved(db, "Short enough for one post.", arxiv_id="1606.04474", author="bob")
    channel = ChannelSettings(
        name="x-main", kind="x", thread=True, max_parts=25, missing=("X_API_KEY",), link="first"
    )
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert service.deliver().sent == 6

    page = (tmp_path / "outbox" / "x-main" / f"{BUILT}-digest-{digest_id:06d}.html").read_text(
        "utf-8"
    )
    assert "As X would show it: 2 posts, 6 parts in all" in page
    assert "<h2>Post 1</h2>" in page  # the newest summary: one post
    assert "<h2>Post 2, a thread of 5</h2>" in page
    numbers = re.findall(r'<p class="number">Part (\d) of 5', page)
    assert numbers == ["1", "2", "3", "4", "5"]
    assert "Part 2 of 5, in reply to part 1</p>" in page
    assert re.search(r'<a href="https://arxiv\.org/abs/\d+\.\d+" rel="nofollow noopener">'
                     r"https://arxiv\.org/abs/\d+\.\d+</a>", page)  # fmt: skip
    for row in deliveries(db):  # each part's text as it was written, in posting order
        assert html.escape(row.text, quote=False).split("\n")[0] in page
    starts = [page.index(html.escape(row.text, quote=False)[:40]) for row in deliveries(db)]
    assert starts == sorted(starts)


def test_a_discord_channels_page_shows_its_markdown_as_discord_would(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """Discord keeps every line break, links bare URLs and shows ``-# `` lines as subtext;
    the page once ran the title and the TL;DR together and printed "-# summary #1"."""
    approved(db, "A **bold** claim, code at https://github.com/example/realnvp.")
    channel = ChannelSettings(name="disc", kind="discord")
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert service.deliver().sent == 1

    page = (tmp_path / "outbox" / "disc" / f"{BUILT}-digest-{digest_id:06d}.html").read_text(
        "utf-8"
    )
    assert "As Discord would show it: 1 post, 1 part in all" in page
    assert "</a></strong><br />\n<strong>TL;DR:</strong>" in page
    assert "A <strong>bold</strong> claim" in page
    assert '<a href="https://github.com/example/realnvp" rel="nofollow noopener">' in page
    assert '<p class="subtext">summary #1 by ada</p>' in page
    assert "-# " not in page
    assert not re.search(r'<p class="meta">\s*</p>', page)


# --- moderators approve posts ------------------------------------------------------------------


def test_a_channel_needing_approval_gets_a_draft_that_waits(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one post.")
    channel = x_channel(x, require_approval=True)
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert digest_status(db, digest_id) is DigestStatus.DRAFT
    assert service.deliver().sent == 0 and x.posts == []
    assert service.decide(digest_id, approve=True, moderator_id=None)
    assert not service.decide(digest_id, approve=False, moderator_id=None), "decided once"
    assert service.deliver().sent == 1


def test_a_rejected_draft_sends_nothing_and_keeps_its_summaries_from_the_channel(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one post.")
    channel = x_channel(x, require_approval=True)
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert service.decide(digest_id, approve=False, moderator_id=None)
    assert service.deliver().sent == 0
    assert {row.state for row in deliveries(db)} == {DeliveryState.CANCELLED}
    assert service.build(channel).status == "empty"


def test_a_summary_dropped_from_a_draft_goes_back_to_the_pool(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    first = approved(db, "First.", arxiv_id="1605.08803", author="ada")
    second = approved(db, "Second.", arxiv_id="1606.04474", author="bob")
    channel = x_channel(x, require_approval=True)
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert service.drop(digest_id, first)
    assert {row.summary_id for row in deliveries(db)} == {second}
    assert not service.drop(digest_id, first), "it is no longer there"
    service.decide(digest_id, approve=True, moderator_id=None)
    service.deliver()
    assert len(x.posts) == 1
    next_digest = service.build(channel)
    assert next_digest.digest_id is not None
    with db.sessions() as session:
        items = session.get_one(Digest, next_digest.digest_id).items
        assert [item.summary_id for item in items] == [first]


# --- where no look-up is possible, a moderator decides ------------------------------------------


def test_a_lost_answer_where_the_network_cannot_tell_is_held_for_a_moderator(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    with FakeDiscordWebhook() as hook:
        approved(db, "Short enough for one message.")
        channel = ChannelSettings(
            name="dc", kind="discord", credentials={"webhook_url": hook.webhook_url}
        )
        service = publisher(db, channel, clock, tmp_path)
        digest_id = service.build(channel).digest_id or 0
        hook.fail("POST", r"/api/v10/webhooks/.*", Fault(FaultKind.DROP_AFTER))
        service.deliver()
        clock.advance(seconds=5)
        report = service.deliver()
        assert report.held == 1 and len(hook.messages) == 1, "not sent again blindly"
        [row] = deliveries(db)
        assert row.state is DeliveryState.HELD
        with db.sessions() as session:
            [notice] = session.scalars(select(PublishingNotice)).all()
        assert f"digest release {digest_id} posted" in notice.text
        assert hook.webhook_url not in notice.text
        assert service.deliver().attempts == 0, "a held part waits for the moderator"
        assert service.release(digest_id, posted=True) == 1
        assert digest_status(db, digest_id) is DigestStatus.SENT
        assert len(hook.messages) == 1


def test_a_stop_lets_the_part_in_flight_finish_and_starts_no_other(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    five_part_summary(db)
    service = publisher(db, x_channel(x), clock, tmp_path)
    service.build(x_channel(x))
    sent: list[int] = []

    def stop_after_one() -> bool:
        sent.append(len(x.posts))
        return len(x.posts) >= 1

    report = service.deliver(stop=stop_after_one)
    assert report.sent == 1 and len(x.posts) == 1
    assert [row.state for row in deliveries(db)][:2] == [DeliveryState.SENT, DeliveryState.PENDING]
    assert service.deliver().sent == 4, "the rest goes out with the next run"
