"""This product's own export: every approved summary with its paper, as versioned JSON.

The format is documented in ``docs/export-format.md``. ``import`` reads it back to the
same summaries: paper, author, anonymity, score, dates and text. An anonymous summary is
written without its author (``"author": null``), as everyone but moderators sees it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.imports.entries import (
    IMPORT_KEY_MAX,
    PAPER_KEY_MAX,
    Entry,
    Malformed,
    Problem,
    anonymous_author,
    checked_text,
    named_author,
)
from storage.models import Summary, SummaryStatus
from storage.papers import PaperData

FORMAT = "shortscience-bot/summaries"
VERSION = 1
KEY_PREFIX = "shortscience-bot"


class UnsupportedDocument(Exception):
    """The JSON is not this format, or a version this program cannot read."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PaperV1(_Strict):
    key: str = Field(min_length=1, max_length=PAPER_KEY_MAX)
    title: str = Field(min_length=1)
    arxiv_id: str | None = None
    arxiv_version: int | None = Field(default=None, ge=1)
    abstract: str = ""
    authors: list[str] = []
    categories: list[str] = []
    primary_category: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    venue: str | None = None
    year: int | None = None
    url: str | None = None
    published_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    fetched_at: AwareDatetime | None = None


class AuthorV1(_Strict):
    platform: str = Field(min_length=1, max_length=20)
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)


class SummaryV1(_Strict):
    key: str = Field(min_length=1, max_length=IMPORT_KEY_MAX)
    paper: PaperV1
    author: AuthorV1 | None
    anonymous: bool = False
    score: int = 0
    tldr: str = Field(min_length=1)
    body: str = Field(min_length=1)
    status: SummaryStatus = SummaryStatus.APPROVED
    created_at: AwareDatetime
    updated_at: AwareDatetime
    approved_at: AwareDatetime | None = None


def looks_like_json(text: str) -> bool:
    """Whether a file reads as our JSON export (a BOM and white space allowed first)."""
    return text.lstrip("\ufeff \t\r\n").startswith("{")


def summary_key(summary: Summary) -> str:
    """The summary's identity across databases: its import key, else one made from the
    author, the paper and the time it was written (stable, export after export)."""
    if summary.import_key:
        return summary.import_key
    identity = "\n".join(
        (
            summary.author.platform,
            summary.author.external_id,
            summary.paper.key,
            summary.created_at.isoformat(),
        )
    )
    return f"{KEY_PREFIX}:{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_json(summary: Summary, score: int) -> dict[str, Any]:
    """One summary as the export format writes it (docs/export-format.md)."""
    paper = summary.paper
    author = summary.author
    return {
        "key": summary_key(summary),
        "paper": {
            "key": paper.key,
            "arxiv_id": paper.arxiv_id,
            "arxiv_version": paper.arxiv_version,
            "title": paper.title,
            "abstract": paper.abstract,
            "authors": paper.author_names,
            "categories": paper.category_names,
            "primary_category": paper.primary_category,
            "doi": paper.doi,
            "journal_ref": paper.journal_ref,
            "comment": paper.comment,
            "venue": paper.venue,
            "year": paper.year,
            "url": paper.url,
            "published_at": _when(paper.published_at),
            "updated_at": _when(paper.updated_at),
            "fetched_at": _when(paper.fetched_at),
        },
        "author": None
        if summary.anonymous
        else {"platform": author.platform, "id": author.external_id, "name": author.display_name},
        "anonymous": summary.anonymous,
        "score": score,
        "tldr": summary.tldr,
        "body": summary.body,
        "status": summary.status.value,
        "created_at": _when(summary.created_at),
        "updated_at": _when(summary.updated_at),
        "approved_at": _when(summary.approved_at),
    }


def document(rows: list[tuple[Summary, int]], exported_at: datetime) -> dict[str, Any]:
    """The whole export: format, version, time and the summaries."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at.isoformat(),
        "summaries": [summary_json(summary, score) for summary, score in rows],
    }


def _problem_text(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def check_every_text(model: BaseModel, prefix: str = "") -> None:
    """Every text of an item, the paper's included, under the rules of typed text.

    A NUL or an escape character in a paper's venue would otherwise be stored by SQLite
    and refused by PostgreSQL; checked here, each database gets the same message, naming
    the field (``paper.authors[2]``).
    """
    for name, value in model:
        field = f"{prefix}{name}"
        if isinstance(value, str):
            checked_text(value, field)
        elif isinstance(value, BaseModel):
            check_every_text(value, f"{field}.")
        elif isinstance(value, list):
            for number, element in enumerate(value, start=1):
                if isinstance(element, str):
                    checked_text(element, f"{field}[{number}]")


def parse_summary(data: object, where: str) -> Entry:
    """One item of an export as an entry; Malformed names the field that is wrong."""
    try:
        item = SummaryV1.model_validate(data)
    except ValidationError as error:
        raise Malformed(_problem_text(error)) from None
    check_every_text(item)
    paper = item.paper
    if item.status not in (SummaryStatus.APPROVED, SummaryStatus.PENDING):
        raise Malformed(f"status {item.status.value!r}: only approved or pending are imported")
    if paper.arxiv_id is not None and paper.key != f"arxiv:{paper.arxiv_id}":
        raise Malformed(f"paper.key of arXiv paper {paper.arxiv_id} must be arxiv:{paper.arxiv_id}")
    body = checked_text(item.body, "body")
    if not body:
        raise Malformed("body is empty")
    if item.anonymous or item.author is None:
        author = anonymous_author(item.key)
    else:
        author = named_author(item.author.id, item.author.platform)
        author = type(author)(author.platform, author.external_id, item.author.name)
    return Entry(
        where=where,
        import_key=item.key,
        paper=PaperData(
            key=checked_text(paper.key, "paper key"),
            title=checked_text(paper.title, "title"),
            abstract=paper.abstract,
            authors=list(paper.authors),
            categories=list(paper.categories),
            arxiv_id=paper.arxiv_id,
            arxiv_version=paper.arxiv_version,
            primary_category=paper.primary_category,
            doi=paper.doi,
            journal_ref=paper.journal_ref,
            comment=paper.comment,
            venue=paper.venue,
            year=paper.year,
            url=paper.url,
            published_at=paper.published_at,
            updated_at=paper.updated_at,
        ),
        author=author,
        anonymous=item.anonymous or item.author is None,
        body=body,
        votes=item.score,
        tldr=checked_text(" ".join(item.tldr.split()), "tldr"),
        status=item.status,
        created_at=item.created_at,
        updated_at=item.updated_at,
        approved_at=item.approved_at,
        fetch_paper=False,
        paper_fetched_at=paper.fetched_at,
    )


def parse(data: object) -> list[Entry | Problem]:
    """The summaries of a parsed JSON document, in order ("summary 3" is the third)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UnsupportedDocument(f'not a {FORMAT} document (its "format" field differs)')
    version = data.get("version")
    if version != VERSION:
        raise UnsupportedDocument(
            f"{FORMAT} version {version!r} is not one this program reads (it reads {VERSION})"
        )
    summaries = data.get("summaries")
    if not isinstance(summaries, list):
        raise UnsupportedDocument('"summaries" is not a list')
    results: list[Entry | Problem] = []
    for number, raw in enumerate(summaries, start=1):
        where = f"summary {number}"
        try:
            results.append(parse_summary(raw, where))
        except Malformed as error:
            results.append(Problem(where, str(error)))
    return results
