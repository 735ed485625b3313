"""A digest as one email: a plain-text part and an HTML part of every summary, and a subject.

A reader gets one message per digest, never one per summary: a mailbox fills faster than a
feed, and a mailing list's readers expect a digest to be one message. Both forms are made
from Jinja2 templates (``email/digest.txt.j2``, ``email/digest.html.j2``,
``email/subject.txt.j2``): the plain text shows math as Unicode and links as URLs, the
HTML math as MathML, styled inline (mail programs drop ``<style>`` and block remote files).

The part's ``text`` is the text/plain part: what is counted, previewed, and what the
client sends as that part; ``rich`` holds ``subject`` and ``html``. Headers (From, To,
Message-ID, List-Unsubscribe...) belong to the channel and the sending, not the digest:
:mod:`publishers.networks.email` writes them.

Email has no length limit of its own; the servers that carry it do. Postfix refuses a
message over ``message_size_limit``, 10,240,000 bytes by default, and others set 10 to 25
MB. :data:`COUNTER` counts the UTF-8 bytes of both parts and allows
:data:`MESSAGE_CONTENT_LIMIT`, which stays under Postfix's default even once base64 (4 bytes
for every 3) has encoded them. A summary longer than :data:`SUMMARY_CHARACTERS` (ten times a
long one) is cut at a readable boundary and says where to read on; in the rare digest still
over the limit, the summaries are cut shorter until it fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from publishers.render.clipping import first_page
from publishers.render.lengths import Counter
from publishers.render.plain_text import PlainText
from publishers.render.posts import Post, PostPart, _digest
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

MESSAGE_CONTENT_LIMIT = 7_000_000
"""UTF-8 bytes of both parts together: base64 makes 9,333,334 of them, under Postfix's
default ``message_size_limit`` of 10,240,000 bytes with room for the headers."""
SUMMARY_CHARACTERS = 20_000
"""A summary body's most Markdown characters in a digest (ShortScience summaries run to a
few thousand); a longer one is cut and ends with where to read on."""
SHORTEST_CUT = 500
"""A digest over the limit cuts its summaries to half as long each time, down to this."""


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


COUNTER = Counter("email", MESSAGE_CONTENT_LIMIT, _utf8_bytes)
"""Bytes, as mail servers count a message's size (SMTP ``SIZE``, RFC 1870)."""


def render_posts(
    templates: Templates,
    channel: ChannelSettings,
    summaries: Sequence[SummaryItem],
    created: datetime,
) -> list[Post]:
    """The digest as one post of one part: a single message however many summaries.

    Its length is the UTF-8 bytes of the text and HTML parts together, which is what a
    mail server's size limit meets.
    """
    if not summaries:
        return []
    from publishers.render.url_grammar import find_urls  # start-up: digests only

    cut = SUMMARY_CHARACTERS
    while True:
        shown = [_within(templates, channel, item, cut) for item in summaries]
        digest = _digest(shown, created)
        text = templates.render("email/digest.txt.j2", digest=digest, channel=channel)
        html = templates.render("email/digest.html.j2", digest=digest, channel=channel)
        length = COUNTER.length(text) + COUNTER.length(html)
        if length <= COUNTER.limit or cut <= SHORTEST_CUT:
            break
        cut = max(SHORTEST_CUT, cut // 2)
    subject = templates.render("email/subject.txt.j2", digest=digest, channel=channel)
    part = PostPart(
        text=text,
        length=length,
        has_url=bool(find_urls(text)),
        rich={"subject": " ".join(subject.split()), "html": html},
    )
    return [Post(tuple(item.id for item in summaries), (part,), None)]


def _within(
    templates: Templates, channel: ChannelSettings, item: SummaryItem, characters: int
) -> SummaryItem:
    """``item`` whole when its body has at most ``characters``; else its body cut where a
    reader expects a cut (a paragraph, a sentence, never inside math), its text and HTML
    ending with where to read on."""
    if len(item.body) <= characters:
        return item
    cut = SummaryItem(
        id=item.id,
        tldr=item.tldr,
        body=first_page(item.body, characters),
        author=item.author,
        title=item.title,
        authors=item.authors,
        arxiv_id=item.arxiv_id,
        link=item.link,
        categories=item.categories,
        approved_at=item.approved_at,
    )
    context = {"summary": item, "link": item.link, "channel": channel}
    read_on_text = templates.render("email/read_on.txt.j2", **context)
    read_on_html = templates.render("email/read_on.html.j2", **context)
    plain = cut.plain
    # Fills the cached properties the templates read: the converters ran on the cut body.
    cut.__dict__["plain"] = PlainText(f"{plain.text}\n\n{read_on_text}", plain.atoms)
    cut.__dict__["html"] = f"{cut.html}{read_on_html}"
    return cut
