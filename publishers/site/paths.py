"""Where each page of the archive lives: the one scheme the builder writes and digests link to.

A paper's page is named after its arXiv id (``1606.04474.html``; an old-style id's slash
becomes ``_``: ``hep-th_9901001.html``); a paper without an arXiv id gets a slug of its key and
a short hash of it, so two keys never share a page (``doi-10.1145-3292500-1a2b3c4d.html``).
It sits in one of 256 folders under ``papers/``, named by the first two hex digits of the
SHA-256 of that name (``papers/3c/1606.04474.html``): a million papers in one folder would
make every page slow to create (creating files in a folder of 485,000 measured 5,000 to
10,000 files/s, against 12,000 to 16,000 spread over 256), and the search index is cut along
these folders (``publishers.site.search_index``). Index pages follow the same rule for
venues and categories, with two more cases slugged: a name that would be the list page of
its folder (a venue called ``index`` must not overwrite ``venues/index.html``; ``Index``
neither, on a case-insensitive disk), a name shaped like a slug itself (``a-1a2b3c4d``,
which could be the slug of another name), and a name ending in ``.html`` (see below).

A year's, venue's or category's list is cut into pages (see ``publishers.site.builder``): the
first is the group's own page (``years/2016.html``), the older ones sit in a folder named
after it, numbered from the oldest (``years/2016/page-1.html``, ``venues/ICLR/page-3.html``).
No group's first page can be there, as a group's page has no slash in its name; and the
folder ``venues/ICLR.html/`` of a venue called ``ICLR.html`` cannot meet the page
``venues/ICLR.html`` of ``ICLR``, because a name ending in ``.html`` is slugged.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol


class Identified(Protocol):
    """What names a paper's page: a stored paper or a record of one."""

    @property
    def key(self) -> str:
        """The paper's key (``arxiv:1606.04474``)."""

    @property
    def arxiv_id(self) -> str | None:
        """Its arXiv id, if it has one."""


_ARXIV_ID = re.compile(r"\d{4}\.\d{4,5}|[A-Za-z][A-Za-z.-]*/\d{7}")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,79}")
_UNSAFE = re.compile(r"[^a-z0-9.]+")
_SLUG_SHAPED = re.compile(r"(?:.*-)?[0-9a-f]{8}")
LIST_PAGE = "index"
"""Each folder's list page (``venues/index.html``): no group's page may take its name."""


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def slug(text: str) -> str:
    """A file-name-safe name: ``text`` itself when it is safe, else a slug plus a hash."""
    if (
        _SAFE.fullmatch(text)
        and not text.endswith(".")
        and text.casefold() != LIST_PAGE
        and not _SLUG_SHAPED.fullmatch(text)
        and not text.casefold().endswith(".html")
    ):
        return text
    cut = _UNSAFE.sub("-", text.lower()).strip("-.")[:60].strip("-.")
    return f"{cut}-{_hash(text)}" if cut else _hash(text)


PAPER_FOLDER = "papers"
"""The folder of the paper pages, each in one of its 256 subfolders (:func:`paper_folder`)."""


def paper_folder(name: str) -> str:
    """The subfolder of ``papers/`` that holds the page named ``name`` (``1606.04474``):
    two hex digits, spread evenly whatever the names."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:2]


def paper_page(paper: Identified) -> str:
    """The paper's page, relative to the site's root."""
    arxiv_id = paper.arxiv_id
    if arxiv_id and _ARXIV_ID.fullmatch(arxiv_id):
        name = arxiv_id.replace("/", "_")
    else:
        cut = _UNSAFE.sub("-", paper.key.lower()).strip("-.")[:60].strip("-.")
        name = f"{cut}-{_hash(paper.key)}" if cut else _hash(paper.key)
    return f"{PAPER_FOLDER}/{paper_folder(name)}/{name}.html"


def summary_anchor(summary_id: int) -> str:
    """The fragment a summary has on its paper's page; digests link to it."""
    return f"summary-{summary_id}"


def summary_url(site_url: str, paper: Identified, summary_id: int) -> str:
    """The absolute address of a summary on the published site."""
    return f"{site_url.rstrip('/')}/{paper_page(paper)}#{summary_anchor(summary_id)}"


def year_page(year: int | None) -> str:
    """The page of a year's papers ("unknown" when the paper has none)."""
    return f"years/{year if year is not None else 'unknown'}.html"


def venue_page(venue: str) -> str:
    """The page of a venue's papers, under a name that never clashes with a list."""
    return f"venues/{slug(venue)}.html"


def category_page(category: str) -> str:
    """The page of a category's papers, under a name that never clashes with a list."""
    return f"categories/{slug(category)}.html"


def older_page(first: str, part: int) -> str:
    """Older page ``part`` (from 1, the oldest) of the list whose first page is ``first``
    (``years/2016.html``): ``years/2016/page-1.html``. A long list keeps the address of its
    first page, never takes another group's, and its older pages keep theirs as papers are
    added at the top."""
    if part < 1:
        raise ValueError("older pages are numbered from 1")
    return f"{first.removesuffix('.html')}/page-{part}.html"
