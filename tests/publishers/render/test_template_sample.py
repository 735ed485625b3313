"""The sample the template check renders carries its text forms written out (so start-up
does not load the converters); they must be exactly what the converters make of it."""

from __future__ import annotations

from publishers.render.summaries import SummaryItem
from publishers.render.templates import _sample, _SampleSummary


def test_the_written_out_sample_texts_are_what_the_converters_make() -> None:
    sample = _sample()["summary"]
    assert isinstance(sample, _SampleSummary)
    converted = sample.uncached()
    assert type(converted) is SummaryItem
    assert sample.plain == converted.plain
    assert sample.text == converted.text
    assert sample.tldr_text == converted.tldr_text
    assert sample.title_text == converted.title_text
    assert sample.title_discord == converted.title_discord
    assert sample.title_html == converted.title_html
    assert sample.discord_text == converted.discord_text
    assert sample.tldr_discord == converted.tldr_discord
    assert sample.html == converted.html
    assert sample.tldr_html == converted.tldr_html
