"""A post too long for one network message, as a numbered thread of messages that fit.

Cuts fall where a reader expects them: at a paragraph break if one is reasonably near the
limit, else at a sentence end or line break, else between words (or between two CJK
characters, which need no space). A URL, a word, a converted math span (the ``atoms`` of
:class:`~publishers.render.markdown_text.PlainText`) and a grapheme cluster are never cut,
with one exception: a single atom or word longer than a whole part is cut, at its last space
that fits if it has one (math), else between grapheme clusters, so that the text still goes
out rather than being dropped.

Parts are numbered with a suffix, " 2/5", counted like everything else by the platform's own
:class:`~publishers.render.lengths.Counter`. The suffix's width depends on the total, so the
text is packed again until the total it was packed for is the total it produced.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import regex

from publishers.render.lengths import Counter, has_joining
from publishers.render.plain_text import PlainText
from publishers.render.url_grammar import find_urls

__all__ = ["Part", "split"]

# A paragraph break is preferred while it keeps at least this share of what would fit; a
# sentence end or line break, this share. Below that, the cut falls between words: ending
# a part far short of the limit costs more parts than the cleaner cut is worth.
_PARAGRAPH_FROM = 0.5
_SENTENCE_FROM = 0.6
# A long math span is cut at an inner space rather than mid-symbol while that keeps this share.
_INNER_SPACE_FROM = 0.5

_PARAGRAPH, _SENTENCE, _WORD = 3, 2, 1

_GRAPHEME = regex.compile(r"\X")
_WIDE = regex.compile(r"[\p{East_Asian_Width=Wide}\p{East_Asian_Width=Fullwidth}]")
_SPACE_RUN = re.compile(r"\s+")  # str.isspace()'s white space, as trim() uses
# A sentence ends at ".", "!", "?" or an ellipsis, maybe followed by closing quotes and brackets.
_SENTENCE_END = regex.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_SENTENCE_END_TAIL = frozenset(".!?\u2026\"')]\u201d\u2019")
"""What a sentence end (``_SENTENCE_END``) can end with: only then is the pattern tried."""
_CJK_SENTENCE_END = frozenset(
    ["\N{IDEOGRAPHIC FULL STOP}", "\N{FULLWIDTH EXCLAMATION MARK}", "\N{FULLWIDTH QUESTION MARK}"]
)


@dataclass(frozen=True)
class Part:
    """One message of a thread, and its length as the platform counts it."""

    text: str
    length: int


class _Cut(NamedTuple):
    """A place to cut: the part ends at ``end`` and the next begins at ``resume``."""

    end: int
    resume: int
    rank: int


def split(
    text: PlainText | str,
    counter: Counter,
    *,
    numbered: bool = True,
    limit: int | None = None,
) -> list[Part]:
    """``text`` as messages that each fit ``counter`` (and ``limit``, when smaller).

    Text that fits is one part, unnumbered. ``limit`` lets a template keep room for its
    own header or link. Raises ValueError when not even one character and the numbering fit.
    """
    budget = counter.limit if limit is None else min(limit, counter.limit)

    def fits(candidate: str) -> bool:
        return counter.fits(candidate, budget)

    source = text.text if isinstance(text, PlainText) else text
    body = source.strip()
    if not body:
        return []
    if fits(body):
        return [Part(body, counter.length(body))]
    atoms = text.atoms if isinstance(text, PlainText) else _url_atoms(text)
    layout = _Layout(source, atoms)
    # Parts hold at most ``budget`` each, so fewer than this many cannot do: packing for it
    # first usually gives the final numbering at once instead of after a packing for one.
    total = max(1, -(-counter.length(body) // budget)) if numbered else 0
    tried: dict[int, list[tuple[int, int]]] = {}
    while True:
        spans = _pack(layout, fits, total, budget)
        if len(spans) == total or not numbered:
            break
        tried[total] = spans
        if len(spans) in tried:
            # Packing for n parts gave m, and for m gave n (a digit more or less in the
            # numbering): keep the packing made for the wider numbering, whose parts only
            # get shorter when numbered with the smaller total.
            spans = tried[max(total, len(spans))]
            break
        total = len(spans)
    parts = []
    for number, (start, end) in enumerate(spans, start=1):
        part = layout.piece(start, end) + (_suffix(number, len(spans)) if numbered else "")
        if not fits(part):  # pragma: no cover - guarded by the packing itself
            raise RuntimeError("a thread part does not fit after numbering")
        parts.append(Part(part, counter.length(part)))
    return parts


def _url_atoms(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(find_urls(text, schemeless=False))


def _suffix(number: int, total: int) -> str:
    return f" {number}/{total}"


class _Layout:
    """Where ``text`` may be cut, worked out once for every packing attempt."""

    def __init__(self, text: str, atoms: Sequence[tuple[int, int]]) -> None:
        self.text = text
        joined = has_joining(text)
        # Without joining characters every position is a cluster boundary: ranges, which
        # index, slice and bisect like the lists, without building them.
        self.boundaries: Sequence[int] = _cluster_ends(text) if joined else range(1, len(text) + 1)
        # Without joining characters every position is a boundary (a range tests in O(1)).
        boundary_set: Container[int] = (
            set(self.boundaries) | {0} if joined else range(len(text) + 1)
        )
        inside = _inside_atoms(len(text), atoms)
        length = len(text)
        # Once per space of every text split, so in one comprehension: a space that starts
        # or ends the text, or falls inside an atom, is no cut; a single space after a
        # plain character is a cut between words, anything else is ranked.
        runs = [run.span() for run in _SPACE_RUN.finditer(text)]
        if joined:
            runs = _whole_clusters(runs, boundary_set)
        cuts: list[_Cut] = [
            _new_cut(
                _Cut,
                (
                    start,
                    end,
                    _WORD
                    if end - start == 1 and text[start] == " " and text[start - 1] not in _RANKED
                    else _rank(text, start, text[start:end]),
                ),
            )
            for start, end in runs
            if start and end != length and not inside[start] and not inside[end]
        ]
        if not text.isascii():
            wide = self._cjk_cuts(boundary_set, inside)
            if wide:  # space cuts come in order; these go between them
                cuts += wide
                cuts.sort(key=lambda cut: cut.end)
        self.cuts = cuts
        self.cut_ends = [cut.end for cut in cuts]
        # Where each grapheme cluster starts.
        self.starts: Sequence[int] = [0, *self.boundaries[:-1]] if joined else range(len(text))
        self.first, self.last = self.trim(0, len(text))
        self.atoms = sorted(atoms)
        self.atom_starts = [start for start, _ in self.atoms]

    def trim(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) without the white space at its ends, removed whole clusters at a time
        (a space that carries a combining mark is not white space to drop)."""
        text = self.text
        while start < end and text[start].isspace():
            following = self.boundaries[bisect.bisect_right(self.boundaries, start)]
            if following > end or not text[start:following].isspace():
                break
            start = following
        while end > start and text[end - 1].isspace():
            preceding = self.starts[bisect.bisect_left(self.boundaries, end)]
            if preceding < start or not text[preceding:end].isspace():
                break
            end = preceding
        return start, end

    def piece(self, start: int, end: int) -> str:
        trimmed_start, trimmed_end = self.trim(start, end)
        return self.text[trimmed_start:trimmed_end]

    def atom_around(self, position: int) -> tuple[int, int] | None:
        """The atom that ``position`` falls strictly inside, if any."""
        index = bisect.bisect_left(self.atom_starts, position) - 1
        if index >= 0 and self.atoms[index][1] > position:
            return self.atoms[index]
        return None

    def _cjk_cuts(self, boundary_set: Container[int], inside: list[bool]) -> list[_Cut]:
        """Next to a wide (CJK) character: those scripts need no spaces between words."""
        text = self.text
        positions: set[int] = set()
        for character in _wide_characters(text):
            found = text.find(character)
            while found >= 0:
                positions.update((found, found + 1))
                found = text.find(character, found + 1)
        cuts = []
        for position in sorted(positions):
            if not 0 < position < len(text) or inside[position] or position not in boundary_set:
                continue
            before, after = text[position - 1], text[position]
            if before.isspace() or after.isspace():
                continue
            rank = _SENTENCE if before in _CJK_SENTENCE_END else _WORD
            cuts.append(_Cut(position, position, rank))
        return cuts


