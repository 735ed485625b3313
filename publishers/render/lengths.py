"""How long each network says a post is, counted exactly as that network counts it.

A thread splitter is only as good as its ruler: one character too many and the network rejects
the post. Each platform's rule (tests/fixtures/LIMITS.md, and the sources named below):

- X: twitter-text v3 weighted length. Text is NFC-normalised; code points in 0-4351,
  8192-8205, 8208-8223 and 8242-8247 weigh 1, all others 2; an emoji sequence that
  twitter-text's list holds (ZWJ sequences, skin tones, flags, keycaps, tag sequences)
  weighs 2 as a whole; every URL weighs 23 (t.co). Limit 280; a text that is empty or holds
  U+FEFF, U+FFFE or U+FFFF is invalid whatever its length. (docs.x.com
  fundamentals/counting-characters; twitter-text config/v3.json and invalid_chars_group.)
- Bluesky: 300 grapheme clusters and 3,000 UTF-8 bytes; URLs count as written.
- Mastodon: 500 grapheme clusters by default (instances raise it), no normalisation; every
  http(s) URL counts 23 (a URL over 4,096 characters counts in full), ``@user@domain`` counts
  as ``@user`` unless its domain is over 253 characters (Mastodon's StatusLengthValidator,
  Extractor::MAX_DOMAIN_LENGTH and Account::MENTION_RE).
- Facebook: no official limit; 63,206 code points is the figure third parties cite
  (LIMITS.md, Facebook section: unofficial).
- Discord: message content, 2,000 code points after trimming leading and trailing whitespace.

URLs for X and Mastodon are recognised by twitter-text's own grammar (X's library, which
Mastodon also uses), re-implemented in ``url_grammar``. X also counts scheme-less domains
(``example.com``) as URLs; Mastodon counts only http(s) URLs.

Where this implementation differs from the twitter-text-parser Python port, the independent
reference in the tests (tests/fixtures/LIMITS.md, "X counting"):

- a bare © or ® (no U+FE0F) is a character of weight 1, not an emoji, as in the official
  JavaScript (its emoji parser, twemoji-parser, wants the presentation selector on those two);
- CRLF counts as two characters, as in the JavaScript (the port folds line endings first).

Everywhere else it agrees with the port, emoji included: a sequence is one emoji only when
the port's list (Emoji 12.0, ``emoji_sequences``) holds it. An emoji newer than that list
(🏳️‍⚧️ is Emoji 13.0) counts part by part, 7 for 🏳️‍⚧️, as twitter-text counts it and so
as X may: counting it as 2, as X's documentation suggests, could make a post X refuses. (The
official JavaScript's list is Emoji 11.0, so on the few sequences new in 12.0 it counts more
than the port; those are counted as the port counts them.)

URLs too are counted as the port counts them where it strays from the JavaScript without
counting less: a scheme-less URL whose domain holds non-ASCII letters and recurs in its path
("жж0.com/ж0.com") is rebuilt with Python's ``str.replace``, which replaces every recurrence
(the JavaScript's ``replace``, the first only), so fewer characters are skipped as the URL and
the rest count one by one: 26 there, where the JavaScript counts 25 (``url_grammar``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import regex

from publishers.render.unpostable import UNPOSTABLE
from publishers.render.url_grammar import LATIN_ACCENTS, find_urls, url_matches

__all__ = [
    "BLUESKY_MAX_UTF8_BYTES",
    "COUNTERS",
    "MASTODON_DEFAULT_LIMIT",
    "Counter",
    "bluesky_length",
    "discord_length",
    "facebook_length",
    "graphemes",
    "has_joining",
    "mastodon_counter",
    "mastodon_length",
    "x_invalid",
    "x_length",
]

X_LIMIT = 280
X_URL_LENGTH = 23
EMOJI_WEIGHT = 2
BLUESKY_LIMIT = 300
BLUESKY_MAX_UTF8_BYTES = 3000
MASTODON_DEFAULT_LIMIT = 500
MASTODON_URL_LENGTH = 23
FACEBOOK_LIMIT = 63_206
DISCORD_LIMIT = 2000


# ---------------------------------------------------------------------------------------
# X: weighted length

# Code points that weigh 1 (twitter-text config v3 "ranges"); everything else weighs 2.
_HEAVY = re.compile(r"[^\u0000-\u10FF\u2000-\u200D\u2010-\u201F\u2032-\u2037]")
# Every emoji sequence of more than one code point in twitter-text's list contains one of
# these (test_lengths.py counts each one): where none is, there is no emoji to look for.
_SEQUENCE_GLUE = re.compile(
    r"[\uFE0F\u200D\u20E3\U0001F1E6-\U0001F1FF\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
)


@functools.cache
def _emoji_table() -> tuple[frozenset[str], dict[str, tuple[int, ...]], re.Pattern[str]]:
    """The listed sequences; for each first code point, the lengths of those it begins
    (longest first); and an expression that finds those first code points."""
    from publishers.render.emoji_sequences import listed

    sequences = listed()
    lengths: dict[str, set[int]] = {}
    for sequence in sequences:
        lengths.setdefault(sequence[0], set()).add(len(sequence))
    starts = re.compile("[" + "".join(re.escape(first) for first in sorted(lengths)) + "]")
    ordered = {first: tuple(sorted(found, reverse=True)) for first, found in lengths.items()}
    return sequences, ordered, starts


def _emoji_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each listed emoji sequence, as twitter-text's scan finds them: from
    left to right, at each place the longest listed sequence, the search going on after it."""
    if not _SEQUENCE_GLUE.search(text):
        return []
    sequences, lengths, starts = _emoji_table()
    spans: list[tuple[int, int]] = []
    position = 0
    while (found := starts.search(text, position)) is not None:
        start = found.start()
        position = start + 1
        for length in lengths[found.group()]:
            if text[start : start + length] in sequences:
                spans.append((start, start + length))
                position = start + length
                break
    return spans


