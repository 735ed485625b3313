"""The outbox folder: posts written as Markdown files, for a person to copy by hand.

It is the default when a channel has no credentials, and it behaves like a network: one
file per post part, named so that ``ls`` lists them in posting order: the digest, the
post and the part, zero-padded (``digest-000012-post003-part001.md``), then the digest's
page (``digest-000012.html``). The name comes from where the part stands in its digest,
not from its key, which keeps the form its network takes (a Bluesky TID, a random
``Idempotency-Key``) should the digest be sent there later; a post handed over without a
place (none the worker sends) is named by its key. Six digits of digest and three of post
and part outlast any digest this project builds (at most 50 summaries, and even a
100,000-character summary is well under 1,000 parts on X); past them names stay unique,
only their order in ``ls`` slips.

A part's pictures (equation cards) are files beside it, named after it and numbered
(``...-part001-1.png``), and its Markdown ends with a reference to each
(``![alt](...-part001-1.png)``), so a Markdown viewer shows them. The digest's page shows
them too, with their alt text: its template marks where a post's pictures go
(``<!-- pictures: post 3 part 1 -->``, or ``post 3`` for all its parts) and
:meth:`OutboxFolder.write_page` puts each picture its Markdown refers to there, by file
name, so the page finds them beside it.

Files are written whole or not at all (a temporary file in the same folder, then
``os.replace``), so a crash never leaves half a post, and a second attempt at the same
part finds the file instead of making another. A part's pictures are written before its
Markdown: a part found written has its pictures, and a second attempt after a crash
between the two finds the pictures already there, under the same names.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from publishers.networks.base import Media, Network, OutgoingPost, Permanent, Posted

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")
"""A key or page name: URI-unreserved characters, starting with a letter or digit. So no
``/``, no ``..`` at the start, no hidden files, and nothing a shell or a URL must quote."""
REPLY_LINE = "In reply to: {remote_id}"
FILE_MODE = 0o644
"""Readable by the person who copies the posts, not only by the bot's user."""
PICTURES_MARK = re.compile(r"<!-- pictures: post (?P<post>\d+)(?: part (?P<part>\d+))? -->")
"""Where a page's template wants a post's pictures (or one part's)."""
PICTURE_LINE = re.compile(
    r"^!\[(?P<alt>(?:\\[!-/:-@\[-`{-~]|[^\\\]\n])*)\]\((?P<file>[A-Za-z0-9][A-Za-z0-9._~-]*)\)$",
    re.MULTILINE,
)
"""A picture's line in a part's Markdown, as :func:`_picture_line` writes it."""
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&!])")
"""What a Markdown reader could take for markup in alt text: escaped with a backslash."""


