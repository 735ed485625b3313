"""Cutting Markdown text to a length where a reader expects a cut, without breaking it.

Shared by every front end and publisher that must fit a summary into a limit (a Discord
embed, a moderation card, a page of a long summary): a cut falls at a paragraph,
sentence or word boundary near the limit, never inside a grapheme cluster or surrogate
pair, and Markdown left open by the cut (a code fence, math, emphasis, a link) is cut
back or closed. Lengths are code points (Python ``len``), which is how Discord counts.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator

ELLIPSIS = "…"

# How far back from the limit a clean cut may fall, as a share of the room: losing a few
# hundred characters to end on a paragraph reads better than ending mid-sentence, but
# losing half the room to do so does not.
_PARAGRAPH_FROM = 0.7
_SENTENCE_FROM = 0.8
_WORD_FROM = 0.5
# Cutting back to before an unclosed code fence, math span or emphasis is preferred while it
# keeps at least this share of the room; beyond that, the construct is closed instead.
_REPAIR_FROM = 0.5
# The read-more link is left out when it would take more than this share of the room.
_LINK_SHARE = 0.5
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Ideographic full stop and fullwidth "!" and "?" end a sentence without a following space.
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[\u3002\uff01\uff1f]")
_INLINE_PAIRS = ("**", "__", "~~", "||")
# Closing markers of spans that must not be cut inside: link URL (none), inline code, math.
_ATOMIC = frozenset({"", "`", "``", "$"})
_MARKUP_FIRST = frozenset("\\\n`$*_[]" + "".join(pair[0] for pair in _INLINE_PAIRS))
"""Every character at which :func:`_unclosed` may see something open or close; it skips
the others in one search (a page of prose is mostly those)."""
_MARKUP_CHARACTER = re.compile("[" + re.escape("".join(sorted(_MARKUP_FIRST))) + "]")
# Such a span is short; an opener further back than this is more likely a stray character,
# which Discord shows as it is, so it is left alone rather than cutting back that far.
_ATOMIC_REACH = 300


# ---------------------------------------------------------------------------------------
# Clipping text


def clip(text: str, limit: int, *, more_url: str | None = None) -> str:
    """Fit ``text`` into ``limit`` characters, cutting where a reader would expect a cut.

    Text that fits is returned as is (stripped, as Discord would). Otherwise it is cut at a
    paragraph, sentence or word boundary near the limit (a hard cut only when none is near,
    and never inside a grapheme cluster or surrogate pair), Markdown left open by the cut is
    cut back or closed, and "…" plus, with ``more_url``, " [read more](<url>)" is appended.
    The result, suffix included, is never longer than ``limit``.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    suffix = _suffix(limit, more_url)
    budget = limit - len(suffix)
    for _ in range(8):
        if budget <= 0:
            break
        head = _cut(text, budget)
        result = _join(_balance(head, budget), suffix)
        if len(result) <= limit:
            return result
        # Closing Markdown cost room: keep that much less text and try again.
        budget = len(head) - (len(result) - limit)
    # No room for text, or repairs that never fit: a plain prefix still keeps the length.
    head = text[: _cluster_boundary(text, max(0, limit - len(suffix)))].rstrip()
    return head + suffix if head else suffix.lstrip()


def _suffix(limit: int, more_url: str | None) -> str:
    """The ellipsis, with the link when it leaves enough room for the text itself."""
    if more_url:
        with_link = f"{ELLIPSIS} [read more](<{more_url}>)"
        if len(with_link) <= limit * _LINK_SHARE:
            return with_link
    return ELLIPSIS


def _join(body: str, suffix: str) -> str:
    if not body:
        return suffix.lstrip()
    if body.endswith("```"):  # keep the ellipsis off the closing fence's line
        return f"{body}\n{suffix.lstrip()}"
    return body + suffix


def _cut(text: str, budget: int) -> str:
    """The longest clean prefix of at most ``budget`` characters, without trailing space."""
    if budget >= len(text):
        return text
    head = text[:budget]
    cut = _paragraph_cut(head, budget) or _sentence_cut(head, budget)
    if cut is None:
        cut = _word_cut(text, budget)
        if cut is None:
            cut = _cluster_boundary(text, budget)
        return text[:cut].rstrip().rstrip(",;").rstrip()
    return text[:cut].rstrip()


def _paragraph_cut(head: str, budget: int) -> int | None:
    starts = [m.start() for m in _PARAGRAPH_BREAK.finditer(head)]
    if starts and starts[-1] >= budget * _PARAGRAPH_FROM:
        return starts[-1]
    return None


