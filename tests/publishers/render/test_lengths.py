"""Each platform's length, counted as that platform counts it (tests/fixtures/LIMITS.md).

X is checked against an independent implementation, the twitter-text-parser package
(``twitter_text.parse_tweet``), on generated texts (URLs, bare domains, emoji of every Unicode
version and sequences of them, flags, keycaps, CJK, combining marks, long words, converted math,
the characters twitter-text refuses) and on the seed summaries: the weighted length and whether
the text is a valid post. That package differs from the official twitter-text JavaScript in two
documented ways (LIMITS.md, "X counting"), where we follow the official rules; exactly those
cases are kept out of the agreement test and pinned in their own table:

- a bare © or ® (the package counts 2, the JavaScript 1);
- CRLF (the package folds it to one character first).

Bluesky is checked against ``regex``'s ``\\X`` plus UTF-8 bytes, Mastodon against its rule
applied to texts whose URLs and mentions are known because the test placed them.
"""

# The expected values are the Unicode math characters themselves (−, ℝ, ∣), on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
import regex
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet
from twitter_text.regexp.emoji import emoji_list
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_gtld import valid_gtld

from publishers.render.emoji_sequences import listed
from publishers.render.lengths import (
    BLUESKY_MAX_UTF8_BYTES,
    COUNTERS,
    Counter,
    bluesky_length,
    discord_length,
    facebook_length,
    graphemes,
    mastodon_counter,
    mastodon_length,
    x_length,
)
from publishers.render.markdown_text import to_plain
from publishers.render.url_grammar import find_urls

SUMMARIES = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "summaries" / "shortscience_home.json").read_text(
        encoding="utf-8"
    )
)["summaries"]


def port_length(text: str) -> int:
    """X's weighted length by the independent implementation."""
    return parse_tweet(text).weightedLength


def port_deviates(text: str) -> bool:
    """The documented cases where the port differs from the official JavaScript."""
    normalized = unicodedata.normalize("NFC", text)
    return "\r" in normalized or re.search("[\u00a9\u00ae](?!\ufe0f)", normalized) is not None


# ---------------------------------------------------------------------------------------
# Generated texts

PORT_EMOJI = sorted({entry.emoji for entry in emoji_list} - {"\u00a9", "\u00ae"})
TLDS = [
    "com",
    "org",
    "net",
    "io",
    "ai",
    "co",
    "jp",
    "uk",
    "de",
    "info",
    "dev",
    "app",
    "xyz",
    "edu",
    "onion",
    "co.uk",
    "中国",
    "рф",
    "香港",
    "भारत",
    "nonexistenttld",
]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
LABEL = st.one_of(
    st.text(alphabet=ALNUM, min_size=1, max_size=8),
    st.tuples(
        st.text(alphabet=ALNUM, min_size=1, max_size=4),
        st.text(alphabet=ALNUM, min_size=1, max_size=4),
    ).map("-".join),
)
PATH = st.lists(
    st.text(alphabet=ALNUM + "ABC_-.~%()!*';:@&=+$,", max_size=12), min_size=1, max_size=3
).map(lambda segments: "".join("/" + segment for segment in segments))
QUERY = st.text(alphabet=ALNUM + "=&_-.", min_size=1, max_size=12).map(lambda query: "?" + query)
# Paths and queries that end where a URL may end, so the whole piece is the URL.
WHOLE_PATH = st.lists(
    st.tuples(st.text(alphabet=ALNUM + "_-.~", max_size=10), st.sampled_from(ALNUM + "_-/")),
    min_size=1,
    max_size=3,
).map(lambda segments: "".join("/" + body + end for body, end in segments))
WHOLE_QUERY = st.tuples(
    st.text(alphabet=ALNUM + "=&_.", max_size=10), st.sampled_from(ALNUM + "=&_")
).map(lambda query: "?" + "".join(query))


@st.composite
def urls(
    draw: st.DrawFn,
    *,
    schemes: tuple[str, ...] = ("", "http://", "https://"),
    paths: st.SearchStrategy[str] = PATH,
    queries: st.SearchStrategy[str] = QUERY,
) -> str:
    scheme = draw(st.sampled_from(schemes))
    labels = draw(st.lists(LABEL, min_size=1, max_size=3))
    tld = draw(st.sampled_from(TLDS))
    port = draw(st.sampled_from(["", "", ":8080"]))
    path = draw(st.one_of(st.just(""), paths))
    query = draw(st.one_of(st.just(""), queries))
    return f"{scheme}{'.'.join(labels)}.{tld}{port}{path}{query}"


