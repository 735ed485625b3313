"""Discord's 25-entry limit on a select menu and an autocomplete answer, applied in one place."""

from __future__ import annotations

from bot.discord.choices import MAX_CHOICES, autocomplete_choices


def test_an_autocomplete_answer_keeps_the_first_25() -> None:
    pairs = [(f"Paper {number}", str(number)) for number in range(40)]
    choices = autocomplete_choices(iter(pairs))
    assert MAX_CHOICES == 25
    assert [choice.value for choice in choices] == [str(number) for number in range(25)]
    assert choices[0].name == "Paper 0"


def test_a_short_list_is_kept_whole() -> None:
    assert [choice.value for choice in autocomplete_choices([("a", "1"), ("b", "2")])] == ["1", "2"]