class OutboxFolder(Network):
    """Writes one channel's posts into ``directory`` (created on the first write)."""

    kind = "outbox"
    keeps_pages = True

    @staticmethod
    def new_key(hint: str, post: int, position: int) -> str:
        """A key a person can read in the database: the digest, then post and part numbers.
        (Files are named by :func:`file_stem`, which sorts; keys only need to be unique.)"""
        return f"{hint}-post{post + 1:02d}-part{position + 1:02d}"

    def __init__(self, directory: Path, *, channel: str) -> None:
        self.directory = Path(directory)
        self.channel = channel

    def __repr__(self) -> str:
        return f"OutboxFolder({str(self.directory)!r}, channel={self.channel!r})"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Write the part's file, its pictures first, beside it; a part of a thread starts
        with a line naming the part before, and the Markdown ends with its pictures.

        The same post again returns the file already there. A file under this key with
        other content is refused (Permanent): someone else's file is never overwritten.
        """
        stem = file_stem(post)
        path = self._path(stem, ".md")
        pictures = [(self._path(picture_name(stem, media), ""), media) for media in post.media]
        content = _content(post, path.name, [(where.name, media.alt) for where, media in pictures])
        existing = self._read(path)
        if existing is None:
            for where, media in pictures:
                self._write_once(where, media.content)
            self._write(path, content)
        elif existing != content:
            raise Permanent(
                f"outbox folder {self.directory}: {path.name} already holds a different "
                "text; move it away or give the post another key"
            )
        return _posted(path)

    def find(self, post: OutgoingPost) -> Posted | None:
        """The file if an earlier attempt wrote it. Writes are atomic: if it is there, it
        is whole."""
        path = self._path(file_stem(post), ".md")
        return _posted(path) if self._read(path) is not None else None

    def close(self) -> None:
        """Nothing is held open between writes."""

    # -- pages ---------------------------------------------------------------------------

    def write_page(self, digest_id: int, html: str, built_at: datetime | None = None) -> None:
        """Write (or replace) the digest's page atomically; it sorts after the digest's posts.
        Each pictures mark in it becomes the pictures of that post (or part), by file name."""
        stem = page_stem(digest_id, built_at)
        path = self._path(stem, ".html")
        shown = PICTURES_MARK.sub(lambda mark: self._pictures_html(stem, mark), html)
        self._write(path, _encoded(shown, path.name))

    def _pictures_html(self, stem: str, mark: re.Match[str]) -> str:
        """The ``<img>`` of every picture the marked post's (or part's) Markdown refers to."""
        post = int(mark["post"])
        part = f"{int(mark['part']):03d}" if mark["part"] else "[0-9][0-9][0-9]*"
        shown = []
        for markdown in sorted(self.directory.glob(f"{stem}-post{post:03d}-part{part}.md")):
            text = (self._read(markdown) or b"").decode("utf-8", "replace")
            for line in PICTURE_LINE.finditer(text):
                name = line["file"]
                if not name.startswith(f"{markdown.stem}-") or not NAME.fullmatch(name):
                    continue  # not one of this part's pictures
                picture = self._read(self.directory / name)
                if picture is not None:
                    shown.append(_img(name, _unescaped(line["alt"]), picture))
        return "".join(f'<figure class="picture">{img}</figure>\n' for img in shown)

    # -- files ---------------------------------------------------------------------------

    def _path(self, name: str, suffix: str) -> Path:
        if not NAME.fullmatch(name) or ".." in name:
            raise Permanent(
                f"outbox folder {self.directory}: {name!r} cannot be a file name (letters, "
                "digits, '.', '_', '~' and '-' only, starting with a letter or digit)"
            )
        return self.directory / f"{name}{suffix}"

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise self._failed("cannot be read", error) from error

    def _write_once(self, path: Path, content: bytes) -> None:
        """Write ``path`` unless it already holds exactly ``content`` (an earlier attempt
        wrote it); other content there is someone else's file, never overwritten."""
        existing = self._read(path)
        if existing is None:
            self._write(path, content)
        elif existing != content:
            raise Permanent(
                f"outbox folder {self.directory}: {path.name} already holds a different "
                "picture; move it away or give the post another key"
            )

    def _write(self, path: Path, content: bytes) -> None:
        """Write to a temporary file beside ``path``, flush it to disk, then rename it over.

        The temporary name starts with a dot, which no key may, so a leftover from a crash
        is never taken for a post.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._failed("cannot be created", error) from error
        temporary: str | None = None
        try:
            handle, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{path.name}.", suffix=".tmp"
            )
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, path)
            temporary = None
        except OSError as error:
            raise self._failed("cannot be written", error) from error
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        self._sync_directory()

    def _sync_directory(self) -> None:
        """Make the rename itself durable; best effort, as not every file system can."""
        with contextlib.suppress(OSError):
            descriptor = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def _failed(self, what: str, error: OSError) -> Permanent:
        reason = error.strerror or type(error).__name__
        return Permanent(f"outbox folder {self.directory} {what}: {reason}")


def page_stem(digest_id: int, built_at: datetime | None = None) -> str:
    """The digest's page name without ``.html``: after its posts in ``ls`` ('-' < '.'),
    led by when the digest was built, so digests sort in time and a database started
    afresh (numbering from 1 again) never finds the old files under its names."""
    number = f"digest-{digest_id:06d}"
    return f"{built_at.astimezone(UTC):%Y%m%d-%H%M%S}-{number}" if built_at else number


def file_stem(post: OutgoingPost) -> str:
    """The part's file name without ``.md``: its digest, post and part, zero-padded so
    that names sort in posting order; its key when it comes without a place."""
    if post.digest_id is None or post.post is None or post.position is None:
        return post.key
    stem = page_stem(post.digest_id, post.built_at)
    return f"{stem}-post{post.post + 1:03d}-part{post.position + 1:03d}"


def picture_name(stem: str, media: Media) -> str:
    """A picture's file name: its part's, then its 1-based number (``...-part001-1.png``)."""
    return f"{stem}-{media.position + 1}.{media.extension}"


def _content(post: OutgoingPost, name: str, pictures: list[tuple[str, str]]) -> bytes:
    """The text, ending in a newline; a later part first names the part it follows; then
    a line for each picture ``(file name, alt text)``, a paragraph of its own."""
    text = post.text if post.text.endswith("\n") else post.text + "\n"
    if post.reply_to is not None:
        text = REPLY_LINE.format(remote_id=post.reply_to.remote_id) + "\n\n" + text
    text += "".join(f"\n{_picture_line(file, alt)}\n" for file, alt in pictures)
    return _encoded(text, name)


def _picture_line(file: str, alt: str) -> str:
    """``![alt](file)``, the alt text on one line with its markup characters escaped, so a
    Markdown reader shows it as written (LaTeX's ``\\``, ``_`` and ``*`` included)."""
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(alt.split()))
    return f"![{escaped}]({file})"


def _unescaped(alt: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", alt)


def _img(name: str, alt: str, picture: bytes) -> str:
    """The picture as an ``<img>``, its size given where it is a PNG (no jump on load)."""
    import html  # start-up: its entity table (~0.35 MB) only for a page with pictures

    size = ""
    if picture[:8] == b"\x89PNG\r\n\x1a\n" and picture[12:16] == b"IHDR":
        width, height = struct.unpack(">II", picture[16:24])
        size = f' width="{width}" height="{height}"'
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}"{size}>'


def _encoded(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate
        raise Permanent(f"{name}: the text is not valid Unicode ({error.reason})") from error


def _posted(path: Path) -> Posted:
    return Posted(remote_id=path.name, url=path.absolute().as_uri())