WORDS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=12),
    st.text(alphabet="éñüßøçàÅ", min_size=1, max_size=4),
    st.text(alphabet="中文摘要注意力机制日本語の要約한국어요약", min_size=1, max_size=8),
    st.text(alphabet="абвгдеж", min_size=1, max_size=6),
    st.sampled_from(["e\u0301", "a\u0308\u0301", "नमस्ते", "ไทย", "Ω", "µ", "ﬁ", "K"]),
    st.sampled_from(["θₜ₊₁ = θₜ − αₜ ∇f", "ℒ(ϕ) := 𝔼_f[f(θ*(f, ϕ))]", "ℝ^(dim(θ))", "x²ⁿ"]),
    st.just("Rechtsschutzversicherungsgesellschaften" * 2),
    st.sampled_from(["e.g.", "i.e.", "3.14", "a.b", "README.md", "@user", "#tag", "$5"]),
)
SEPARATORS = st.sampled_from(
    [
        " ",
        " ",
        "  ",
        "\n",
        "\n\n",
        "\t",
        ", ",
        ". ",
        "(",
        ")",
        "…",
        "\u3000",
        "\u00a0",
        "-",
        "/",
        ":",
        "'",
        '"',
    ]
)
# The deviations, drawn now and then so that the filter below is exercised on purpose.
DEVIATIONS = st.sampled_from(["\u00a9", "\u00ae", "\r\n", "\u00a9\ufe0f"])
# What twitter-text refuses in a post, whatever its length.
REFUSED = st.sampled_from(["\ufeff", "\ufffe", "\uffff"])

# Emoji of every Unicode version: each code point with the Emoji property in the regex
# module's Unicode database (newer than the port's Emoji 12.0 list and than Python's own
# unicodedata), but the ASCII keycap bases and the two deviations.
EMOJI_POINTS = sorted(
    set(regex.findall(r"\p{Emoji}", "".join(map(chr, range(0x110000)))))
    - set("0123456789#*\u00a9\u00ae")
)
MODIFIERS = [chr(point) for point in range(0x1F3FB, 0x1F400)]
REGIONAL_INDICATORS = [chr(point) for point in range(0x1F1E6, 0x1F200)]
TAG_LETTERS = [chr(point) for point in range(0xE0061, 0xE007B)]
ZWJ, VS16, KEYCAP, CANCEL_TAG, BLACK_FLAG = "\u200d", "\ufe0f", "\u20e3", "\U000e007f", "🏴"
# Sequences newer than the port's list, each with the Emoji version that brought it.
NEWER_EMOJI = [
    "\U0001f3f3\ufe0f\u200d\u26a7\ufe0f",  # 13.0 transgender flag
    "\U0001f9d1\u200d\U0001f384",  # 13.0 mx claus
    "\U0001f43b\u200d\u2744\ufe0f",  # 13.0 polar bear
    "\U0001f408\u200d\u2b1b",  # 13.0 black cat
    "\U0001f972",  # 13.0 smiling face with tear
    "\u2764\ufe0f\u200d\U0001f525",  # 13.1 heart on fire
    "\u2764\ufe0f\u200d\U0001fa79",  # 13.1 mending heart
    "\U0001f62e\u200d\U0001f4a8",  # 13.1 face exhaling
    "\U0001f636\u200d\U0001f32b\ufe0f",  # 13.1 face in clouds
    "\U0001f48f\U0001f3fb",  # 13.1 kiss with a skin tone
    "\U0001f9d1\U0001f3fb\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f9d1\U0001f3fc",  # 13.1
    "\U0001faf1\U0001f3fb\u200d\U0001faf2\U0001f3ff",  # 14.0 handshake, two skin tones
    "\U0001fae0",  # 14.0 melting face
    "\U0001fac3\U0001f3fd",  # 14.0 pregnant person, medium skin tone
    "\U0001fae8",  # 15.0 shaking face
    "\U0001f426\u200d\u2b1b",  # 15.0 black bird
    "\U0001f426\u200d\U0001f525",  # 15.1 phoenix
    "\U0001f34b\u200d\U0001f7e9",  # 15.1 lime
    "\U0001f642\u200d\u2194\ufe0f",  # 15.1 head shaking horizontally
    "\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2",  # 15.1 family: adult, adult, child
    "\U0001f6b6\u200d\u27a1\ufe0f",  # 15.1 person walking facing right
    "\u26d3\ufe0f\u200d\U0001f4a5",  # 15.1 broken chain
    "\U0001fae9",  # 16.0 face with bags under eyes
    "\U0001fac6",  # 16.0 fingerprint
    "\U0001f1e8\U0001f1f6",  # 16.0 flag: Sark
]


