"""What people type, as the commands take it: every front end parses numbers and votes
here, and a bad one is explained the same way wherever it was typed."""

from __future__ import annotations

import pytest

from bot.commands.parsing import digest_number, summary_number, vote_direction
from bot.commands.votes import VoteDirection
from bot.errors import UserError


@pytest.mark.parametrize(("text", "number"), [("12", 12), ("#12", 12), (" # 7 ", 7)])
def test_a_summary_number_as_replies_name_it(text: str, number: int) -> None:
    assert summary_number(text) == number


@pytest.mark.parametrize("number", ["", "twelve", "#", "12b", "-3", "1" * 13, "²"])
def test_a_bad_summary_number_is_explained(number: str) -> None:
    with pytest.raises(UserError, match=r"is not a summary number\. Use one like #12"):
        summary_number(number)


@pytest.mark.parametrize(("text", "number"), [("3", 3), ("#3", 3), ("digest 3", 3)])
def test_a_digest_number(text: str, number: int) -> None:
    assert digest_number(text) == number


@pytest.mark.parametrize("text", ["", "three", "digest", "3.5", "-3"])
def test_a_bad_digest_number_is_explained(text: str) -> None:
    with pytest.raises(UserError, match=r"is not a digest number\. Use one like 12"):
        digest_number(text)


@pytest.mark.parametrize(
    ("text", "direction"),
    [("up", VoteDirection.UP), ("UP", VoteDirection.UP), ("+", VoteDirection.UP),
     ("+1", VoteDirection.UP), ("down", VoteDirection.DOWN), ("-", VoteDirection.DOWN),
     ("-1", VoteDirection.DOWN)],
)  # fmt: skip
def test_a_vote_direction(text: str, direction: VoteDirection) -> None:
    assert vote_direction(text) is direction


def test_a_vote_that_is_neither_up_nor_down_is_explained() -> None:
    with pytest.raises(UserError, match=r"“sideways” is not a vote\. Vote up or down"):
        vote_direction("sideways")
