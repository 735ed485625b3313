"""The outbox folder: real files in a temporary folder, written whole, named by their place
in the digest (by key when a post comes without one); a part's pictures beside it, and the
digest's page showing them (through the delivery worker, and in headless Chromium)."""

from __future__ import annotations

import hashlib
import html
import os
import stat
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from PIL import Image
from sqlalchemy import select

from publishers.channels import stored_row
from publishers.networks.base import Media, Network, OutgoingPost, Permanent, Posted
from publishers.networks.outbox_folder import OutboxFolder
from publishers.settings import ChannelSettings
from storage import digests as digest_store
from storage.database import Database
from storage.models import Delivery, DeliveryState
from tests.publishers.networks.conftest import TEXT, outgoing
from tests.publishers.pictures import png
from tests.publishers.site.chromium import Chromium, find_chromium
from tests.publishers.test_delivery import BUILT, NOW, Clock, approved, publisher

REPO = Path(__file__).resolve().parents[3]


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


# -- pictures ---------------------------------------------------------------------------------


ALT = (
    "x = (-b ± √(b² - 4ac)) / 2a\n"
    "LaTeX: x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}, a_i *k* <b> & [note]"
)
"""Alt text with everything Markdown and HTML could take for markup."""
ONE_LINE = " ".join(ALT.split())
"""The alt text as the Markdown file and the page give it: on one line."""


def picture(position: int = 0, *, alt: str = ALT, content: bytes | None = None) -> Media:
    data = content if content is not None else png(shade=position * 40)
    width, height = struct.unpack(">II", data[16:24])
    return Media(
        position=position,
        content=data,
        mime_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        alt=alt,
    )


BUILT_AT = datetime(2026, 12, 6, 4, 15, 22, tzinfo=UTC)
STEM = "20261206-041522-digest-000012-post003-part001"


def pictured(*media: Media, text: str = TEXT, position: int = 0) -> OutgoingPost:
    """Post 3, part ``position + 1`` of digest 12, with ``media``."""
    return replace(
        outgoing(text, key=f"k{position}"),
        digest_id=12,
        post=2,
        position=position,
        built_at=BUILT_AT,
        media=media,
    )


def test_a_parts_pictures_are_png_files_beside_it_named_after_it(folder: OutboxFolder) -> None:
    first, second = picture(0), picture(1, alt="E = mc²")
    posted = folder.post(pictured(first, second))

    assert posted.remote_id == f"{STEM}.md"
    assert names(folder.directory) == [f"{STEM}-1.png", f"{STEM}-2.png", f"{STEM}.md"]
    for media, name in ((first, f"{STEM}-1.png"), (second, f"{STEM}-2.png")):
        written = (folder.directory / name).read_bytes()
        assert written == media.content
        assert hashlib.sha256(written).hexdigest() == media.sha256
        with Image.open(folder.directory / name) as image:
            image.load()
            assert (image.format, image.size) == ("PNG", (media.width, media.height))
        assert stat.S_IMODE((folder.directory / name).stat().st_mode) == 0o644


def test_the_markdown_refers_to_its_pictures_as_a_markdown_reader_shows_them(
    folder: OutboxFolder,
) -> None:
    folder.post(pictured(picture(0), picture(1, alt="E = mc²")))

    markdown = (folder.directory / f"{STEM}.md").read_text(encoding="utf-8")
    assert markdown.startswith(TEXT + "\n\n![")
    assert markdown.endswith(f"]({STEM}-1.png)\n\n![E = mc²]({STEM}-2.png)\n")
    shown = MarkdownIt("commonmark").render(markdown)
    assert f'<img src="{STEM}-1.png" alt="{html.escape(ONE_LINE)}" />' in shown, (
        "the alt text reads as written: no emphasis eaten, no backslash lost"
    )
    assert f'<img src="{STEM}-2.png" alt="E = mc²" />' in shown


def test_a_part_without_pictures_is_written_as_before(folder: OutboxFolder) -> None:
    folder.post(pictured())
    assert names(folder.directory) == [f"{STEM}.md"]
    assert (folder.directory / f"{STEM}.md").read_text(encoding="utf-8") == TEXT + "\n"


def test_a_second_attempt_writes_no_second_copy_of_a_picture(folder: OutboxFolder) -> None:
    post = pictured(picture(0))
    first = folder.post(post)
    written = {
        name: (folder.directory / name).stat().st_mtime_ns for name in names(folder.directory)
    }

    assert folder.find(post) == first
    assert folder.post(post) == first

    assert names(folder.directory) == sorted(written)
    assert {name: (folder.directory / name).stat().st_mtime_ns for name in written} == written


