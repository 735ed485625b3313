"""The issue's "done": the demo summaries preview and send to Slack, Telegram, Matrix and
email, each a channel of config.toml with its credentials in the environment, through the
`shortscience` command, as an operator would run it. Each kind's local server answers as
its platform does (the harnesses in tests/publishers/kinds/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.wording import counted
from publishers.settings import CREDENTIAL_VARIABLES, ChannelSettings
from tests.bot.test_cli import _config, _env, _shortscience
from tests.publishers.conftest import Clock
from tests.publishers.kinds import Harness, running

NOT_IN_THE_FILE = {"credentials", "missing", "origin"}


@pytest.fixture(params=["slack", "telegram", "matrix", "email"])
def kind(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from running(request.param, Clock(datetime.now(UTC)))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value))


def _table(channel: ChannelSettings) -> str:
    """The channel as an operator writes it in config.toml: its settings, no secret."""
    lines = ["[[channels]]"]
    for key in sorted(channel.keys_given - NOT_IN_THE_FILE):
        lines.append(f"{key} = {_toml(getattr(channel, key))}")
    return "\n".join(lines) + "\n"


def _secrets(channel: ChannelSettings) -> dict[str, str]:
    names = CREDENTIAL_VARIABLES[channel.kind]
    return {names[key]: value for key, value in channel.credentials.items()}


def test_the_demo_summaries_preview_and_send_to_each_new_kind(
    tmp_path: Path, kind: Harness
) -> None:
    channel = kind.channel(name=f"{kind.kind}-demo", max_items=5)
    config = _config(tmp_path, _table(channel))
    env = _env(**_secrets(channel))

    def shortscience(*args: str) -> str:
        result = _shortscience("--config", str(config), *args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "ERROR" not in result.stderr, result.stderr
        return result.stdout

    shortscience("import", "--demo")
    preview = shortscience("digest", "preview", channel.name)
    assert preview.startswith(f"Digest for {channel.name} ({kind.kind}): 5 summaries")
    previewed = json.loads(shortscience("digest", "preview", channel.name, "--format", "json"))
    texts = [part["text"] for post in previewed for part in post["parts"]]
    assert kind.held() == [], "a preview sends nothing"

    sent = shortscience("digest", "send", channel.name)
    assert f"{counted(len(texts), 'part')} sent" in sent, sent
    assert [message.text for message in kind.held()] == texts, "what was previewed went out"
    status = json.loads(shortscience("digest", "status", "--format", "json"))
    [digest] = status
    assert digest["status"] == "sent"
    assert [delivery["remote_id"] for delivery in digest["deliveries"]] == [
        message.remote_id for message in kind.held()
    ]
    for secret in channel.credentials.values():
        assert secret not in preview + sent + json.dumps(status)

    again = shortscience("digest", "send", channel.name)
    assert "Nothing" in again or "empty" in again or "no approved summary" in again, again
    assert len(kind.held()) == len(texts), "nothing goes out twice"