_NOT_WIDE: set[str] = set()
"""Characters seen that are not wide (most text reuses a few dozen)."""
_NOT_WIDE_KEPT = 50_000
"""At most this many are remembered, so the set stays small whatever comes."""


def _wide_characters(text: str) -> set[str]:
    """The wide (CJK) characters of ``text``: each a single code point, tested once."""
    wide = set()
    for character in set(text) - _NOT_WIDE:
        if _WIDE.match(character) is not None:
            wide.add(character)
        elif len(_NOT_WIDE) < _NOT_WIDE_KEPT:
            _NOT_WIDE.add(character)
    return wide


def _cluster_ends(text: str) -> list[int]:
    """Where each grapheme cluster of ``text`` ends."""
    return [match.end() for match in _GRAPHEME.finditer(text)]


def _whole_clusters(
    runs: list[tuple[int, int]], boundary_set: Container[int]
) -> list[tuple[int, int]]:
    """Each run of white space narrowed to the clusters wholly inside it: a space that
    carries a combining mark, or follows a prepended one ("\u0600 "), is one cluster with
    its neighbour, but the spaces beside it still separate words."""
    kept = []
    for start, end in runs:
        while start < end and start not in boundary_set:
            start += 1
        while end > start and end not in boundary_set:
            end -= 1
        if start < end:
            kept.append((start, end))
    return kept


def _inside_atoms(length: int, atoms: Sequence[tuple[int, int]]) -> list[bool]:
    """For each position 0..length, whether a cut there would split an atom."""
    inside = [False] * (length + 1)
    for start, end in atoms:
        for position in range(max(start + 1, 0), min(end, length + 1)):
            inside[position] = True
    return inside


_RANKED = _SENTENCE_END_TAIL | _CJK_SENTENCE_END
"""After any other character, a single space is a cut between words."""
_new_cut = tuple.__new__
"""Builds a :class:`_Cut` without the named tuple's Python-level constructor."""


