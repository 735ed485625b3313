"""The outbox folder: real files in a temporary folder, written whole, named by their place
in the digest (by key when a post comes without one)."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publishers.networks.base import Network, OutgoingPost, Permanent, Posted
from publishers.networks.outbox_folder import OutboxFolder
from tests.publishers.networks.conftest import TEXT, outgoing


@pytest.fixture
def folder(tmp_path: Path) -> OutboxFolder:
    return OutboxFolder(tmp_path / "outbox" / "mastodon", channel="mastodon")


def names(directory: Path) -> list[str]:
    """Every entry, hidden ones (a leftover temporary file) included."""
    return sorted(path.name for path in directory.iterdir())


def test_a_post_is_one_file_named_by_its_key(folder: OutboxFolder) -> None:
    posted = folder.post(outgoing(key="d12-p03"))

    path = folder.directory / "d12-p03.md"
    assert path.read_text(encoding="utf-8") == TEXT + "\n"
    assert posted == Posted(remote_id="d12-p03.md", url=path.as_uri())
    assert names(folder.directory) == ["d12-p03.md"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_part_is_named_by_its_place_in_the_digest_not_by_its_key(folder: OutboxFolder) -> None:
    """A network channel's key keeps its network's form (a Bluesky TID here); the file is
    named so a person sees which digest, post and part it is."""
    placed = replace(outgoing(key="3kz5m7abc2x2q"), digest_id=12, post=2, position=0)
    posted = folder.post(placed)

    assert posted.remote_id == "digest-000012-post003-part001.md"
    assert names(folder.directory) == ["digest-000012-post003-part001.md"]
    assert folder.find(placed) == posted
    assert folder.find(replace(placed, position=1)) is None


def test_names_sort_in_posting_order_across_digests_posts_and_parts(
    folder: OutboxFolder,
) -> None:
    """``ls`` once put digest 10 before digest 9 and part 10 before part 2."""
    in_order = []
    for digest_id in (1, 9, 10, 11, 99, 100, 101):
        for post in range(11):
            for position in range(11 if post in (0, 9, 10) else 1):
                text = f"digest {digest_id}, post {post}, part {position}"
                placed = OutgoingPost(text, f"k{digest_id}-{post}-{position}", 0, 1)
                placed = replace(placed, digest_id=digest_id, post=post, position=position)
                in_order.append(folder.post(placed).remote_id)
        folder.write_page(digest_id, "<p>page</p>")
        in_order.append(f"digest-{digest_id:06d}.html")

    assert len(in_order) > 10 * 7
    assert sorted(os.listdir(folder.directory)) == in_order


def test_a_database_started_afresh_never_meets_the_old_files(folder: OutboxFolder) -> None:
    """Digest numbers start at 1 again in a new database; the time the digest was built
    leads the name, so its first post is a new file, not "a different text already here"."""
    built = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    old = replace(outgoing(key="a1"), digest_id=1, post=0, position=0, built_at=built)
    new = replace(old, text="Another summary.", built_at=built + timedelta(days=1))
    folder.post(old)
    folder.write_page(1, "<p>old</p>", built)
    folder.post(new)
    folder.write_page(1, "<p>new</p>", new.built_at)

    assert names(folder.directory) == [
        "20261206-090000-digest-000001-post001-part001.md",
        "20261206-090000-digest-000001.html",
        "20261207-090000-digest-000001-post001-part001.md",
        "20261207-090000-digest-000001.html",
    ]


def test_a_second_attempt_at_a_placed_part_finds_its_file(folder: OutboxFolder) -> None:
    placed = replace(outgoing(key="a1b2"), digest_id=3, post=0, position=1)
    first = folder.post(placed)
    written = (folder.directory / first.remote_id).stat().st_mtime_ns

    assert folder.find(placed) == first
    assert folder.post(placed) == first
    assert (folder.directory / first.remote_id).stat().st_mtime_ns == written
    assert names(folder.directory) == ["digest-000003-post001-part002.md"]


def test_building_the_folder_writes_nothing(tmp_path: Path) -> None:
    network: Network = OutboxFolder(tmp_path / "later", channel="x")
    network.close()
    assert network.kind == "outbox"
    assert not (tmp_path / "later").exists()


def test_a_later_part_names_the_part_it_follows(folder: OutboxFolder) -> None:
    first = folder.post(outgoing("Part one", key="d12-p00", part=0, parts=2))
    second = folder.post(
        outgoing("Part two\n", key="d12-p01", part=1, parts=2, reply_to=first, root=first)
    )

    assert (folder.directory / "d12-p00.md").read_text(encoding="utf-8") == "Part one\n"
    assert (folder.directory / "d12-p01.md").read_text(encoding="utf-8") == (
        "In reply to: d12-p00.md\n\nPart two\n"
    )
    assert second.remote_id == "d12-p01.md"


def test_the_same_post_again_is_the_same_file(folder: OutboxFolder) -> None:
    post = outgoing("Ünïcode ✓ and $\\LaTeX$", key="d12-p00")
    first = folder.post(post)
    written = (folder.directory / "d12-p00.md").stat()

    again = folder.post(post)

    assert again == first
    assert (folder.directory / "d12-p00.md").stat().st_mtime_ns == written.st_mtime_ns
    assert names(folder.directory) == ["d12-p00.md"]


def test_another_text_under_a_taken_key_is_refused_and_the_file_kept(
    folder: OutboxFolder,
) -> None:
    folder.post(outgoing("The original", key="d12-p00"))
    with pytest.raises(Permanent, match=r"d12-p00\.md already holds a different text"):
        folder.post(outgoing("Something else", key="d12-p00"))
    assert (folder.directory / "d12-p00.md").read_text(encoding="utf-8") == "The original\n"


def test_find_sees_a_written_post_and_nothing_else(folder: OutboxFolder) -> None:
    assert folder.find(outgoing(key="d12-p00")) is None  # the folder does not exist yet
    posted = folder.post(outgoing(key="d12-p00"))

    assert folder.find(outgoing(key="d12-p00")) == posted
    assert folder.find(outgoing(key="d12-p01")) is None


def test_a_leftover_temporary_file_is_not_a_post(folder: OutboxFolder) -> None:
    """What a crash mid-write leaves: a hidden temporary file, never the post's name."""
    folder.directory.mkdir(parents=True)
    (folder.directory / ".d12-p00.md.k3j2.tmp").write_text("Half a po", encoding="utf-8")

    assert folder.find(outgoing(key="d12-p00")) is None
    folder.post(outgoing(key="d12-p00"))
    assert (folder.directory / "d12-p00.md").read_text(encoding="utf-8") == TEXT + "\n"