def _weight(text: str) -> int:
    """Code-point weights, without URLs or emoji sequences."""
    return len(text) + len(_HEAVY.findall(text))


MEASURED_KEPT = 2048
"""Lengths remembered per ruler: a thread's parts and a post's candidates are measured
again by the splitter, the renderer and the part itself (bounded, a few MB at most)."""


@functools.lru_cache(maxsize=MEASURED_KEPT)
def x_length(text: str) -> int:
    """X's weighted length (twitter-text v3): what must stay within 280."""
    text = unicodedata.normalize("NFC", text)
    # Entities (a URL, 23; a listed emoji sequence, 2) replace the characters they span.
    # Emoji are looked for in the whole text, URLs included, as twitter-text does: then,
    # from left to right, an entity that begins where counting stands is taken (a URL before
    # an emoji), and one that begins inside an entity already taken is not.
    urls = url_matches(text, schemeless=True)
    entities = [(url.start, 0, url.counted_end, X_URL_LENGTH) for url in urls]
    entities += [(start, 1, end, EMOJI_WEIGHT) for start, end in _emoji_spans(text)]
    total, position = _weight(text), 0
    for start, _, end, weight in sorted(entities):
        if start < position:
            continue
        total += weight - _weight(text[start:end])
        position = end
    return total


def x_invalid(text: str) -> bool:
    """Whether twitter-text calls ``text`` invalid whatever its length: empty, or holding a
    character it refuses (U+FEFF, U+FFFE, U+FFFF; :mod:`publishers.render.unpostable`)."""
    return not text or UNPOSTABLE.search(text) is not None


# ---------------------------------------------------------------------------------------
# Bluesky, Mastodon, Facebook, Discord

_GRAPHEME = regex.compile(r"\X")
# The characters that make a cluster of more than one code point (UAX #29: CR of CR LF,
# combining marks, joiners, emoji modifiers, flags, Hangul jamo, prepended marks).
_JOINING_STRETCH = regex.compile(
    r"[\r\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=Regional_Indicator}\p{GCB=Prepend}"
    r"\p{GCB=SpacingMark}\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}]+"
)
# Mastodon's Account::MENTION_RE: "@user" or "@user@domain", not after "=", "/" or a word
# character. [[:word:]] in Ruby is letters, marks, numbers and connectors.
_WORD_CHAR = r"[\p{L}\p{M}\p{N}\p{Pc}]"
_MENTION = regex.compile(
    rf"(?<![=/]|{_WORD_CHAR})@(?P<user>[a-z0-9_]+(?:[.\-]+[a-z0-9_]+)*)"
    rf"(?:@(?P<domain>{_WORD_CHAR}+(?:[.\-]+{_WORD_CHAR}+)*))?",
    regex.IGNORECASE,
)
# twitter-text's end_mention_match: a match followed by "@", a Latin accent or "://" is no
# mention. Mastodon's extractor checks it after the match, which is then dropped whole (the
# expression does not try a shorter match), and the scan goes on after it.
_NOT_A_MENTION_AFTER = regex.compile(rf"[@\uFF20{LATIN_ACCENTS}]|://")
# Mastodon's Extractor::MAX_DOMAIN_LENGTH: a mention whose domain is longer is no mention, and
# counts as written (app/lib/extractor.rb, extract_mentions_or_lists_with_indices).
MASTODON_MAX_MENTION_DOMAIN = 253


_NON_JOINING: set[str] = set()
"""Characters seen that join no neighbour into a cluster (most text reuses a few dozen)."""
_NON_JOINING_KEPT = 50_000
"""At most this many are remembered, so the set stays small (~3 MB) whatever comes."""


def has_joining(text: str) -> bool:
    """Whether a grapheme cluster of ``text`` may be more than one code point (a joining
    character, or CR, is in it). A set test for the characters already seen: testing the
    Unicode classes again at every measurement was most of a thread's splitting."""
    characters = set(text)
    if characters <= _NON_JOINING:
        return False
    for character in characters - _NON_JOINING:
        if _JOINING_STRETCH.match(character) is not None:
            return True
        if len(_NON_JOINING) < _NON_JOINING_KEPT:
            _NON_JOINING.add(character)
    return False


