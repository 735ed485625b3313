"""The shipped config.toml documents every setting the config model has, its commented
examples are valid channels, and every message names a channel's table one way."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from bot.config import SECRET_ENV_VARS, ConfigError, Settings, load_config
from publishers.settings import FROM_THE_ENVIRONMENT, ChannelSettings
from publishers.strict_tables import StrictTable

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config.toml"

FIRST = "[[channels]]\nname='a'\nkind='outbox'\n"


@pytest.mark.parametrize(
    "second",
    [
        "[[channels]]\nname='b'\nkind='outbox'\ncolour='blue'\n",
        "[[channels]]\nname='b'\nkind='irc'\n",
        "[[channels]]\nname='b'\nkind='x'\naccess_token='zz'\n",
        "[[channels]]\nname='b'\nkind='x'\nenv={ colour = 'X2_COLOUR' }\n",
        "[[channels]]\nname='b'\nkind='x'\norigin='discord'\n",
    ],
)
def test_errors_name_a_channel_the_same_way(tmp_path: Path, second: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FIRST + second, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "[channels][1]" in message
    assert "[[" not in message, message


def test_an_unknown_channel_key_lists_only_the_keys_a_file_may_set(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FIRST + "colour='blue'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    known = str(caught.value).partition("expected one of: ")[2].split(", ")
    assert "name" in known and "env" in known
    assert not FROM_THE_ENVIRONMENT & set(known), "set from the environment, refused in a file"


def _keys(model: type[StrictTable], prefix: str = "") -> list[str]:
    """Every key a config file may set, walking nested sections (and lists of them)."""
    found = []
    hints = get_type_hints(model)
    for name in model.field_names():
        if model is ChannelSettings and name in FROM_THE_ENVIRONMENT:
            continue
        found.append(prefix + name)
        annotation: Any = hints[name]
        while get_origin(annotation) is not None:
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = args[0] if args else None
        if isinstance(annotation, type) and issubclass(annotation, StrictTable):
            found += _keys(annotation, f"{prefix}{name}.")
    return found


def test_the_shipped_config_parses_and_documents_every_key() -> None:
    load_config(SHIPPED, environ={})
    text = SHIPPED.read_text(encoding="utf-8")
    keys = _keys(Settings)
    assert "channels.discord_channel_id" in keys and "publishing.site_url" in keys
    undocumented = [
        key for key in keys if not re.search(rf"\b{re.escape(key.split('.')[-1])}\b", text)
    ]
    assert undocumented == []


def _commented_channels(text: str) -> list[str]:
    """The commented-out ``# [[channels]]`` examples, uncommented: the header line, then
    every ``# key = value`` line right after it."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("# [[channels]]"):
            current = []
            blocks.append(current)
        elif current is not None and re.match(r"# [a-z_]+ *=", line):
            current.append(line.removeprefix("# "))
        elif current is not None and re.match(r"#\s+#", line):
            continue  # the header's comment goes on
        else:
            current = None
    return ["\n".join(block) for block in blocks]


def test_every_channel_kind_has_an_example_that_validates() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    settings = load_config(SHIPPED, environ={}).settings
    kinds = {channel.kind for channel in settings.channels}
    for example in _commented_channels(text):
        channel = ChannelSettings(**tomllib.loads(example))
        kinds.add(channel.kind)
    assert kinds == set(get_args(get_type_hints(ChannelSettings)["kind"]))


def test_the_shipped_config_lists_every_secret_variable() -> None:
    """In its list of the variables secrets come from, not only somewhere in a comment."""
    text = SHIPPED.read_text(encoding="utf-8")
    listed = text.partition("Set them in the environment instead:\n")[2].partition("#\n")[0]
    assert listed, "the list of secret variables is where it was"
    assert [var for var in SECRET_ENV_VARS.values() if var not in listed] == []