def test_a_replaced_page_is_swapped_whole_not_rewritten_in_place(folder: OutboxFolder) -> None:
    folder.write_page(12, "<html><body>first</body></html>")
    path = folder.directory / "digest-000012.html"

    with path.open(encoding="utf-8") as reader:
        folder.write_page(12, "<html><body>second</body></html>")
        assert reader.read() == "<html><body>first</body></html>"  # the old file, untouched

    assert path.read_text(encoding="utf-8") == "<html><body>second</body></html>"
    assert names(folder.directory) == ["digest-000012.html"]


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/b", "..", "a..b", ".hidden", "", "d12 p03", "d12\np03", "x" * 129, "é"],
)
def test_odd_keys_are_refused(folder: OutboxFolder, key: str) -> None:
    with pytest.raises(Permanent, match="cannot be a file name"):
        folder.post(outgoing(key=key))
    with pytest.raises(Permanent, match="cannot be a file name"):
        folder.find(outgoing(key=key))
    assert not folder.directory.exists()


@pytest.mark.parametrize("key", ["d12-p03", "3kz5m7abc2x2q", "2026.11.27_x~1", "A" * 128])
def test_ordinary_keys_are_accepted(folder: OutboxFolder, key: str) -> None:
    assert folder.post(outgoing(key=key)).remote_id == f"{key}.md"


def test_a_file_where_the_folder_should_be_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("not a folder", encoding="utf-8")
    folder = OutboxFolder(tmp_path / "outbox", channel="outbox")

    with pytest.raises(Permanent, match=f"outbox folder {tmp_path / 'outbox'} cannot be created"):
        folder.post(outgoing())
    with pytest.raises(Permanent, match="cannot be created"):
        folder.write_page(1, "<p></p>")
    assert folder.find(outgoing()) is None


def test_a_file_where_a_parent_folder_should_be_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("not a folder", encoding="utf-8")
    folder = OutboxFolder(tmp_path / "outbox" / "x", channel="x")
    with pytest.raises(Permanent, match="cannot be created: Not a directory"):
        folder.post(outgoing())


def test_a_folder_in_the_way_of_a_post_is_permanent(folder: OutboxFolder) -> None:
    (folder.directory / "d12-p00.md").mkdir(parents=True)
    with pytest.raises(Permanent, match="cannot be read: Is a directory"):
        folder.post(outgoing(key="d12-p00"))


def test_a_text_that_is_not_unicode_is_permanent(folder: OutboxFolder) -> None:
    with pytest.raises(Permanent, match="not valid Unicode"):
        folder.post(outgoing("half a pair \ud800", key="d12-p00"))
    assert not folder.directory.exists()


def test_a_failed_write_is_permanent_and_leaves_no_temporary_file(
    folder: OutboxFolder,
) -> None:
    """The rename fails (a folder holds the page's name): nothing half-written remains."""
    (folder.directory / "digest-000012.html" / "inside").mkdir(parents=True)
    with pytest.raises(Permanent, match=f"outbox folder {folder.directory} cannot be written"):
        folder.write_page(12, "<p>page</p>")
    assert names(folder.directory) == ["digest-000012.html"]