def graphemes(text: str) -> int:
    """Extended grapheme clusters (Unicode UAX #29), what a reader sees as characters.

    Only characters that can join a neighbour (marks, joiners, regional indicators, Hangul
    jamo, CR, prepended signs) can make a cluster longer than one code point, and a cluster
    reaches at most one plain character either side of them. So clusters are found only in
    those stretches; everywhere else a code point is a cluster. Same count, a fraction of the
    time of segmenting the whole text.
    """
    if text.isascii():
        return len(text) - text.count("\r\n")
    if not has_joining(text):
        return len(text)
    windows: list[list[int]] = []
    for stretch in _JOINING_STRETCH.finditer(text):
        start, end = max(stretch.start() - 1, 0), min(stretch.end() + 1, len(text))
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    count = len(text)
    for start, end in windows:
        count += len(_GRAPHEME.findall(text, start, end)) - (end - start)
    return count


@functools.lru_cache(maxsize=MEASURED_KEPT)
def bluesky_length(text: str) -> int:
    """Bluesky counts graphemes (limit 300); the UTF-8 byte limit is checked by ``fits``."""
    return graphemes(text)


@functools.lru_cache(maxsize=MEASURED_KEPT)
def mastodon_length(text: str, *, url_length: int = MASTODON_URL_LENGTH) -> int:
    """Graphemes, with each http(s) URL as 23 and each ``@user@domain`` as ``@user`` (a domain
    over 253 characters makes it no mention: it counts as written).

    ``url_length`` is the instance's ``characters_reserved_per_url`` (23 unless changed).
    """
    entities: list[tuple[int, int, str]] = [
        (start, end, "x" * url_length) for start, end in find_urls(text, schemeless=False)
    ]
    if "@" in text:
        entities += [
            (mention.start(), mention.end(), "@" + mention.group("user"))
            for mention in _MENTION.finditer(text)
            if not _NOT_A_MENTION_AFTER.match(text, mention.end())
            and len(mention.group("domain") or "") <= MASTODON_MAX_MENTION_DOMAIN
        ]
    if not entities:
        return graphemes(text)
    entities.sort(key=lambda entity: entity[0])
    pieces: list[str] = []
    position = 0
    for start, end, replacement in entities:
        if start < position:  # overlaps an entity already taken (Mastodon drops it)
            continue
        pieces += [text[position:start], replacement]
        position = end
    pieces.append(text[position:])
    return graphemes("".join(pieces))


def facebook_length(text: str) -> int:
    """Code points: the unit of the 63,206 figure third parties cite (no official rule)."""
    return len(text)


def discord_length(text: str) -> int:
    """Discord trims leading and trailing whitespace and counts code points."""
    return len(text.strip())


# ---------------------------------------------------------------------------------------
# Counters


@dataclass(frozen=True)
class Counter:
    """One platform's ruler: its limit and how it measures a post.

    ``limit`` is a constructor argument, so an instance that allows longer posts (Mastodon
    servers often do) gets its own counter: ``mastodon_counter(1000)``.
    """

    platform: str
    limit: int
    measure: Callable[[str], int] = field(repr=False, compare=False)
    max_utf8_bytes: int | None = None
    refuses: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    """What the platform refuses whatever the length (X: an empty text, U+FEFF...)."""

    def length(self, text: str) -> int:
        """The length as the platform counts it."""
        return self.measure(text)

    def fits(self, text: str, limit: int | None = None) -> bool:
        """Whether the platform accepts ``text`` as one post (Bluesky also checks bytes, X
        the characters it refuses).

        ``limit`` asks for less than the platform allows: room kept for a header or link.
        """
        if self.max_utf8_bytes is not None and len(text.encode("utf-8")) > self.max_utf8_bytes:
            return False
        if self.refuses is not None and self.refuses(text):
            return False
        return self.measure(text) <= (self.limit if limit is None else min(limit, self.limit))

    def with_limit(self, limit: int) -> Counter:
        """The same ruler with another limit."""
        return replace(self, limit=limit)


def mastodon_counter(
    limit: int = MASTODON_DEFAULT_LIMIT, url_length: int = MASTODON_URL_LENGTH
) -> Counter:
    """Mastodon's ruler for an instance: its ``configuration.statuses`` ``max_characters``
    and ``characters_reserved_per_url`` (GET /api/v2/instance)."""
    if url_length == MASTODON_URL_LENGTH:
        return Counter("mastodon", limit, mastodon_length)
    return Counter("mastodon", limit, functools.partial(mastodon_length, url_length=url_length))


COUNTERS: dict[str, Counter] = {
    "x": Counter("x", X_LIMIT, x_length, refuses=x_invalid),
    "bluesky": Counter("bluesky", BLUESKY_LIMIT, bluesky_length, BLUESKY_MAX_UTF8_BYTES),
    "mastodon": mastodon_counter(),
    "facebook": Counter("facebook", FACEBOOK_LIMIT, facebook_length),
    "discord": Counter("discord", DISCORD_LIMIT, discord_length),
}