def test_a_crash_between_the_picture_and_the_markdown_is_finished_under_the_same_names(
    folder: OutboxFolder,
) -> None:
    """What a crash after the picture's rename leaves: the picture, no Markdown. The part
    is not found (its Markdown is what says it was written), and the next attempt keeps
    the picture and writes the Markdown."""
    post = pictured(picture(0))
    folder.directory.mkdir(parents=True)
    left = folder.directory / f"{STEM}-1.png"
    left.write_bytes(post.media[0].content)
    (folder.directory / f".{STEM}.md.x1y2.tmp").write_bytes(b"half a po")
    before = left.stat().st_mtime_ns

    assert folder.find(post) is None
    folder.post(post)

    assert [name for name in names(folder.directory) if not name.startswith(".")] == [
        f"{STEM}-1.png",
        f"{STEM}.md",
    ]
    assert left.stat().st_mtime_ns == before
    assert f"]({STEM}-1.png)" in (folder.directory / f"{STEM}.md").read_text(encoding="utf-8")


def test_someone_elses_file_under_a_pictures_name_is_refused_and_kept(
    folder: OutboxFolder,
) -> None:
    folder.directory.mkdir(parents=True)
    theirs = folder.directory / f"{STEM}-1.png"
    theirs.write_bytes(png(shade=200))

    with pytest.raises(Permanent, match="already holds a different picture"):
        folder.post(pictured(picture(0)))

    assert theirs.read_bytes() == png(shade=200)
    assert names(folder.directory) == [f"{STEM}-1.png"], "no Markdown without its picture"


PAGE = (
    "<html><body><ol>"
    "<li>one<!-- pictures: post 3 part 1 --></li>"
    "<li>two<!-- pictures: post 3 part 2 --></li>"
    "<li>three<!-- pictures: post 4 part 1 --></li>"
    "</ol><article><!-- pictures: post 3 --></article></body></html>"
)


def test_the_page_shows_each_parts_pictures_where_its_template_marks_them(
    folder: OutboxFolder,
) -> None:
    first, second = picture(0), picture(0, alt="E = mc²")
    folder.post(pictured(first, position=0))
    folder.post(pictured(second, text="Part two", position=1))
    folder.post(replace(pictured(), post=3, key="k9"))  # post 4: no picture

    folder.write_page(12, PAGE, BUILT_AT)

    page = (folder.directory / "20261206-041522-digest-000012.html").read_text(encoding="utf-8")
    one = (
        f'<figure class="picture"><img src="{STEM}-1.png" alt="{html.escape(ONE_LINE)}"'
        ' width="96" height="40"></figure>\n'
    )
    two = (
        '<figure class="picture"><img src="20261206-041522-digest-000012-post003-part002-1.png"'
        ' alt="E = mc²" width="96" height="40"></figure>\n'
    )
    assert f"<li>one{one}</li><li>two{two}</li><li>three</li>" in page
    assert f"<article>{one}{two}</article>" in page, "a post's mark shows all its parts'"
    assert "<!-- pictures" not in page


def test_the_page_shows_only_pictures_that_are_there(folder: OutboxFolder) -> None:
    folder.post(pictured(picture(0)))
    (folder.directory / f"{STEM}-1.png").unlink()
    folder.write_page(12, PAGE, BUILT_AT)
    page = (folder.directory / "20261206-041522-digest-000012.html").read_text(encoding="utf-8")
    assert "<img" not in page


# -- pictures through the delivery worker, and the page in a browser ----------------------------


def digest_with_pictures(
    db: Database, channel: ChannelSettings, parts: list[tuple[int, int, str, tuple[Media, ...]]]
) -> int:
    """A digest of one approved summary whose parts ``(post, position, text, pictures)`` are
    written as the builder writes them, pictures and all."""
    summary_id = approved(db, "Coupling layers keep the Jacobian triangular.")
    with db.transaction() as session:
        row = stored_row(session, channel, NOW)
        digest = digest_store.create_digest(session, row.id, [summary_id], approved=True, now=NOW)
        digest_store.add_parts(
            session,
            digest,
            [
                digest_store.NewPart(
                    post=post,
                    position=position,
                    text=text,
                    key=f"d{digest.id}-{post}-{position}",
                    summary_id=summary_id,
                    media=tuple(
                        digest_store.NewMedia(
                            content=media.content,
                            mime_type=media.mime_type,
                            sha256=media.sha256,
                            width=media.width,
                            height=media.height,
                            alt=media.alt,
                        )
                        for media in pictures
                    ),
                )
                for post, position, text, pictures in parts
            ],
            now=NOW,
        )
        return digest.id


