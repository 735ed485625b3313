"""Settings read strictly from TOML tables: each value's type, bounds, length and pattern,
one error naming where it is, and copies that keep track of the keys given."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from publishers.settings import ChannelSettings
from publishers.strict_tables import Bounds, Length, Pattern, SettingsError, StrictTable


@dataclass(frozen=True, init=False)
class Inner(StrictTable):
    size: Annotated[int, Bounds(ge=1, le=10)] = 1
    ratio: Annotated[float, Bounds(gt=0)] = 1.0


@dataclass(frozen=True, init=False)
class Outer(StrictTable):
    name: Annotated[str, Pattern(r"^[a-z]+$")]
    on: bool = False
    colour: Literal["red", "green", "blue"] = "red"
    tags: tuple[Annotated[str, Length(min=1, max=5)], ...] = ()
    ids: Annotated[list[int], Length(max=2)] = field(default_factory=list)
    folder: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    more: list[Inner] = field(default_factory=list)


@pytest.mark.parametrize(
    ("given", "where", "message"),
    [
        ({"on": 1}, ("on",), "expected a valid boolean, got 1"),
        ({"on": "true"}, ("on",), "expected a valid boolean, got 'true'"),
        ({"inner": {"size": "5"}}, ("inner", "size"), "expected a valid integer, got '5'"),
        ({"inner": {"size": True}}, ("inner", "size"), "expected a valid integer, got True"),
        ({"inner": {"size": 2.0}}, ("inner", "size"), "expected a valid integer, got 2.0"),
        ({"inner": {"ratio": "1"}}, ("inner", "ratio"), "expected a valid number, got '1'"),
        ({"inner": {"size": 0}}, ("inner", "size"), "greater than or equal to 1, got 0"),
        ({"inner": {"size": 11}}, ("inner", "size"), "less than or equal to 10, got 11"),
        ({"inner": {"ratio": 0}}, ("inner", "ratio"), "expected greater than 0, got 0"),
        ({"more": [{}, {"size": 0}]}, ("more", 1, "size"), "got 0"),
        ({"colour": "pink"}, ("colour",), "expected 'red', 'green' or 'blue', got 'pink'"),
        ({"tags": "a"}, ("tags",), "expected a list, got 'a'"),
        ({"tags": ["ok", ""]}, ("tags", 1), "expected at least 1 character, got 0"),
        ({"tags": ["toolong"]}, ("tags", 0), "expected at most 5 characters, got 7"),
        ({"ids": [1, 2, 3]}, ("ids",), "expected at most 2 items, got 3"),
        ({"folder": 5}, ("folder",), "expected a path, got 5"),
        ({"env": {"a": 1}}, ("env",), "expected a table of texts"),
        ({"inner": 5}, ("inner",), "expected a table, got 5"),
        ({"name": "Caps"}, ("name",), "expected text matching ^[a-z]+$, got 'Caps'"),
        ({"name": 5}, ("name",), "expected a text, got 5"),
    ],
)
def test_a_wrong_value_is_refused_with_where_and_what(
    given: dict[str, Any], where: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)) as refused:
        Outer(**{"name": "ok", **given})
    assert refused.value.where == where


def test_a_pattern_holds_for_the_whole_text_even_before_a_trailing_newline() -> None:
    with pytest.raises(SettingsError, match="expected text matching"):
        Outer(name="ok\n")


def test_a_required_key_left_out_is_named() -> None:
    with pytest.raises(SettingsError, match="is required") as refused:
        Outer()
    assert refused.value.where == ("name",)


def test_an_unknown_key_is_refused_with_the_keys_the_table_has() -> None:
    with pytest.raises(SettingsError) as refused:
        Outer(name="ok", inner={"sise": 2})
    assert refused.value.where == ("inner",)
    assert refused.value.unknown == "sise"
    assert refused.value.known == ("size", "ratio")
    assert 'unknown key "sise"' in str(refused.value)


def test_values_are_kept_in_their_declared_shapes() -> None:
    outer = Outer(
        name="ok",
        tags=["a", "b"],
        folder="out",
        inner={"size": 3, "ratio": 2},
        more=[{"size": 2}],
    )
    assert outer.tags == ("a", "b")
    assert outer.folder == Path("out")
    assert outer.inner == Inner(size=3, ratio=2.0)
    assert isinstance(outer.inner.ratio, float)
    assert outer.more == [Inner(size=2)]
    assert outer.ids == [] and outer.ids is not Outer(name="ok").ids


def test_a_copy_keeps_the_keys_given_and_runs_no_check() -> None:
    outer = Outer(name="ok", on=True)
    assert outer.keys_given == {"name", "on"}
    copy = outer.updated(colour="purple")
    assert copy.colour == "purple" and outer.colour == "red"
    assert copy.keys_given == {"name", "on", "colour"}
    with pytest.raises(AttributeError, match="no field 'color'"):
        outer.updated(color="red")


def test_a_table_of_the_keys_given_builds_the_same_settings() -> None:
    outer = Outer(name="ok", tags=("a",), folder=Path("out"), inner={"size": 2})
    table = outer.as_table()
    assert table == {"name": "ok", "tags": ["a"], "folder": "out", "inner": {"size": 2}}
    assert Outer(**table) == outer


def test_a_channel_key_of_another_kind_is_refused_even_at_its_default() -> None:
    """``max_parts = 4`` on a Facebook Page says the operator expects threads there."""
    assert ChannelSettings(name="f", kind="facebook", page_id="1").max_parts == 4
    with pytest.raises(SettingsError, match="only a channel of kind x, bluesky or mastodon"):
        ChannelSettings(name="f", kind="facebook", page_id="1", max_parts=4)
    with pytest.raises(SettingsError, match="only a channel of kind email has it"):
        ChannelSettings(name="x", kind="x", smtp_security="starttls")


def test_a_channel_api_base_is_an_http_url_kept_without_its_trailing_slash() -> None:
    channel = ChannelSettings(name="m", kind="mastodon", api_base="https://m.example/")
    assert channel.api_base == "https://m.example"
    for wrong in ("m.example", "ftp://m.example", "https://", "https://m.example:99999"):
        with pytest.raises(SettingsError, match="expected an http or https URL") as refused:
            ChannelSettings(name="m", kind="mastodon", api_base=wrong)
        assert refused.value.where == ("api_base",)
