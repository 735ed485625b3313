"""Turn arXiv identifiers, as people actually type or paste them, into one canonical form.

People hand the bot bare ids, ``arXiv:`` citations, abs/pdf/html links, DOIs and old-style
``archive/YYMMNNN`` ids, in any case and with stray whitespace.  Everything downstream (the
arXiv API, caches, summaries) keys on one canonical id, so all of those forms are reduced
here to an :class:`ArxivId` whose ``base`` is what the arXiv API reports.

Facts the checks rely on (https://info.arxiv.org/help/arxiv_identifier.html and
https://info.arxiv.org/help/arxiv_identifier_for_services.html):

* new-style ids ``YYMM.NNNN`` started in April 2007 (0704) and have 4-digit sequence numbers
  up to December 2014 (1412), 5-digit ones from January 2015 (1501) on; numbers start at 1;
* old-style ids ``archive[.SUBJ]/YYMMNNN`` ran from August 1991 (9108) to March 2007 (0703);
  the subject class is not part of the identity (``math.CA/0611800v2`` is ``math/0611800v2``);
* versions are ``v1``, ``v2``, ...; no version means "the latest";
* arXiv DOIs are ``10.48550/arXiv.<id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import UserError

__all__ = ["ArxivId", "InvalidArxivId", "find_arxiv_ids", "parse_arxiv_id"]

#: Archives that could appear in old-style identifiers (1991 to March 2007).  Archives created
#: after the scheme change (stat, q-fin, econ, eess) never had old-style ids.
OLD_STYLE_ARCHIVES: frozenset[str] = frozenset(
    {
        "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
        "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
        "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin",
        "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph",
        "solv-int", "supr-con",
    }
)  # fmt: skip

# First and last months (as YYYYMM) of each identifier scheme.
_OLD_STYLE_FIRST, _OLD_STYLE_LAST = 199108, 200703
_NEW_STYLE_FIRST = 200704
_FIVE_DIGITS_FROM = 201501

MAX_INPUT_LENGTH = 500
"""Longer text cannot be an id (even a long URL) and is refused before any regex runs."""

_ECHO_LENGTH = 60
_EXAMPLES = "1606.04474, 2006.09661v3, hep-th/9901001 or https://arxiv.org/abs/1606.04474"

# ASCII only: \d must not match other scripts' digits, and IGNORECASE must not fold
# look-alikes such as the Kelvin sign onto "k".
_FLAGS = re.ASCII | re.IGNORECASE

# One identifier, with or without version.  The (?!\d) after each number keeps "1606.044745"
# or "hep-th/99010012" from matching a prefix.  Which digits/dates are real is checked in
# Python afterwards, where a readable rule beats a regex.
_ID = r"""
    (?:
        (?P<new_yymm>\d{4}) \. (?P<new_num>\d{4,5}) (?!\d)
      |
        (?P<archive>[a-z]+(?:-[a-z]+)?)
        (?: \. [a-z]+(?:-[a-z]+)? )?          # subject class, e.g. math.GT: not part of the id
        / (?P<old_yymm>\d{4}) (?P<old_num>\d{3}) (?!\d)
    )
    (?: v (?P<version>\d+) )?