@st.composite
def emoji_element(draw: st.DrawFn) -> str:
    """One emoji of any version, bare, with the presentation selector or a skin tone."""
    base = draw(st.sampled_from(EMOJI_POINTS))
    return base + draw(st.sampled_from(["", "", VS16, *MODIFIERS]))


@st.composite
def emoji_sequences(draw: st.DrawFn) -> str:
    """Emoji as people write them, listed by the port or not: ZWJ sequences, flags,
    subdivision flags, keycaps, the port's own entries whole or with a code point missing,
    and sequences of every Emoji version since the port's list."""
    kind = draw(st.sampled_from(["zwj", "flag", "tag", "keycap", "listed", "cut", "newer"]))
    if kind == "zwj":
        return ZWJ.join(draw(st.lists(emoji_element(), min_size=1, max_size=4)))
    if kind == "flag":
        return "".join(draw(st.lists(st.sampled_from(REGIONAL_INDICATORS), min_size=1, max_size=3)))
    if kind == "tag":
        letters = "".join(draw(st.lists(st.sampled_from(TAG_LETTERS), min_size=1, max_size=6)))
        return BLACK_FLAG + letters + draw(st.sampled_from([CANCEL_TAG, ""]))
    if kind == "keycap":
        return draw(st.sampled_from("0123456789#*")) + draw(st.sampled_from(["", VS16])) + KEYCAP
    if kind == "newer":
        return draw(st.sampled_from(NEWER_EMOJI))
    listed = draw(st.sampled_from(PORT_EMOJI))
    if kind == "cut" and len(listed) > 1:
        missing = draw(st.integers(0, len(listed) - 1))
        return listed[:missing] + listed[missing + 1 :]
    return listed


NON_LATIN = st.text(alphabet="абвжёЖαβσΩ中文日本語한ア", min_size=1, max_size=3)


@st.composite
def glued_domains(draw: st.DrawFn) -> str:
    """A scheme-less domain with non-Latin letters right before or inside it, the same
    domain now and then again in its path ("жж0.com/ж0.com"): twitter-text's domain takes
    those letters in, counts only the ASCII part, and rebuilds the URL it skips by replacing
    the domain wherever it recurs."""
    before = draw(st.one_of(st.just(""), NON_LATIN))
    inside = draw(st.one_of(st.just(""), NON_LATIN))
    label = draw(st.text(alphabet=ALNUM, min_size=1, max_size=4))
    domain = f"{inside}{label}.{draw(st.sampled_from(TLDS))}"
    path = draw(
        st.sampled_from(["", "/", f"/{domain}", f"/{domain}/{domain}", "/a", f"/x{domain}"])
    )
    return f"{before}{domain}{path}{draw(st.sampled_from(['', '?q=1', domain]))}"


X_TEXTS = st.lists(
    st.one_of(
        WORDS,
        SEPARATORS,
        urls(),
        glued_domains(),
        st.sampled_from(PORT_EMOJI),
        emoji_sequences(),
        DEVIATIONS,
        REFUSED,
    ),
    max_size=25,
).map("".join)


@given(X_TEXTS)
@example("\U0001f3f3\ufe0f\u200d\u26a7\ufe0f")  # Emoji 13.0: the port counts its parts, 7
@example("see \ufeffexample.com")
@example("")
@example("аа0.com/а0.com")  # the domain recurs in the path (Cyrillic а)
@settings(max_examples=500, deadline=None)
def test_x_length_and_validity_agree_with_twitter_text(text: str) -> None:
    assume(not port_deviates(text))
    parsed = parse_tweet(text)
    assert x_length(text) == parsed.weightedLength
    assert COUNTERS["x"].fits(text) is parsed.valid