def crash_after_writing(db: Database, part: int, clock: Clock) -> None:
    """What a crash after the part's files were written leaves: claimed, unrecorded."""
    with db.transaction() as session:
        row = session.scalars(select(Delivery).where(Delivery.part == part)).one()
        row.state, row.sent_at = DeliveryState.SENDING, None
        row.remote_id = row.remote_url = None
        row.lease_until = clock() - timedelta(seconds=1)


def state_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_worker_writes_a_parts_pictures_once_and_the_page_shows_them(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """A network channel without credentials (Discord here) writes to the folder: each
    part's pictures beside it, once even when a crash makes the worker try the part again,
    and the page of its posts shows them with their alt text."""
    channel = ChannelSettings(name="disc", kind="discord")
    card, other = picture(0), picture(0, alt="E = mc²", content=png(120, 30, 60))
    digest_id = digest_with_pictures(
        db,
        channel,
        [(0, 0, "**Real NVP**\nThe change of variables:", (card,)), (0, 1, "And more.", (other,))],
    )
    service = publisher(db, channel, clock, tmp_path)
    folder = tmp_path / "outbox" / "disc"
    stem = f"{BUILT}-digest-{digest_id:06d}-post001"
    assert service.deliver(limit=1).sent == 1
    written = state_of(folder)
    assert written == {
        f"{stem}-part001-1.png": card.content,
        f"{stem}-part001.md": written[f"{stem}-part001.md"],
    }
    assert hashlib.sha256(written[f"{stem}-part001-1.png"]).hexdigest() == card.sha256
    markdown = written[f"{stem}-part001.md"].decode("utf-8")
    assert markdown.endswith(f"]({stem}-part001-1.png)\n")
    picture_written = (folder / f"{stem}-part001-1.png").stat().st_mtime_ns

    crash_after_writing(db, 0, clock)
    assert service.deliver().sent == 2, "the first part found, the second sent"
    assert (folder / f"{stem}-part001-1.png").stat().st_mtime_ns == picture_written
    assert sorted(os.listdir(folder)) == [
        f"{stem}-part001-1.png",
        f"{stem}-part001.md",
        f"{stem}-part002-1.png",
        f"{stem}-part002.md",
        f"{BUILT}-digest-{digest_id:06d}.html",
    ], "no second copy of anything"
    assert (folder / f"{stem}-part002-1.png").read_bytes() == other.content
    assert f"\n\n![E = mc²]({stem}-part002-1.png)\n" in (folder / f"{stem}-part002.md").read_text(
        encoding="utf-8"
    )

    page = (folder / f"{BUILT}-digest-{digest_id:06d}.html").read_text(encoding="utf-8")
    assert (
        f'<img src="{stem}-part001-1.png" alt="{html.escape(ONE_LINE)}" width="96" height="40">'
        in page
    )
    assert f'<img src="{stem}-part002-1.png" alt="E = mc²" width="120" height="30">' in page
    assert page.index("Real NVP") < page.index(f"{stem}-part001-1.png") < page.index("And more")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_outbox_channels_page_shows_each_summarys_picture_in_chromium(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """The outbox channel's own page (the summaries as articles) in a real browser: the
    picture beside it loads and decodes, its alt text is there for a screen reader."""
    chromium = find_chromium()
    assert chromium is not None, "no Chromium on PATH (Debian: apt-get install chromium)"
    channel = ChannelSettings(name="outbox", kind="outbox", directory=tmp_path / "files")
    card = picture(0, content=png(480, 120, 30))
    digest_id = digest_with_pictures(db, channel, [(0, 0, "# Real NVP\n\nThe summary.", (card,))])
    service = publisher(db, channel, clock, tmp_path)
    assert service.deliver().sent == 1
    page = tmp_path / "files" / f"{BUILT}-digest-{digest_id:06d}.html"
    name = f"{BUILT}-digest-{digest_id:06d}-post001-part001-1.png"
    assert f'<img src="{name}" alt="{html.escape(ONE_LINE)}"' in page.read_text(encoding="utf-8")

    async with Chromium(chromium) as browser:
        await browser.open(page.as_uri())
        shown = await browser.evaluate(
            "Array.from(document.querySelectorAll('article img')).map(i => "
            "({src: i.getAttribute('src'), alt: i.alt, width: i.naturalWidth, "
            "height: i.naturalHeight, complete: i.complete}))"
        )
        shot = artifacts() / "outbox-page-with-equation-card.png"
        await browser.screenshot(shot)
    assert shown == [
        {"src": name, "alt": ONE_LINE, "width": 480, "height": 120, "complete": True}
    ], "the browser loaded and decoded the picture beside the page"
    assert shot.stat().st_size > 5_000


def artifacts() -> Path:
    folder = Path(os.environ.get("SHORTSCIENCE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
