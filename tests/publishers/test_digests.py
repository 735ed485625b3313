"""Digests: the newest summaries a channel has not had, rendered as each network takes them."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import regex
from twitter_text import parse_tweet

from publishers import digests
from publishers.render.posts import DigestRenderer, RenderedDigest
from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage.database import Database
from storage.models import Channel, ChannelKind, Digest, DigestItem
from tests.publishers.channels import channel_of
from tests.publishers.conftest import NOW, seed

KINDS = (
    "x", "bluesky", "mastodon", "facebook", "discord", "slack", "telegram", "matrix", "email",
    "outbox",
)  # fmt: skip
GOLDEN = Path(__file__).resolve().parent / "golden"
LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def _channel(kind: str, **changes: object) -> ChannelSettings:
    return channel_of(kind, **{"max_items": 10, **changes})


def _preview(db: Database, renderer: DigestRenderer, channel: ChannelSettings) -> RenderedDigest:
    return digests.preview(db, renderer, channel, lambda: NOW)


def _store_digest(db: Database, channel: ChannelSettings, summary_ids: list[int]) -> None:
    """What sending a digest leaves behind: the channel, the digest and its items."""
    with db.transaction() as session:
        row = channel_store.by_name(session, channel.name)
        if row is None:
            row = Channel(name=channel.name, kind=ChannelKind(channel.kind), schedule="0 9 * * *")
            session.add(row)
            session.flush()
        digest = Digest(channel_id=row.id)
        session.add(digest)
        session.flush()
        session.add_all(
            DigestItem(digest_id=digest.id, summary_id=summary_id, channel_id=row.id, position=n)
            for n, summary_id in enumerate(summary_ids)
        )


# --- selection -----------------------------------------------------------------------------


def test_a_digest_holds_the_newest_summaries_first_at_most_max_items(
    db: Database, renderer: DigestRenderer
) -> None:
    seeded = seed(db)
    digest = _preview(db, renderer, _channel("outbox", max_items=3))
    assert [post.summary_ids[0] for post in digest.posts] == seeded.ids[::-1][:3]


def test_two_digests_in_a_row_never_repeat_a_summary(
    db: Database, renderer: DigestRenderer
) -> None:
    seed(db)
    channel = _channel("x", max_items=3)
    first = [post.summary_ids[0] for post in _preview(db, renderer, channel).posts]
    _store_digest(db, channel, first)
    second = [post.summary_ids[0] for post in _preview(db, renderer, channel).posts]
    assert len(second) == 3
    assert not set(first) & set(second)
    # Another channel is not affected by this one's digests.
    other = [post.summary_ids[0] for post in _preview(db, renderer, _channel("bluesky")).posts]
    assert set(first) <= set(other)


def test_an_empty_digest_has_no_posts(db: Database, renderer: DigestRenderer) -> None:
    assert _preview(db, renderer, _channel("x")).posts == ()


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (("cs.CV",), {"Sanity Checks for Saliency Maps"}),
        (("stat.ML",), {"Sanity Checks for Saliency Maps", "Sequence-to-Sequence Learning as "
                        "Beam-Search Optimization"}),
        (("cs.NE",), {"Learning to learn by gradient descent by gradient descent",
                      "Sequence-to-Sequence Learning as Beam-Search Optimization"}),
        (("stat",), {"Sanity Checks for Saliency Maps", "Sequence-to-Sequence Learning as "
                     "Beam-Search Optimization"}),
    ],
)  # fmt: skip
def test_a_channels_categories_filter_holds(
    db: Database, renderer: DigestRenderer, categories: tuple[str, ...], expected: set[str]
) -> None:
    seed(db)
    digest = _preview(db, renderer, _channel("outbox", categories=categories))
    titles = {post.parts[0].text.splitlines()[0].removeprefix("# ") for post in digest.posts}
    assert titles == expected


def test_max_age_days_never_digs_up_old_summaries(db: Database, renderer: DigestRenderer) -> None:
    seeded = seed(db)  # approved one hour apart, the newest an hour before NOW
    digest = _preview(db, renderer, _channel("outbox", max_age_days=2.5 / 24))
    assert [post.summary_ids[0] for post in digest.posts] == seeded.ids[::-1][:2]
    old = seed(db, now=NOW - timedelta(days=40), hard=False, authors="old-")
    digest = _preview(db, renderer, _channel("outbox", max_age_days=30))
    assert not {post.summary_ids[0] for post in digest.posts} & set(old.ids)


def test_a_preview_records_nothing(db: Database, renderer: DigestRenderer) -> None:
    seed(db)
    _preview(db, renderer, _channel("x"))
    with db.sessions() as session:
        assert session.query(Digest).count() == 0
        assert session.query(Channel).count() == 0


# --- every network's rules ---------------------------------------------------------------------


def _independent_length(kind: str, text: str) -> int:
    """Each platform's count by a counter that is not ours (LIMITS.md)."""
    if kind == "x":
        return int(parse_tweet(text).weightedLength)
    if kind == "bluesky":
        return len(regex.findall(r"\X", text))
    if kind == "telegram":
        return len(text.encode("utf-16-le")) // 2
    return -1


