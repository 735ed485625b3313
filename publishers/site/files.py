"""The archive's files: each written whole or not at all, and what a build left behind.

A page is written to a hidden file beside its place, then renamed over it: a rename within
one folder is atomic, so a web server serving the folder, or a reader in a loop, sees the
old page or the new one, never part of one. A process killed between the two steps leaves
a hidden ``.*.tmp`` file, which the next full build removes with the folder it was in.

A full build instead writes its folders anew into a hidden staging folder, with plain
writes (:meth:`PageFiles.create`), and swaps each one in whole when it is done
(:func:`swap_in`): nothing is left of the old pages, and nothing half-built is seen.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GENERATED = ("papers", "years", "venues", "categories")
"""The folders every full build makes anew and swaps in; anything else in the site folder
(the search index, the link previews' pictures, what an operator put there) is left
alone."""
_TEMPORARY = ".tmp"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class PageFiles:
    """Writes and removes the files of one site folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, page: str, text: str) -> int:
        """Replace ``page`` with ``text`` atomically; returns the bytes written."""
        data = text.encode("utf-8")
        target = self.directory / page
        temporary = target.with_name(f".{target.name}.{os.getpid()}{_TEMPORARY}")
        try:
            handle = open(temporary, "wb")  # noqa: SIM115 - closed below, before the rename
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = open(temporary, "wb")  # noqa: SIM115
        try:
            with handle:
                handle.write(data)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return len(data)

    def update(self, page: str, text: str) -> bool:
        """Write ``page`` only if its text changed; True if it was written."""
        target = self.directory / page
        try:
            if target.read_bytes() == text.encode("utf-8"):
                return False
        except FileNotFoundError:
            pass
        self.write(page, text)
        return True

    def remove(self, page: str) -> bool:
        """Delete ``page`` (and its folder, once empty); True if there was one."""
        target = self.directory / page
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        parent = target.parent
        while parent != self.directory and parent.name not in GENERATED:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True

    def create(self, page: str, text: str) -> int:
        """Write a page that is new in a folder no reader sees yet (a full build's
        staging folder): one plain write, no rename, which is several times faster on
        ext4 than writing beside and renaming. Returns the bytes written."""
        data = text.encode("utf-8")
        target = os.path.join(self.directory, page)
        try:
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(handle, data)
        finally:
            os.close(handle)
        return len(data)


def swap_in(new: Path, current: Path) -> Path | None:
    """Put the folder ``new`` at ``current`` so that a reader finds the old folder or the
    new one, whole; returns where the old one now is (to delete), or None.

    On Linux both trade places in one step (``renameat2``'s exchange). Elsewhere, or on a
    disk that cannot, the old folder is renamed away and the new one renamed in: for the
    instant between the two renames the folder is missing (a request then fails once),
    but never there in part."""
    if not current.exists():
        new.rename(current)
        return None
    if exchange(new, current):
        return new
    old = new.with_name(new.name + "-old")
    current.rename(old)
    new.rename(current)
    return old


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step; False where the system or the disk cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc before 2.28, or a libc without it
        return False
    path = ctypes.c_char_p
    renameat2.argtypes = (ctypes.c_int, path, ctypes.c_int, path, ctypes.c_uint)
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a disk that cannot swap
        return False
    raise OSError(code, os.strerror(code), str(second))


REMOVERS = 16
"""Threads that remove a retired generation of pages side by side (:func:`remove_tree`)."""


def remove_tree(path: Path, *, threads: int = 1) -> None:
    """Delete a folder and all it holds, or a file (a retired or leftover one).

    With ``threads`` above 1, the folders two levels down (``papers/7c``, ``years/2016``)
    are removed that many at a time before the rest. Deleting a file is mostly waiting: on
    a disk mounted with ``discard`` and no journal, as the target's is, ext4 sends each
    freed file's blocks to the disk to be discarded and waits for the answer before the
    unlink returns. One thread removed a full build's 524,258 pages in 79 s; removals side
    by side wait at the same time (the wait releases the GIL)."""
    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    if threads > 1:
        folders = list(_folders_within(path, depth=2))
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(functools.partial(shutil.rmtree, ignore_errors=True), folders):
                pass
    shutil.rmtree(path, ignore_errors=True)


def _folders_within(path: Path, *, depth: int) -> list[str]:
    """The folders ``depth`` levels below ``path`` (symbolic links not followed)."""
    found = [str(path)]
    for _ in range(depth):
        below = []
        for folder in found:
            try:
                with os.scandir(folder) as entries:
                    below += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
            except OSError:  # gone or unreadable: rmtree says nothing about it either
                continue
        found = below
    return found
