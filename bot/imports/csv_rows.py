"""ShortScience.org's CSV export: two columns, the paper key and the summary text, no header.

The file names no author, votes or dates: each row is imported as an anonymous summary
dated at import time. A key ``journals/corr/<arXiv id>`` (the site's key for arXiv
papers) or a bare arXiv id makes an arXiv paper; any other key is kept as the paper's key.
"""

from __future__ import annotations

import csv
import hashlib
import io

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


def parse(text: str) -> list[Entry | Problem]:
    """Every row, in order; a problem names the line the row starts on."""
    results: list[Entry | Problem] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            results.append(Problem(f"line {start}", f"not valid CSV: {error}"))
            start = reader.line_num + 1
            continue
        where = f"line {start}"
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        try:
            results.append(parse_row(row, where))
        except Malformed as error:
            results.append(Problem(where, str(error)))
    return results