def test_the_emoji_list_is_the_ports() -> None:
    assert listed() == {entry.emoji for entry in emoji_list if len(entry.codepoint.split()) > 1}


def test_every_listed_emoji_sequence_weighs_2_as_in_twitter_text() -> None:
    for sequence in sorted(listed()):
        text = f"a{sequence}b"
        assert x_length(text) == port_length(text) == 4, ascii(sequence)


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda summary: str(summary["arxiv_id"]))
def test_x_length_agrees_with_twitter_text_on_the_seed_summaries(summary: dict[str, str]) -> None:
    markdown = summary["summary_markdown"]
    plain = to_plain(markdown).text
    for text in (markdown, plain):
        assert x_length(text) == port_length(text)
        assert COUNTERS["x"].fits(text) is parse_tweet(text).valid


def _port_tlds() -> list[str]:
    """The top-level domains the port knows, read from its expressions."""
    found: list[str] = []
    for pattern in (valid_gtld.pattern, valid_cctld.pattern):
        body = pattern[pattern.index("(?:(?:") + 6 : pattern.index(")(?=")]
        found += body.split("|")
    return found


def test_every_top_level_domain_twitter_text_knows_makes_a_url() -> None:
    tlds = _port_tlds()
    assert len(tlds) > 1500
    for tld in tlds:
        text = f"see example.{tld} and https://a.{tld}/x now"
        assert x_length(text) == port_length(text) == 4 + 23 + 5 + 23 + 4, tld


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("This is a test.", 15),
        ("http://test.com", 23),
        ("test.com", 23),
        ("Test https://test.com test https://test.com test.com test", 86),
        ("https://arxiv.org/abs/1606.04474v1?context=cs", 23),
        ("arxiv.org/abs/1606.04474", 23),
        ("e.g. 3.14 and README.md", 9 + 1 + 3 + 1 + 23),
        ("H🐱☺👨‍👩‍👧‍👦", 7),  # ZWJ family: one emoji, weight 2
        ("👍🏽 🇪🇺 1️⃣ #️⃣", 2 + 1 + 2 + 1 + 2 + 1 + 2),
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 2),  # Scotland
        ("中文摘要", 8),
        ("Cafe\u0301", 4),  # NFC first: "Café"
        ("θₜ₊₁ = θₜ − αₜ ∇f", 24),  # Greek weighs 1; subscripts, − and ∇ weigh 2
        ("\u2018quoted\u2019 \u2014 dash", 15),  # curly quotes and dashes weigh 1
        ("\u2026", 2),  # the ellipsis lies outside the weight-1 ranges
        ("\U0001f3f3\ufe0f\u200d\u26a7\ufe0f", 7),  # Emoji 13.0, not in the list: its parts
        ("\u2764\ufe0f\u200d\U0001f525", 5),  # Emoji 13.1: ❤️ (listed) + ZWJ + 🔥
        ("\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1", 2),  # Emoji 12.0, listed
    ],
)
def test_x_weighted_length_examples(text: str, length: int) -> None:
    assert x_length(text) == length


@pytest.mark.parametrize(
    ("text", "official", "port"),
    [
        ("\u00a9", 1, 2),  # bare ©: not an emoji without U+FE0F
        ("\u00ae 2026", 6, 7),
        ("a\r\nb", 4, 3),  # CRLF is two characters
    ],
)
def test_x_follows_the_official_rules_where_the_port_differs(
    text: str, official: int, port: int
) -> None:
    assert x_length(text) == official
    assert port_length(text) == port  # the documented deviation is real


