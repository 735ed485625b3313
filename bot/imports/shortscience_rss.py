"""ShortScience.org's RSS export (``rss-full.xml``): one summary per ``<item>``.

Per item: ``shortscience:arxivid`` (arXiv papers only), ``shortscience:bibtexkey`` (the
site's paper key), ``shortscience:votes``, ``title`` (the paper's), ``author``
(``Anonymous`` for anonymous summaries), ``description`` (the text), ``guid`` and
``pubDate`` (RFC 822, the last edit). The ``shortscience`` namespace's URI is the site's
base URL, so elements are matched by their local name. The file is parsed with
defusedxml: entity expansion and external entities are refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # types and ParseError; parsing goes through defusedxml
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.imports.entries import (
    Entry,
    Malformed,
    Problem,
    anonymous_author,
    checked_text,
    import_key,
    named_author,
    paper_key,
)
from bot.papers.arxiv_ids import InvalidArxivId, parse_arxiv_id
from storage.models import ANONYMOUS
from storage.papers import PaperData

SOURCE = "shortscience.org"
ARXIV_KEY_PREFIX = "journals/corr/"
"""The site's key for an arXiv paper is ``journals/corr/<arXiv id>``."""


class UnreadableFile(Exception):
    """The file as a whole is not RSS (not XML, or no channel of items)."""


def looks_like_rss(text: str) -> bool:
    """Whether a file reads as XML (the RSS export)."""
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def _children(item: ET.Element) -> dict[str, ET.Element]:
    """An item's child elements by local name (the first of each)."""
    found: dict[str, ET.Element] = {}
    for child in item:
        if isinstance(child.tag, str):
            found.setdefault(child.tag.rpartition("}")[2].lower(), child)
    return found


def _text(fields: dict[str, ET.Element], name: str) -> str:
    element = fields.get(name)
    return (element.text or "").strip() if element is not None else ""


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise Malformed(f"pubDate “{text[:40]}” is not an RFC 822 date") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_item(item: ET.Element, where: str) -> Entry:
    """One RSS item of ShortScience.org as an entry."""
    fields = _children(item)
    key = paper_key(_text(fields, "bibtexkey"))
    arxiv_text = _text(fields, "arxivid")
    if not arxiv_text and key.startswith(ARXIV_KEY_PREFIX):
        arxiv_text = key.removeprefix(ARXIV_KEY_PREFIX)
    arxiv_id = None
    if arxiv_text:
        try:
            arxiv_id = parse_arxiv_id(arxiv_text).base
        except InvalidArxivId:
            if _text(fields, "arxivid"):
                raise Malformed(f"“{arxiv_text[:40]}” is not an arXiv id") from None
    votes_text = _text(fields, "votes") or "0"
    try:
        votes = int(votes_text)
    except ValueError:
        raise Malformed(f"votes “{votes_text[:20]}” is not a whole number") from None
    body = checked_text(_text(fields, "description"), "description")
    if not body:
        raise Malformed("the description (the summary's text) is empty")
    author_name = _text(fields, "author")
    if not author_name:
        raise Malformed("the author is missing")
    for name in ("guid", "link"):  # the summary's identity: checked, kept as written
        checked_text(_text(fields, name), name)
    identity = _text(fields, "guid") or _text(fields, "link") or f"{key}#{author_name}"
    summary_key = import_key(SOURCE, identity)
    anonymous = author_name == ANONYMOUS
    author = anonymous_author(summary_key) if anonymous else named_author(author_name)
    when = _date(_text(fields, "pubdate"))
    title = checked_text(" ".join(_text(fields, "title").split()), "title")
    if arxiv_id is not None:
        paper = PaperData(
            key=f"arxiv:{arxiv_id}",
            arxiv_id=arxiv_id,
            title=title or f"arXiv:{arxiv_id}",
            url=f"https://arxiv.org/abs/{arxiv_id}",
        )
    else:
        paper = PaperData(key=key, title=title or key)
    return Entry(
        where=where,
        import_key=summary_key,
        paper=paper,
        author=author,
        anonymous=anonymous,
        body=body,
        votes=votes,
        created_at=when,
        updated_at=when,
        approved_at=when,
        fetch_paper=arxiv_id is not None,
    )


def parse(text: str) -> list[Entry | Problem]:
    """Every item of the feed, in order: an entry, or the problem that skips it."""
    try:
        root = fromstring(text.encode("utf-8"))
    except ET.ParseError as error:
        line, column = error.position
        raise UnreadableFile(f"not well-formed XML at line {line}, column {column + 1}") from None
    except DefusedXmlException as error:
        raise UnreadableFile(f"refused: {error}") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise UnreadableFile("not an RSS feed (no <rss><channel>)")
    results: list[Entry | Problem] = []
    for number, item in enumerate(channel.iter("item"), start=1):
        where = f"item {number}"
        try:
            results.append(parse_item(item, where))
        except Malformed as error:
            results.append(Problem(where, str(error)))
    return results