"""

_ARXIV_HOST = r"(?:https?://)?(?:www\.|export\.)?arxiv\.org"
_DOI = r"10\.48550/arxiv\."

# Whole-input forms accepted by parse_arxiv_id (matched against stripped text): an optional
# URL, DOI or "arXiv:" prefix, the id, and (only after a URL) ".pdf", a path, query or fragment.
_PARSE_RE = re.compile(
    rf"""
    (?:
        (?P<url> {_ARXIV_HOST} / (?:abs|pdf|html) / )
      |
        (?: (?:https?://)? (?:dx\.)? doi\.org/ | doi: \s* )? {_DOI}
      |
        arxiv: \s*
    )?
    {_ID}
    (?P<url_tail> (?:\.pdf)? (?:[/?\#].*)? )
    """,
    _FLAGS | re.VERBOSE | re.DOTALL,
)

# Forms that count as a *link* to a paper inside chat text.  Bare ids are deliberately
# absent: "1606.04474" in prose is as likely a version number or a price as a paper.
# The look-behinds stop matches inside other hosts ("notarxiv.org") or other words
# ("xarXiv:"); the trailing look-ahead stops "…/abs/1606.04474v2abc" from counting.
_FIND_RE = re.compile(
    rf"""
    (?:
        (?<![\w.@/-]) {_ARXIV_HOST} / (?:abs|pdf|html) /
      |
        (?<![\w.]) {_DOI}
      |
        (?<![\w.-]) arxiv: [ \t]*
    )
    {_ID}
    (?![\w-])
    """,
    _FLAGS | re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class ArxivId:
    """A canonical arXiv identifier: the paper (``base``) and, optionally, one version.

    Build these with :func:`parse_arxiv_id` or :func:`find_arxiv_ids`; the constructor
    does not validate.
    """

    base: str
    version: int | None = None

    def __str__(self) -> str:
        """The id as arXiv writes it, with its version when one was given."""
        return self.base if self.version is None else f"{self.base}v{self.version}"

    @property
    def abs_url(self) -> str:
        """The abstract page of the paper; versionless so it always shows the latest."""
        return f"https://arxiv.org/abs/{self.base}"

    @property
    def is_old_style(self) -> bool:
        """True for pre-April-2007 ``archive/YYMMNNN`` ids."""
        return "/" in self.base


class InvalidArxivId(UserError):
    """The text is not an arXiv identifier; the message says so and shows valid examples."""

    def __init__(self, given: str) -> None:
        what = f"{_echo(given)} is not an arXiv id" if given.strip() else "No arXiv id given"
        super().__init__(f"{what}. Try one like {_EXAMPLES}.")
        self.given = given


def parse_arxiv_id(text: str) -> ArxivId:
    """Read one arXiv id from what a person typed (id, citation, URL or DOI).

    Raises :class:`InvalidArxivId` for anything that is not exactly one arXiv paper.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidArxivId(text)
    candidate = text.strip()
    # Discord users wrap links in <...> to suppress the embed.
    if candidate.startswith("<") and candidate.endswith(">"):
        candidate = candidate[1:-1].strip()
    match = _PARSE_RE.fullmatch(candidate)
    arxiv_id = None
    if match and (match["url"] or not match["url_tail"]):
        arxiv_id = _from_match(match)
    if arxiv_id is None:
        raise InvalidArxivId(text)
    return arxiv_id


def find_arxiv_ids(text: str) -> list[ArxivId]:
    """The arXiv papers linked in a chat message, in order of first appearance, one per paper.

    Only arxiv.org abs/pdf/html links, arXiv DOIs and ``arXiv:`` citations count. When a
    paper is linked twice, the first mention (and its version) wins. Never raises.
    """
    found: dict[str, ArxivId] = {}
    for match in _FIND_RE.finditer(text):
        arxiv_id = _from_match(match)
        if arxiv_id is not None and arxiv_id.base not in found:
            found[arxiv_id.base] = arxiv_id
    return list(found.values())


def _from_match(match: re.Match[str]) -> ArxivId | None:
    """Check the date, number and version rules a regex cannot say clearly."""
    version_text = match["version"]
    if version_text is None:
        version = None
    elif version_text.startswith("0"):  # v0 does not exist, v01 is not how arXiv writes v1
        return None
    else:
        version = int(version_text)

    if match["new_yymm"] is not None:
        yymm, number = match["new_yymm"], match["new_num"]
        month = _year_month(yymm, century=2000)
        if month < _NEW_STYLE_FIRST or not _plausible(yymm, number):
            return None
        if len(number) != (5 if month >= _FIVE_DIGITS_FROM else 4):
            return None
        return ArxivId(f"{yymm}.{number}", version)

    archive = match["archive"].lower()
    yymm, number = match["old_yymm"], match["old_num"]
    century = 1900 if int(yymm[:2]) >= 91 else 2000
    month = _year_month(yymm, century=century)
    if archive not in OLD_STYLE_ARCHIVES or not _plausible(yymm, number):
        return None
    if not _OLD_STYLE_FIRST <= month <= _OLD_STYLE_LAST:
        return None
    return ArxivId(f"{archive}/{yymm}{number}", version)


def _year_month(yymm: str, *, century: int) -> int:
    """``"1606"`` -> ``201606``, so scheme boundaries compare as plain integers."""
    return (century + int(yymm[:2])) * 100 + int(yymm[2:])


def _plausible(yymm: str, number: str) -> bool:
    """A real calendar month, and a sequence number that is not all zeros (they start at 1)."""
    return 1 <= int(yymm[2:]) <= 12 and int(number) > 0


def _echo(given: str) -> str:
    """Quote the user's input for the error message: shortened, on one line, pinging no one."""
    shown = given.strip()
    if len(shown) > _ECHO_LENGTH:
        shown = shown[: _ECHO_LENGTH - 1] + "…"
    # repr() escapes newlines and control characters, so the message stays one line.
    # A zero-width space after "@" keeps an echoed "@everyone" from becoming a mention.
    return repr(shown).replace("@", "@\u200b")