@pytest.mark.parametrize("scheme", ["https://", "http://"])
def test_x_counts_a_url_past_4096_characters_in_full(scheme: str) -> None:
    """twitter-text adds the protocol's length once more before comparing with 4,096."""
    longest = scheme + "example.com/" + "a" * (4096 - len(scheme) * 2 - len("example.com/"))
    too_long = longest + "a"
    assert x_length(longest) == port_length(longest) == 23
    assert x_length(too_long) == port_length(too_long) == len(too_long)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        # twitter-text's domain takes in the letters before it ("аа0.com" is its domain
        # after the preceding "а") but counts only its ASCII part ("0.com", 23); the rest
        # counts letter by letter.
        ("аа0.com", 1 + 1 + 23),
        ("see аа0.com/b", 4 + 1 + 1 + 23),
        ("жexample.com/abc", 1 + 23),
        ("αexample.org", 1 + 23),
        ("中文example.com", 2 + 2 + 23),
        # The URL twitter-text skips is rebuilt by replacing the domain with its ASCII part,
        # wherever the domain recurs (the port's str.replace): "а0.com/а0.com" becomes
        # "0.com/0.com", 11 characters, so the last "m" of the 12 counts on its own.
        ("аа0.com/а0.com", 1 + 1 + 23 + 1),
        ("ex.аа0.com/ex.аа0.com", 3 + 1 + 1 + 23 + 5),
        # At the start the first letter is the "preceding character": the domain is "0.com",
        # all ASCII, and nothing is replaced.
        ("а0.com/а0.com/а0.com", 1 + 23),
        # Greek and CJK are no path characters: the path ends at "/", and the recurring
        # domain holds a URL of its own.
        ("αβ1.org/αβ1.org", 1 + 1 + 23 + 1 + 1 + 23),
        ("中文a.jp/中文a.jp?x=1", 2 + 2 + 23 + 2 + 2 + 23 + 4),
        ("σ.example.org/σ.example.org", 1 + 1 + 23 + 13),
        # No ASCII label before the top-level domain: no URL.
        ("пример.рф/а", 11),
        ("aпример.com/x", 13),
        ("日本語.jp/日本語.jp", 2 * 3 + 4 + 2 * 3 + 3),
    ],
)
def test_x_counts_non_latin_letters_before_or_inside_a_domain_as_twitter_text(
    text: str, length: int
) -> None:
    assert x_length(text) == port_length(text) == length
    assert COUNTERS["x"].fits(text) is parse_tweet(text).valid


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://arxiv.org/abs/1 now", [(4, 27)]),
        ("(https://en.wikipedia.org/wiki/Sanity_(test))", [(1, 44)]),
        ("arxiv.org and example.com?q=1", [(0, 9), (14, 25)]),  # no path: query not included
        ("https://t.co/abc123/extra", [(0, 19)]),
        ("v1.2 e.g. fig.png a.b", []),
    ],
)
def test_find_urls_as_twitter_text_does(text: str, urls: list[tuple[int, int]]) -> None:
    assert find_urls(text) == urls


def test_find_urls_stays_fast_on_dotted_garbage() -> None:
    """A long word of dots and letters is scanned in linear time (no result, no hang)."""
    assert find_urls("a." * 20_000 + "!x.com") == [(40_001, 40_006)]


# ---------------------------------------------------------------------------------------
# Bluesky

JOINING = st.text(
    alphabet=(
        "ae \n\r\u0301\u0308\u200d\ufe0f\u20e3👨👩🏽🇺🇸\u1100\u1161\u11a8가\u0600\u0903क्षम\u0e33日"
    ),
    max_size=40,
)


@given(st.one_of(st.text(max_size=120), JOINING))
@settings(max_examples=400)
def test_bluesky_counts_grapheme_clusters_like_regex(text: str) -> None:
    assert bluesky_length(text) == graphemes(text) == len(regex.findall(r"\X", text))


@given(st.one_of(st.text(max_size=120), JOINING))
@settings(max_examples=200)
def test_bluesky_fits_only_within_both_limits(text: str) -> None:
    expected = len(regex.findall(r"\X", text)) <= 300 and len(text.encode()) <= 3000
    assert COUNTERS["bluesky"].fits(text) is expected


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("नमस्ते", 3),  # LIMITS.md: Intl.Segmenter says 3
        ("👨‍👩‍👧‍👦", 1),
        ("🇪🇺", 1),
        ("e\u0301", 1),
        ("a\r\nb", 3),
        ("https://example.com/a", 21),  # URLs count as written
    ],
)
def test_bluesky_length_examples(text: str, length: int) -> None:
    assert bluesky_length(text) == length


