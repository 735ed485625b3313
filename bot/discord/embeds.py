"""Turn a transport-free :class:`Reply` into Discord embeds that Discord will accept.

Discord rejects a whole message with 400 Bad Request when any one limit is broken, and a
community summary can be 20,000 characters long. So everything is cut here, where it can be
cut well: at a paragraph, sentence or word, without leaving Markdown broken open, and with a
link to the full text. Lengths are code points, as Discord's API counts them (Python ``len``;
discord/discord-api-docs#1315). Every string we produce is already stripped, so our counts
equal Discord's, which trims leading and trailing whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import discord

from bot.commands.replies import Field, Reply, Section, Tone

MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR = 256
MAX_TOTAL = 6000
MAX_EMBEDS = 10
MAX_CONTENT = 2000

ELLIPSIS = "…"
NOTICE_MARK = "⚠️"
PAGE_SEPARATOR = " · "
# Discord refuses empty field names and values; a zero-width space is the usual stand-in.
BLANK = "\u200b"

COLOURS: dict[Tone, int] = {
    Tone.INFO: 0x5865F2,
    Tone.SUCCESS: 0x57F287,
    Tone.WARNING: 0xFEE75C,
}

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
# The main embed's description keeps at least this much before trailing fields are dropped.
_DESCRIPTION_FLOOR = 500
# A notice is a one-line warning, not a second description.
_NOTICE_MAX = 512

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Ideographic full stop and fullwidth "!" and "?" end a sentence without a following space.
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[\u3002\uff01\uff1f]")
_INLINE_PAIRS = ("**", "__", "~~", "||")
# Closing markers of spans that must not be cut inside: link URL (none), inline code, math.
_ATOMIC = frozenset({"", "`", "``", "$"})
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


def plain_content(text: str) -> str:
    """Message content (outside embeds) is limited to 2000 characters."""
    return clip(text, MAX_CONTENT)


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
        end, stop = _span_end(text, start, closes)
        if end < 0:
            unclosed_until[kind] = (stop, end)
        return end

    while i < n:
        char = text[i]
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
            end = span_end(ticks, i + run, lambda j, ticks=ticks: text.startswith(ticks, j))
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


def _span_end(text: str, start: int, closes: Callable[[int], bool]) -> tuple[int, int]:
    """Where the span from ``start`` closes, else ``_OPEN`` / ``_LITERAL``; and where we stopped."""
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "\n" and _PARAGRAPH_BREAK.match(text, j):
            return _LITERAL, j
        if closes(j):
            return j, j
        j += 1
    return _OPEN, len(text)


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
# Embeds


@dataclass(frozen=True)
class _Parts:
    """One embed's texts, already clipped and stripped, so its size is easy to count."""

    title: str = ""
    url: str | None = None
    description: str = ""
    fields: tuple[tuple[str, str, bool], ...] = ()
    footer: str = ""
    author: str = ""
    author_url: str | None = None

    def embed(self, colour: int) -> discord.Embed:
        embed = discord.Embed(
            title=self.title or None,
            url=self.url or None,
            description=self.description or None,
            colour=discord.Colour(colour),
        )
        for name, value, inline in self.fields:
            embed.add_field(name=name, value=value, inline=inline)
        if self.footer:
            embed.set_footer(text=self.footer)
        if self.author:
            embed.set_author(name=self.author, url=self.author_url or None)
        return embed


def embed_size(embed: discord.Embed) -> int:
    """What Discord counts towards the 6000 limit, after trimming as Discord does."""
    texts = [embed.title, embed.description, embed.footer.text, embed.author.name]
    for field in embed.fields:
        texts += [field.name, field.value]
    return sum(len(text.strip()) for text in texts if text)


def page_count(reply: Reply) -> int:
    """The main page plus one page per section, without building any embed."""
    return 1 + len(reply.sections)


def reply_pages(reply: Reply) -> list[list[discord.Embed]]:
    """One list of embeds per page: the reply itself, then one page per section.

    Sections (summaries, search hits, queued submissions) get a page each so that the
    caller can page through them with buttons; stacking them in one message would run into
    the 6000-character total after a single long summary.
    """
    colour = COLOURS.get(reply.tone, COLOURS[Tone.INFO])
    total = page_count(reply)
    pages = [_main_parts(reply, total)]
    pages += [
        _section_parts(reply, section, number, total)
        for number, section in enumerate(reply.sections, start=2)
    ]
    return [[parts.embed(colour)] for parts in pages]


def _main_parts(reply: Reply, total: int) -> _Parts:
    """Title, notice and text, fields, footer; the description gives way before the fields."""
    title = clip(reply.title or "", MAX_TITLE)
    footer = _footer(reply.footer, 1, total)
    fields = [_field(field) for field in reply.fields[:MAX_FIELDS]]
    fixed = len(title) + len(footer)
    wanted = _description(reply.notice, reply.text, MAX_DESCRIPTION, reply.url)
    floor = min(len(wanted), _DESCRIPTION_FLOOR)
    while fields and fixed + _fields_size(fields) + floor > MAX_TOTAL:
        fields.pop()
    room = min(MAX_DESCRIPTION, MAX_TOTAL - fixed - _fields_size(fields))
    description = (
        wanted if len(wanted) <= room else _description(reply.notice, reply.text, room, reply.url)
    )
    return _Parts(
        title=title, url=reply.url, description=description, fields=tuple(fields), footer=footer
    )


def _section_parts(reply: Reply, section: Section, number: int, total: int) -> _Parts:
    """One section per page; the reply's title rides along as the author line for context."""
    link = section.url or reply.url
    author = clip(reply.title or "", MAX_AUTHOR)
    title = clip(section.title, MAX_TITLE)
    footer = _footer(section.footer, number, total)
    room = min(MAX_DESCRIPTION, MAX_TOTAL - len(author) - len(title) - len(footer))
    return _Parts(
        title=title,
        url=link,
        description=clip(section.text, room, more_url=link),
        footer=footer,
        author=author,
        author_url=reply.url,
    )


def _description(notice: str | None, text: str, limit: int, url: str | None) -> str:
    """The notice as its own first line, so it is read before the text it qualifies."""
    notice_line = ""
    if notice and notice.strip():
        notice_line = clip(f"{NOTICE_MARK} {notice.strip()}", min(_NOTICE_MAX, limit))
    room = limit - len(notice_line) - 2 if notice_line else limit
    body = clip(text, room, more_url=url) if room > 0 else ""
    return "\n\n".join(part for part in (notice_line, body) if part)


def _field(field: Field) -> tuple[str, str, bool]:
    name = clip(field.name, MAX_FIELD_NAME) or BLANK
    value = clip(field.value, MAX_FIELD_VALUE) or BLANK
    return name, value, field.inline


def _fields_size(fields: Sequence[tuple[str, str, bool]]) -> int:
    return sum(len(name) + len(value) for name, value, _ in fields)


def _footer(text: str | None, number: int, total: int) -> str:
    """The footer, with "page i/n" when there is more than one page."""
    if total <= 1:
        return clip(text or "", MAX_FOOTER)
    tag = f"page {number}/{total}"
    base = clip(text or "", MAX_FOOTER - len(tag) - len(PAGE_SEPARATOR))
    return f"{base}{PAGE_SEPARATOR}{tag}" if base else tag
