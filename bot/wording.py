"""Counts in words: "1 part", "2 parts", "1 summary", "3 summaries". One helper, so every
reply and log line agrees in number instead of each writing its own ternary."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """``one`` when ``count`` is exactly 1, else ``many`` (by default ``one`` + "s");
    for verbs too: ``plural(n, "matches", "match")``."""
    if count == 1:
        return one
    return many if many is not None else one + "s"


def counted(count: int, one: str, many: str | None = None) -> str:
    """The count and its noun in agreement: ``counted(1, "part")`` is "1 part",
    ``counted(0, "summary", "summaries")`` is "0 summaries"."""
    return f"{count} {plural(count, one, many)}"
