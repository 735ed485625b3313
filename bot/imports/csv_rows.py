"""ShortScience.org's CSV export: two columns, the paper key and the summary text, no header.

The file names no author, votes or dates: each row is imported as an anonymous summary
dated at import time. A key ``journals/corr/<arXiv id>`` (the site's key for arXiv
papers) or a bare arXiv id makes an arXiv paper; any other key is kept as the paper's key.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator

from bot.imports.entries import Entry, Malformed, Problem, anonymous_author, checked_text, paper_key
from bot.imports.shortscience_rss import ARXIV_KEY_PREFIX, SOURCE
from bot.papers.arxiv_ids import InvalidArxivId, parse_arxiv_id
from storage.papers import PaperData

CSV_SOURCE = f"{SOURCE}-csv"


def _arxiv_id(key: str) -> str | None:
    try:
        return parse_arxiv_id(key.removeprefix(ARXIV_KEY_PREFIX)).base
    except InvalidArxivId:
        return None


def parse_row(row: list[str], where: str) -> Entry:
    """One row of ShortScience.org's CSV export (paper key, text) as an entry."""
    if len(row) != 2:
        raise Malformed(f"expected 2 columns (paper key, text), found {len(row)}")
    key = paper_key(row[0])
    body = checked_text(row[1], "text")
    if not body:
        raise Malformed("the summary text is empty")
    digest = hashlib.sha256(f"{key}\n{body}".encode()).hexdigest()[:40]
    summary_key = f"{CSV_SOURCE}:{digest}"
    arxiv_id = _arxiv_id(key)
    if arxiv_id is not None:
        paper = PaperData(
            key=f"arxiv:{arxiv_id}",
            arxiv_id=arxiv_id,
            title=f"arXiv:{arxiv_id}",
            url=f"https://arxiv.org/abs/{arxiv_id}",
        )
    else:
        paper = PaperData(key=key, title=key)
    return Entry(
        where=where,
        import_key=summary_key,
        paper=paper,
        author=anonymous_author(summary_key),
        anonymous=True,
        body=body,
        fetch_paper=arxiv_id is not None,
    )


class NotCsv(Exception):
    """The file as a whole is not ShortScience.org's CSV export (binary, or no row of it has
    the two columns), so nothing of it is imported."""


def _rows(lines: list[str], first: int) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """Rows from ``lines[first:]``, each with the (1-based) line it starts on, or the CSV
    error that row met; after an error, reading goes on at the line after that row's start
    (a quote never closed would otherwise swallow the rest of the file into one field)."""
    while first < len(lines):
        reader = csv.reader(iter(lines[first:]), strict=True)
        start = first + 1
        try:
            for row in reader:
                yield start, row
                start = first + reader.line_num + 1
            return
        except csv.Error as error:
            yield start, error
            first = start  # the line after the bad row's first line (0-based index)


def parse(text: str) -> list[Entry | Problem]:
    """Every row, in order; a problem names the line the row starts on.

    Raises :class:`NotCsv` for a file that is not this export at all: one holding a NUL
    character (binary), or one in which no row has the two columns.
    """
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise NotCsv(f"it is binary, not text (a NUL byte on line {line})")
    results: list[Entry | Problem] = []
    shaped = False
    lines = io.StringIO(text, newline="").readlines()  # at \r\n, \r and \n, as csv reads
    for where_line, row in _rows(lines, 0):
        where = f"line {where_line}"
        if isinstance(row, csv.Error):
            results.append(Problem(where, f"not valid CSV: {_csv_reason(row)}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        shaped = shaped or len(row) == 2
        try:
            results.append(parse_row(row, where))
        except Malformed as error:
            results.append(Problem(where, str(error)))
    if not shaped:
        if not results:
            raise NotCsv("it is empty")
        raise NotCsv(
            "it is not RSS, our JSON export or ShortScience.org's CSV export (no row has "
            f"the two columns paper key, text; {results[0]})"
        )
    return results


def _csv_reason(error: csv.Error) -> str:
    """The csv module's message, said for people who did not write it."""
    message = str(error)
    if message == "unexpected end of data":
        return "a quoted field is never closed (its opening quote has no closing quote)"
    return message