def test_bluesky_rejects_300_graphemes_over_3000_bytes() -> None:
    family = "👨‍👩‍👧‍👦" * 300
    assert bluesky_length(family) == 300
    assert len(family.encode()) > BLUESKY_MAX_UTF8_BYTES
    assert not COUNTERS["bluesky"].fits(family)
    assert COUNTERS["bluesky"].fits("a" * 300)


# ---------------------------------------------------------------------------------------
# Mastodon


PORT_TLDS = frozenset(_port_tlds())
MASTODON_URL = "x" * 23


def mastodon_counted_url(url: str) -> str:
    """What Mastodon counts for a generated http(s) URL.

    Under a known top-level domain the whole URL is one URL. Under ``nonexistenttld`` it is
    not, but twitter-text's grammar (Mastodon's extractor uses it) takes the longest
    ``scheme://labels.tld`` before it that ends in a known top-level domain: in
    ``http://0.ac.nonexistenttld`` the URL is ``http://0.ac`` (the port agrees), and the rest
    counts as written. The first label is never that top-level domain: a domain needs a name.
    A t.co link takes no path beyond its slug (a query right after the slug it keeps): in
    ``http://t.co/a/a`` the URL is ``http://t.co/a``.
    """
    tco = re.match(r"https?://t\.co/[a-z0-9]+(?:\?.*)?", url, re.IGNORECASE)
    if tco:
        return MASTODON_URL + url[tco.end() :]
    if ".nonexistenttld" not in url:
        return MASTODON_URL
    rest = url.split("://", 1)[1]
    host, tail = rest.split(".nonexistenttld", 1)
    labels = host.split(".")
    for last in range(len(labels) - 1, 0, -1):
        if labels[last] in PORT_TLDS:
            after = "".join("." + label for label in labels[last + 1 :])
            return MASTODON_URL + after + ".nonexistenttld" + tail
    return url


@st.composite
def mastodon_texts(draw: st.DrawFn) -> tuple[str, str]:
    """A text and, built alongside, what Mastodon counts: URLs as 23 x, mentions as @user."""
    text, counted = [], []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["word", "url", "bare", "mention", "local"]))
        if kind == "url":
            whole = urls(schemes=("http://", "https://"), paths=WHOLE_PATH, queries=WHOLE_QUERY)
            piece = draw(whole)
            text.append(piece)
            counted.append(mastodon_counted_url(piece))
        elif kind == "bare":
            piece = draw(urls(schemes=("",), paths=WHOLE_PATH, queries=WHOLE_QUERY))
            text.append(piece)
            counted.append(piece)  # no scheme: counted as written
        elif kind in ("mention", "local"):
            user = draw(st.text(alphabet=ALNUM + "_", min_size=1, max_size=10))
            domain = f"@{draw(LABEL)}.social" if kind == "mention" else ""
            text.append(f"@{user}{domain}")
            counted.append(f"@{user}")
        else:
            piece = draw(WORDS.filter(lambda word: "@" not in word and "." not in word))
            text.append(piece)
            counted.append(piece)
        separator = draw(st.sampled_from([" ", "\n", " — "]))
        text.append(separator)
        counted.append(separator)
    return "".join(text), "".join(counted)


@given(mastodon_texts())
@example(("http://0.ac.nonexistenttld ", MASTODON_URL + ".nonexistenttld "))  # found by Hypothesis
@example(("https://a.com.b-c.net.nonexistenttld/x ", MASTODON_URL + ".nonexistenttld/x "))
@example(("http://ab.nonexistenttld/p ", "http://ab.nonexistenttld/p "))
@example(("http://t.co/a/a ", MASTODON_URL + "/a "))  # found by Hypothesis
@example(("https://t.co/ab?q=1 ", MASTODON_URL + " "))
@settings(max_examples=200, deadline=None)
def test_mastodon_length_follows_its_rule(case: tuple[str, str]) -> None:
    text, counted = case
    assert mastodon_length(text) == len(regex.findall(r"\X", counted))


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("https://example.com/a/very/long/path?with=query", 23),
        ("arxiv.org/abs/1606.04474", 24),  # no scheme: in full
        ("@user@mastodon.social hello", 11),
        ("mail a@b.com", 12),  # an address is not a mention
        ("@everyone", 9),
        ("see https://arxiv.org/abs/1606.04474.", 4 + 23 + 1),
        ("http://0.ac.nonexistenttld", 23 + 15),  # http://0.ac is a URL, as in twitter-text
        ("e\u0301 👨‍👩‍👧", 3),
    ],
)
def test_mastodon_length_examples(text: str, length: int) -> None:
    assert mastodon_length(text) == length