def _rank(text: str, start: int, space: str) -> int:
    if space.count("\n") >= 2:
        return _PARAGRAPH
    if "\n" in space:
        return _SENTENCE
    before = text[start - 1]
    if before in _SENTENCE_END_TAIL and _SENTENCE_END.search(text, max(0, start - 8), start):
        return _SENTENCE
    if before in _CJK_SENTENCE_END:
        return _SENTENCE
    return _WORD


def _pack(
    layout: _Layout, fits: Callable[[str], bool], total: int, budget: int
) -> list[tuple[int, int]]:
    """[start, end) of each part, packed greedily; ``total`` 0 means no numbering.

    ``budget`` in characters is where the search for each cut starts: most counters give
    one per character, so the answer is near it and few pieces are measured.
    """
    spans: list[tuple[int, int]] = []
    start = layout.first
    while start < layout.last:
        suffix = _suffix(len(spans) + 1, total) if total else ""

        def piece_fits(end: int, start: int = start, suffix: str = suffix) -> bool:
            return fits(layout.piece(start, end) + suffix)

        cut = _best_cut(layout, start, piece_fits, start + budget - len(suffix))
        if cut is None:
            end = _hard_cut(layout, start, piece_fits)
            spans.append((start, end))
            start = end
        else:
            spans.append((start, cut.end))
            start = cut.resume
        start = layout.trim(start, layout.last)[0]
    return spans


def _best_cut(
    layout: _Layout, start: int, piece_fits: Callable[[int], bool], near: int
) -> _Cut | None:
    """The cut a reader would choose among those that fit, or None if none does.

    The end of the text is the last candidate: when the rest fits, it is taken whole. It is
    found by the same galloping search as the cuts, so a long remainder is never measured
    whole at every part.
    """
    first = bisect.bisect_right(layout.cut_ends, start)
    candidates = [*layout.cuts[first:], _Cut(layout.last, layout.last, _PARAGRAPH)]
    hint = bisect.bisect_right(layout.cut_ends, near, lo=first) - first - 1
    furthest = _last_fitting(
        len(candidates), lambda index: piece_fits(candidates[index].end), hint=hint
    )
    if furthest is None:
        return None
    best = candidates[furthest]
    if furthest == len(candidates) - 1:
        return best
    reach = best.end - start
    for rank, share in ((_PARAGRAPH, _PARAGRAPH_FROM), (_SENTENCE, _SENTENCE_FROM)):
        for cut in reversed(candidates[: furthest + 1]):
            if cut.end - start < reach * share:
                break
            if cut.rank >= rank:
                return cut
    return best


def _hard_cut(layout: _Layout, start: int, piece_fits: Callable[[int], bool]) -> int:
    """Inside a word longer than a whole part: before an atom it would split, else (an atom
    itself too long) at a space if one is near, else between grapheme clusters."""
    first = bisect.bisect_right(layout.boundaries, start)
    boundaries = layout.boundaries[first:]
    furthest = _last_fitting(len(boundaries), lambda index: piece_fits(boundaries[index]))
    if furthest is None:
        raise ValueError("the limit leaves no room for text next to the part numbering")
    end = boundaries[furthest]
    atom = layout.atom_around(end)
    if atom is None:
        return end  # a plain word (or an atom's edge): between grapheme clusters
    before_atom = layout.starts[bisect.bisect_right(layout.starts, atom[0]) - 1]
    if before_atom > start:
        return before_atom  # the atom starts the next part, where it is cut only if too long
    # The atom fills the part on its own: cut it at its last space that keeps most of it.
    text = layout.text
    for index in range(furthest, -1, -1):
        position = boundaries[index]
        if position - start < (end - start) * _INNER_SPACE_FROM:
            break
        if text[position].isspace() and text[start:position].strip():
            return position
    return end


def _last_fitting(count: int, fits_at: Callable[[int], bool], hint: int = 0) -> int | None:
    """The largest index in [0, count) that fits, assuming what fits is a prefix.

    Gallops from ``hint`` (a guess of the answer) up or down, then bisects, so only a
    logarithmic number of (possibly long) pieces is measured, few when the guess is close;
    should a longer piece fit where a shorter did not (a counter is not always monotonic, a
    URL counts 23 whatever its length), the answer is still an index that fits.
    """
    if count == 0:
        return None
    hint = min(max(hint, 0), count - 1)
    if hint > 0 and not fits_at(hint):
        high, step = hint, 1  # fits_at(high) is False: gallop down to one that fits
        while True:
            low = high - step
            if low <= 0:
                low = 0
                break
            if fits_at(low):
                break
            high, step = low, step * 2
        if low == 0 and not fits_at(0):
            return None
    else:
        if hint == 0 and not fits_at(0):
            return None
        low, step = hint, 1
        while low + step < count and fits_at(low + step):
            low += step
            step *= 2
        high = min(low + step, count)  # fits_at(high) is False, or high == count
    while high - low > 1:
        middle = (low + high) // 2
        if fits_at(middle):
            low = middle
        else:
            high = middle
    return low
