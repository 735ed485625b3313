"""Turn a transport-free :class:`Reply` into Discord embeds that Discord will accept.

Discord rejects a whole message with 400 Bad Request when any one limit is broken, and a
community summary can be 20,000 characters long. So everything is cut here, where it can be
cut well: at a paragraph, sentence or word, without leaving Markdown broken open, and with a
link to the full text. Lengths are code points, as Discord's API counts them (Python ``len``;
discord/discord-api-docs#1315). Every string we produce is already stripped, so our counts
equal Discord's, which trims leading and trailing whitespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.commands.replies import Field, Reply, Section, Tone
from publishers.render.clipping import clip, split_pages

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

NOTICE_MARK = "⚠️"
PAGE_SEPARATOR = " · "
# Discord refuses empty field names and values; a zero-width space is the usual stand-in.
BLANK = "\u200b"

COLOURS: dict[Tone, int] = {
    Tone.INFO: 0x5865F2,
    Tone.SUCCESS: 0x57F287,
    Tone.WARNING: 0xFEE75C,
}

# The main embed's description keeps at least this much before trailing fields are dropped.
_DESCRIPTION_FLOOR = 500
# A notice is a one-line warning, not a second description.
_NOTICE_MAX = 512

# ---------------------------------------------------------------------------------------
# Message content


def plain_content(text: str) -> str:
    """Message content (outside embeds) is limited to 2000 characters."""
    return clip(text, MAX_CONTENT)


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


SECTION_PAGE_CHARS = 3800
"""A page of a long section: under the 4096 of a description, with room for its TL;DR line
and, with title, author line and footer, under the 6000 of a message."""
_SECTION_FOOTER_MAX = 300
LEAD_LABEL = "TL;DR"


def page_count(reply: Reply) -> int:
    """The main page plus every page of every section, without building any embed."""
    return 1 + sum(len(_section_chunks(section)) for section in reply.sections)


def reply_pages(reply: Reply) -> list[list[discord.Embed]]:
    """One list of embeds per page: the reply itself, then each section's pages.

    The main page lists every section's lead (a summary's TL;DR) so a reader sees them
    all at once; each section then gets as many pages as its text needs, so nothing of a
    long summary is cut away. Stacking sections in one message would run into the
    6000-character total after a single long summary.
    """
    colour = COLOURS.get(reply.tone, COLOURS[Tone.INFO])
    total = page_count(reply)
    pages = [_main_parts(reply, total)]
    number = 2
    for section in reply.sections:
        chunks = _section_chunks(section)
        for index, chunk in enumerate(chunks):
            pages.append(_section_parts(reply, section, chunk, index, len(chunks), number, total))
            number += 1
    return [[parts.embed(colour)] for parts in pages]


def page_summaries(reply: Reply) -> list[int | None]:
    """For each page of :func:`reply_pages`, the summary it shows (for vote buttons)."""
    ids: list[int | None] = [None]
    for section in reply.sections:
        ids.extend([section.summary_id] * len(_section_chunks(section)))
    return ids


def text_is_whole(reply: Reply) -> bool:
    """Whether the main page shows all of the reply's text (a card that does not gets the
    full text attached)."""
    return reply.text.strip() in _main_parts(reply, page_count(reply)).description


def _lead_and_text(lead: str | None, text: str) -> str:
    if lead and lead.strip():
        return f"**{LEAD_LABEL}:** {lead.strip()}\n\n{text}".strip()
    return text


def _section_chunks(section: Section) -> list[str]:
    """A section's text in pages; the first page starts with its lead."""
    lead = _lead_and_text(section.lead, "") if section.lead else ""
    room = SECTION_PAGE_CHARS - (len(lead) + 2 if lead else 0)
    chunks = split_pages(section.text, room) if section.text.strip() else []
    if lead:
        chunks = [f"{lead}\n\n{chunks[0]}" if chunks else lead, *chunks[1:]]
    return chunks or [""]


def _lead_fields(reply: Reply, room: int) -> list[tuple[str, str, bool]]:
    """The sections' leads as fields of the main page (at most ``room`` of them)."""
    leads = [section for section in reply.sections if section.lead]
    return [
        (
            clip(section.title, MAX_FIELD_NAME) or BLANK,
            clip(section.lead or "", MAX_FIELD_VALUE),
            False,
        )
        for section in leads[:room]
    ]


def _main_parts(reply: Reply, total: int) -> _Parts:
    """Title, notice and text, fields, the sections' leads, footer.

    The description gives way first (down to a floor), then the last leads: those are
    on their sections' pages too, and the footer says how many were left off here.
    """
    title = clip(reply.title or "", MAX_TITLE)
    fields = [_field(field) for field in reply.fields[:MAX_FIELDS]]
    leads = _lead_fields(reply, MAX_FIELDS - len(fields))
    missing = sum(1 for section in reply.sections if section.lead) - len(leads)
    text = _lead_and_text(reply.lead, reply.text)
    # "Read more" points at the reply's URL, which holds an abstract but never a summary.
    more_url = None if reply.lead else reply.url
    wanted = _description(reply.notice, text, MAX_DESCRIPTION, more_url)
    floor = min(len(wanted), _DESCRIPTION_FLOOR)

    def footer_for(left_off: int) -> str:
        more = f"{left_off} more TL;DRs on the next pages" if left_off else ""
        parts = [part for part in (reply.footer, more) if part]
        return _footer(PAGE_SEPARATOR.join(parts) or None, 1, total)

    footer = footer_for(missing)
    while leads and len(title) + len(footer) + _fields_size(fields + leads) + floor > MAX_TOTAL:
        leads.pop()
        missing += 1
        footer = footer_for(missing)
    while fields and len(title) + len(footer) + _fields_size(fields + leads) + floor > MAX_TOTAL:
        fields.pop()
    fixed = len(title) + len(footer)
    room = min(MAX_DESCRIPTION, MAX_TOTAL - fixed - _fields_size(fields + leads))
    description = (
        wanted if len(wanted) <= room else _description(reply.notice, text, room, more_url)
    )
    return _Parts(
        title=title,
        url=reply.url,
        description=description,
        fields=tuple(fields + leads),
        footer=footer,
    )


def _section_parts(
    reply: Reply,
    section: Section,
    chunk: str,
    index: int,
    chunks: int,
    number: int,
    total: int,
) -> _Parts:
    """One page of a section; the reply's title rides along as the author line for context."""
    link = section.url or reply.url
    author = clip(reply.title or "", MAX_AUTHOR)
    title = clip(section.title, MAX_TITLE)
    continued = f"part {index + 1} of {chunks}" if chunks > 1 else ""
    base = PAGE_SEPARATOR.join(part for part in (section.footer, continued) if part)
    footer = _footer(clip(base, _SECTION_FOOTER_MAX) or None, number, total)
    return _Parts(
        title=title,
        url=link,
        description=chunk,
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