def _sentence_cut(head: str, budget: int) -> int | None:
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    # A full stop right at the end of ``head`` may be "3.14" or "e.g": only a following
    # space makes it a sentence end, and that space is inside ``head`` by construction.
    best = max(ends[-1] if ends else -1, head.rfind("\n"))
    return best if best >= budget * _SENTENCE_FROM and best > 0 else None


def _word_cut(text: str, budget: int) -> int | None:
    """A cut between words: at whitespace, else between CJK characters, which need none."""
    lowest = max(1, int(budget * _WORD_FROM))
    for i in range(budget, lowest - 1, -1):
        if text[i].isspace() or text[i - 1].isspace():
            return i
    for i in range(budget, lowest - 1, -1):
        if (_is_wide(text[i - 1]) or _is_wide(text[i])) and _cluster_boundary(text, i) == i:
            return i
    return None


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _joins_previous(char: str) -> bool:
    """Characters that belong to the character before them (combining marks, emoji parts)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or code == 0x200D  # zero-width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or 0xE0100 <= code <= 0xE01EF
        or 0xDC00 <= code <= 0xDFFF  # low surrogate: second half of a UTF-16 pair
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _cluster_boundary(text: str, index: int) -> int:
    """The largest cut at or before ``index`` that splits no emoji, accent or surrogate pair.

    A cheap approximation of Unicode grapheme clusters (UAX #29): enough for ZWJ sequences,
    flags, skin tones, keycaps, combining accents and lone surrogates in a ``str``.
    """
    index = min(index, len(text))
    while 0 < index < len(text):
        before, after = text[index - 1], text[index]
        if _joins_previous(after) or before == "\u200d" or 0xD800 <= ord(before) <= 0xDBFF:
            index -= 1
            continue
        if _is_regional(before) and _is_regional(after):
            run = 0
            while index - run > 0 and _is_regional(text[index - run - 1]):
                run += 1
            if run % 2:  # an odd run ends with the first half of a flag
                index -= 1
                continue
        break
    return index


# ---------------------------------------------------------------------------------------
# Markdown left open by a cut


def _balance(head: str, budget: int) -> str:
    """Cut back to before Markdown the cut left open; close it if that would lose too much.

    A link's URL, inline code and inline math are cut back to even further (closing them
    would show a broken URL, or an identifier or formula that does not exist); only a code
    block, display math or emphasis that began too far back is closed instead.
    """
    floor = budget * _REPAIR_FROM
    for _ in range(8):
        opened = _unclosed(head)
        if not opened:
            return head
        earliest = min(start for start, _ in opened)
        atomic = [
            start
            for start, closer in opened
            if closer in _ATOMIC and start > 0 and len(head) - start <= _ATOMIC_REACH
        ]
        if earliest > 0 and earliest >= floor:
            head = head[:earliest].rstrip()
        elif atomic:
            head = head[: min(atomic)].rstrip()
        else:
            closers = (closer for _, closer in reversed(opened) if closer not in _ATOMIC)
            return head.rstrip() + "".join(closers)
    return head


def _unclosed(text: str) -> list[tuple[int, str]]:
    """Constructs open at the end of ``text``, as (start, closing marker), outermost first.

    Cheap and approximate, in the spirit of Discord's Markdown: ``` fences and $$ display
    math may span paragraphs; inline code, $math$, emphasis and links end at a blank line.
    """
    inline: dict[str, int] = {}
    links: list[int] = []
    # Per kind of span: no closer before this index, and what that meant. Later openers of
    # the same kind in that stretch reuse the answer, so stray "$" stay linear, not quadratic.
    unclosed_until: dict[str, tuple[int, int]] = {}
    i, n = 0, len(text)

    def open_inline() -> list[tuple[int, str]]:
        # A bare "[" is shown as it is; only a cut inside "](url)" breaks a link.
        return sorted((start, token) for token, start in inline.items())

    def span_end(kind: str, start: int, closes: Callable[[int], bool]) -> int:
        until, known = unclosed_until.get(kind, (-1, _OPEN))
        if start < until:
            return known
        end, stop = _span_end(text, start, closes, kind[0])
        if end < 0:
            unclosed_until[kind] = (stop, end)
        return end

    while i < n:
        char = text[i]
        if char not in _MARKUP_FIRST:  # nothing opens or closes here: on to where it may
            found = _MARKUP_CHARACTER.search(text, i)
            i = found.start() if found else n
            continue
        if char == "\\":
            i += 2
            continue
        if char == "\n":
            blank = _PARAGRAPH_BREAK.match(text, i)
            if blank:
                inline.clear()
                links.clear()
                i = blank.end()
                continue
            i += 1
            continue
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                return [(i, "\n```")]
            inline.clear()
            links.clear()
            i = end + 3
            continue
        if text.startswith("$$", i):
            end = text.find("$$", i + 2)
            if end < 0:
                return [(i, "$$")]
            i = end + 2
            continue
        if char == "`":
            run = 2 if text.startswith("``", i) else 1
            ticks = "`" * run

            def closes_code(j: int, ticks: str = ticks) -> bool:
                return text.startswith(ticks, j)

            end = span_end(ticks, i + run, closes_code)
            if end == _OPEN:
                return [*open_inline(), (i, "`" * run)]
            i = (end + run) if end >= 0 else (i + run)
            continue
        if char == "$":
            if i + 1 < n and text[i + 1].isspace():
                i += 1
                continue
            end = span_end("$", i + 1, lambda j: _closes_math(text, j))
            if end == _OPEN and not (i + 1 < n and text[i + 1].isdigit()):  # "$5": money
                return [*open_inline(), (i, "$")]
            i = (end + 1) if end >= 0 else (i + 1)
            continue
        pair = text[i : i + 2]
        if pair in _INLINE_PAIRS:
            _toggle(text, i, pair, inline)
            i += 2
            continue
        if char in "*_":
            _toggle(text, i, char, inline)
            i += 1
            continue
        if char == "[":
            links.append(i)
        elif char == "]" and links:
            if text.startswith("(", i + 1):
                end = span_end(")", i + 2, lambda j: text[j] == ")")
                if end == _OPEN:  # a link cannot be closed, only cut
                    return [*open_inline(), (links[-1], "")]
                links.pop()
                i = (end + 1) if end >= 0 else (i + 1)
                continue
            links.pop()
        i += 1
    return open_inline()


_OPEN = -2  # the span runs to the end of the text: the cut left it open
_LITERAL = -1  # a blank line came first: the marker was just a character


def _span_end(text: str, start: int, closes: Callable[[int], bool], first: str) -> tuple[int, int]:
    """Where the span from ``start`` closes, else ``_OPEN`` / ``_LITERAL``; and where we stopped.

    ``first`` is the closer's first character: ``closes`` is only true where it stands.
    """
    stops = _span_stops(first)
    j = start
    while j < len(text):
        if text[j] not in ("\\", "\n", first):  # neither an escape, a break nor a closer
            found = stops.search(text, j)
            j = found.start() if found else len(text)
            continue
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "\n" and _PARAGRAPH_BREAK.match(text, j):
            return _LITERAL, j
        if closes(j):
            return j, j
        j += 1
    return _OPEN, len(text)


@functools.cache
def _span_stops(first: str) -> re.Pattern[str]:
    """Where :func:`_span_end` must look: an escape, a line break, the closer's first character."""
    return re.compile("[" + re.escape("\\\n" + first) + "]")


