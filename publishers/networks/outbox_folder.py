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

Files are written whole or not at all (a temporary file in the same folder, then
``os.replace``), so a crash never leaves half a post, and a second attempt at the same
part finds the file instead of making another.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from publishers.networks.base import Network, OutgoingPost, Permanent, Posted

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")
"""A key or page name: URI-unreserved characters, starting with a letter or digit. So no
``/``, no ``..`` at the start, no hidden files, and nothing a shell or a URL must quote."""
REPLY_LINE = "In reply to: {remote_id}"
FILE_MODE = 0o644
"""Readable by the person who copies the posts, not only by the bot's user."""


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
        """Write the part's file; a part of a thread starts with a line naming the part before.

        The same post again returns the file already there. A file under this key with
        other content is refused (Permanent): someone else's file is never overwritten.
        """
        path = self._path(file_stem(post), ".md")
        content = _content(post, path.name)
        existing = self._read(path)
        if existing is None:
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
        """Write (or replace) the digest's page atomically; it sorts after the digest's posts."""
        path = self._path(page_stem(digest_id, built_at), ".html")
        self._write(path, _encoded(html, path.name))

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


def _content(post: OutgoingPost, name: str) -> bytes:
    """The text, ending in a newline; a later part first names the part it follows."""
    text = post.text if post.text.endswith("\n") else post.text + "\n"
    if post.reply_to is not None:
        text = REPLY_LINE.format(remote_id=post.reply_to.remote_id) + "\n\n" + text
    return _encoded(text, name)


def _encoded(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate
        raise Permanent(f"{name}: the text is not valid Unicode ({error.reason})") from error


def _posted(path: Path) -> Posted:
    return Posted(remote_id=path.name, url=path.absolute().as_uri())