@pytest.mark.parametrize("kind", KINDS)
def test_every_part_is_within_its_platforms_count(
    db: Database, renderer: DigestRenderer, kind: str
) -> None:
    seed(db)
    digest = _preview(db, renderer, _channel(kind))
    assert sum(len(post.summary_ids) for post in digest.posts) == 7
    limits = {
        "x": 280, "bluesky": 300, "mastodon": 500, "facebook": 63_206, "discord": 2000,
        "slack": 4000, "telegram": 4096, "matrix": 65_536,
    }  # fmt: skip
    for post in digest.posts:
        for part in post.parts:
            if kind in limits:
                assert part.length <= limits[kind]
            independent = _independent_length(kind, part.text)
            if independent >= 0:
                assert part.length == independent, part.text
            if kind == "bluesky":
                assert len(part.text.encode("utf-8")) <= 3000
            if kind == "slack":
                _within_block_kit(part.rich)
            if kind == "telegram" and part.media:
                assert part.length <= 1024, "a photo's caption"


def _within_block_kit(rich: object) -> None:
    """Slack's Block Kit limits (LIMITS.md; the block reference)."""
    assert isinstance(rich, dict)
    blocks = rich["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


@pytest.mark.parametrize("kind", ["x", "bluesky", "mastodon", "facebook"])
def test_no_raw_latex_reaches_a_plain_text_network(
    db: Database, renderer: DigestRenderer, kind: str
) -> None:
    seed(db)
    for post in _preview(db, renderer, _channel(kind)).posts:
        for part in post.parts:
            assert not LATEX_COMMAND.search(part.text), part.text
            assert "$" not in part.text or "$\\" not in part.text
            assert "**" not in part.text


def test_a_long_summary_becomes_a_numbered_thread_that_cuts_no_url(
    db: Database, renderer: DigestRenderer
) -> None:
    seed(db)
    digest = _preview(db, renderer, _channel("x", link="last", thread=True, max_parts=25))
    threads = [post for post in digest.posts if len(post.parts) > 1]
    assert threads, "the long seed summaries need threads on X"
    for post in threads:
        total = len(post.parts)
        for number, part in enumerate(post.parts, start=1):
            body = part.text.removesuffix(post.link or "").rstrip()
            assert body.endswith(f" {number}/{total}")
        assert post.link and post.link in post.parts[-1].text
        assert all(post.link not in part.text for part in post.parts[:-1])
        if total == 25:  # cut at max_parts: its last part says where to read on
            assert post.parts[-1].text.startswith("The whole summary by Author ")


@pytest.mark.parametrize(
    ("placement", "expected"),
    # Real NVP runs past 25 parts: the last says where to read on, with the link, always.
    [("every", "all"), ("first", [0, -1]), ("last", [-1]), ("none", [-1])],
)
def test_the_link_goes_where_the_channel_says_and_the_cost_follows(
    db: Database, renderer: DigestRenderer, placement: str, expected: object
) -> None:
    seed(db, hard=False)
    digest = _preview(
        db, renderer, _channel("x", link=placement, max_items=1, thread=True, max_parts=25)
    )
    [post] = digest.posts  # Real NVP, a long summary: a thread
    parts = post.parts
    assert len(parts) > 2
    holding = [i for i, part in enumerate(parts) if "https://arxiv.org/abs/1605.08803" in part.text]
    if expected == "all":
        assert holding == list(range(len(parts)))
    else:
        assert holding == [i % len(parts) for i in expected]  # type: ignore[attr-defined]
    cost = digest.cost(0.015, 0.2)
    assert cost.posts == len(parts)
    assert cost.with_url == sum(part.has_url for part in parts)
    assert cost.usd == round((cost.posts - cost.with_url) * 0.015 + cost.with_url * 0.2, 4)


def test_one_post_per_summary_when_a_channel_does_not_thread(
    db: Database, renderer: DigestRenderer
) -> None:
    seed(db)
    for kind in ("x", "bluesky", "mastodon"):
        digest = _preview(db, renderer, _channel(kind, thread=False))
        assert all(len(post.parts) == 1 for post in digest.posts)
        for post in digest.posts:
            assert post.link and post.link in post.parts[0].text


def test_hostile_summary_text_is_printed_as_written_within_every_limit(
    db: Database, renderer: DigestRenderer
) -> None:
    seed(db)
    for kind in KINDS:
        digest = _preview(db, renderer, _channel(kind))
        text = "\n".join(part.text for post in digest.posts for part in post.parts)
        if kind == "slack":  # mrkdwn escapes &, < and >; Slack shows them as written
            text = html.unescape(text)
        assert "{{ config }}" in text
        assert "<script>" in text
        assert "@everyone" in text
        for part in (part for post in digest.posts for part in post.parts):
            # Blocks, Matrix's and email's HTML: the tag never arrives as markup.
            assert "<script>" not in json.dumps(part.rich or {}, ensure_ascii=False)
        if kind == "outbox":
            assert "{% raw %}" in text
            assert digest.html is not None
            assert "<script>alert" not in digest.html, "the web page escapes summary text"
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in digest.html


# --- golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_platforms_output_matches_its_golden_file(
    db: Database, renderer: DigestRenderer, kind: str, update_golden: bool
) -> None:
    """Reviewed by eye once; they change only on purpose (SHORTSCIENCE_UPDATE_GOLDEN=1)."""
    seed(db, hard=False)
    digest = _preview(db, renderer, _channel(kind, max_items=3))
    lines = []
    for number, post in enumerate(digest.posts, start=1):
        for index, part in enumerate(post.parts, start=1):
            lines.append(f"===== post {number}, part {index}/{len(post.parts)} ({part.length})")
            lines.append(part.text)
            if part.rich is not None:  # what the network renders: blocks, HTML, a subject
                lines.append(
                    f"----- rich form\n{json.dumps(part.rich, indent=1, ensure_ascii=False)}"
                )
    produced = "\n".join(lines) + "\n"
    golden = GOLDEN / f"{kind}.txt"
    if update_golden:
        golden.write_text(produced, encoding="utf-8")
    assert produced == golden.read_text(encoding="utf-8")