def _closes_math(text: str, j: int) -> bool:
    """Pandoc's rule, so "$5 and $10" is not math: a closing $ follows a non-space."""
    return text[j] == "$" and not text[j - 1].isspace()


def _toggle(text: str, i: int, marker: str, inline: dict[str, int]) -> None:
    """Open or close an emphasis marker, using flanking rules to skip ``a * b`` and snake_case."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + len(marker)] if i + len(marker) < len(text) else ""
    intraword = marker == "_"  # Discord, like CommonMark, ignores _ inside words
    if marker in inline:
        if not before.isspace() and not (intraword and after.isalnum()):
            del inline[marker]
        return
    if after.isspace() or (intraword and before.isalnum()):
        return
    inline[marker] = i


# ---------------------------------------------------------------------------------------
# Pages


def split_pages(text: str, limit: int) -> list[str]:
    """The whole text as consecutive pages of at most ``limit`` characters each.

    Each page ends at the cleanest cut ``clip`` would choose (paragraph, sentence, word),
    preferring to end before a Markdown span rather than inside it; nothing is dropped,
    so a reader turning the pages reads every word. A span longer than a page (a huge
    code block) is the only thing a page may end inside.
    """
    return list(_pages(text, limit))


def first_page(text: str, limit: int) -> str:
    """The first of :func:`split_pages` (empty for an empty text), without cutting the
    rest: a message that keeps only its beginning pays for one page, not all of them."""
    return next(_pages(text, limit), "")


def _pages(text: str, limit: int) -> Iterator[str]:
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            yield rest
            break
        head = _cut(rest, limit)
        balanced = _balance(head, limit)
        if rest.startswith(balanced) and balanced:
            head = balanced
        if not head:  # nothing cuts cleanly: fall back to a cluster boundary
            head = rest[: max(1, _cluster_boundary(rest, limit))]
        yield head.strip()
        rest = rest[len(head) :].strip()