@pytest.mark.parametrize("length", [1, 200, 253])
def test_mastodon_counts_a_mention_whose_domain_fits_253_as_its_user(length: int) -> None:
    """Mastodon's extractor drops the domain of ``@user@domain`` (Extractor::MAX_DOMAIN_LENGTH
    is 253, app/lib/extractor.rb)."""
    domain = "b" * (length - 4) + ".com" if length > 4 else "b" * length
    assert mastodon_length(f"hi @alice@{domain} there") == len("hi @alice there")


@pytest.mark.parametrize("length", [254, 300, 5004])
def test_mastodon_counts_a_mention_whose_domain_is_over_253_as_written(length: int) -> None:
    """A longer domain makes it no mention at all (Mastodon's own spec: "does count both
    parts of remote usernames for overly long domains")."""
    text = f"hi @alice@{'b' * (length - 4)}.com there"
    assert mastodon_length(text) == len(text)
    assert not COUNTERS["mastodon"].fits(f"@alice@{'b' * 500}.com")


def test_mastodon_does_not_shorten_a_mention_followed_by_an_at_sign() -> None:
    """twitter-text's end_mention_match drops the whole match; it does not try a shorter
    domain ("@alice@example.co" before "m@x")."""
    assert mastodon_length("@alice@example.com@x") == 20
    assert mastodon_length("@alice@example.com! x") == len("@alice! x")


def test_mastodon_counts_a_url_over_4096_characters_in_full() -> None:
    longest = "https://example.com/" + "a" * (4096 - len("https://example.com/"))
    assert mastodon_length(longest) == 23
    assert mastodon_length(longest + "a") == 4097


def test_mastodon_instances_set_their_own_limit_and_url_length() -> None:
    text = "x" * 600
    assert not COUNTERS["mastodon"].fits(text)
    assert mastodon_counter(1000).fits(text)
    assert mastodon_counter(1000).limit == 1000
    assert mastodon_counter(url_length=30).length("https://example.com") == 30


# ---------------------------------------------------------------------------------------
# Facebook, Discord, and the counters


def test_facebook_counts_code_points_up_to_the_cited_63206() -> None:
    assert facebook_length("👨‍👩‍👧") == 5
    assert COUNTERS["facebook"].fits("a" * 63_206)
    assert not COUNTERS["facebook"].fits("a" * 63_207)


def test_discord_trims_whitespace_then_counts_code_points() -> None:
    assert discord_length("  héllo 👍🏽 \n") == 8
    assert COUNTERS["discord"].fits(" " * 100 + "a" * 2000 + "\n" * 5)
    assert not COUNTERS["discord"].fits("a" * 2001)


@pytest.mark.parametrize(
    ("platform", "limit"),
    [("x", 280), ("bluesky", 300), ("mastodon", 500), ("facebook", 63_206), ("discord", 2000)],
)
def test_one_counter_per_platform(platform: str, limit: int) -> None:
    counter = COUNTERS[platform]
    assert counter.platform == platform
    assert counter.limit == limit
    at_limit = "a" * limit
    assert counter.length(at_limit) == limit
    assert counter.fits(at_limit)
    assert not counter.fits(at_limit + "a")


@pytest.mark.parametrize("refused", ["\ufeff", "\ufffe", "\uffff"])
def test_x_refuses_what_twitter_text_calls_invalid_whatever_its_length(refused: str) -> None:
    text = f"A short TL;DR{refused} https://arxiv.org/abs/1606.04474"
    assert x_length(text) < 280
    assert not COUNTERS["x"].fits(text)
    assert not parse_tweet(text).valid
    assert COUNTERS["x"].fits(text.replace(refused, ""))


def test_x_refuses_an_empty_post() -> None:
    assert not COUNTERS["x"].fits("")
    assert not parse_tweet("").valid


def test_a_counter_with_another_limit_keeps_its_ruler() -> None:
    shorter: Counter = COUNTERS["x"].with_limit(250)
    assert shorter.limit == 250
    assert shorter.length("https://example.com") == 23
    assert not shorter.fits("a" * 251)
