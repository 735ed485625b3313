"""Counts read right in every reply: one helper decides singular or plural."""

from __future__ import annotations

import pytest

from bot.wording import counted, plural


@pytest.mark.parametrize(
    ("count", "one", "many", "expected"),
    [
        (0, "part", None, "0 parts"),
        (1, "part", None, "1 part"),
        (2, "part", None, "2 parts"),
        (1, "summary", "summaries", "1 summary"),
        (5, "summary", "summaries", "5 summaries"),
        (1, "stored paper", None, "1 stored paper"),
    ],
)
def test_a_count_agrees_with_its_noun(
    count: int, one: str, many: str | None, expected: str
) -> None:
    assert counted(count, one, many) == expected


def test_verbs_agree_too() -> None:
    assert [plural(n, "matches", "match") for n in (0, 1, 2)] == ["match", "matches", "match"]
