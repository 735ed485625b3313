"""The outbox folder: posts written as Markdown files, for a person to copy by hand.

It is the default when a channel has no credentials, and it behaves like a network: one
file per post part, named by the key the worker chose before sending (``d12-p03.md``).
Files are written whole or not at all (a temporary file in the same folder, then
``os.replace``), so a crash never leaves half a post, and a second attempt with the same
key finds the file instead of making another.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
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
        """A file name stem a person can read: the digest, then post and part numbers."""
        return f"{hint}-post{post + 1:02d}-part{position + 1:02d}"

    def __init__(self, directory: Path, *, channel: str) -> None:
        self.directory = Path(directory)
        self.channel = channel

    def __repr__(self) -> str:
        return f"OutboxFolder({str(self.directory)!r}, channel={self.channel!r})"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Write ``{key}.md``; a part of a thread starts with a line naming the part before.

        The same post again returns the file already there. A file under this key with
        other content is refused (Permanent): someone else's file is never overwritten.
        """
        path = self._path(post.key, ".md")
        content = _content(post)
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
        path = self._path(post.key, ".md")
        return _posted(path) if self._read(path) is not None else None

    def close(self) -> None:
        """Nothing is held open between writes."""

    # -- pages ---------------------------------------------------------------------------

    def write_page(self, name: str, html: str) -> None:
        """Write (or replace) the page ``{name}.html`` atomically."""
        path = self._path(name, ".html")
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


def _content(post: OutgoingPost) -> bytes:
    """The text, ending in a newline; a later part first names the part it follows."""
    text = post.text if post.text.endswith("\n") else post.text + "\n"
    if post.reply_to is not None:
        text = REPLY_LINE.format(remote_id=post.reply_to.remote_id) + "\n\n" + text
    return _encoded(text, f"{post.key}.md")


def _encoded(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate
        raise Permanent(f"{name}: the text is not valid Unicode ({error.reason})") from error


def _posted(path: Path) -> Posted:
    return Posted(remote_id=path.name, url=path.absolute().as_uri())
