"""The shipped config.toml with the demo data: digests a research account can be followed by.

What a new operator sees first: `shortscience import --demo` and `digest preview` of the
shipped channels, with the commented Mastodon and Bluesky examples switched on as the file
says (the leading "# " of each line removed). One post per summary on X, Bluesky and
Mastodon; with ``thread = true`` no summary runs past ``max_parts``, and its last part
links onward. The demo summary with display formulas carries its equation card.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from publishers.settings import ChannelSettings
from tests.bot.test_cli import _env

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "bot.cli"]
EXAMPLES = ("mastodon", "bluesky")
"""The commented examples a test switches on (both need no more than their block)."""


def _shipped(tmp_path: Path, **changes: str) -> Path:
    """config.toml as shipped, its Mastodon and Bluesky examples uncommented, ``changes``
    (TOML lines) added to every X, Bluesky and Mastodon channel."""
    lines = (ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    uncommenting = False
    for line in lines:
        if line.startswith("# [[channels]]"):
            block = "\n".join(lines[lines.index(line) : lines.index(line) + 3])
            uncommenting = any(f'kind = "{kind}"' in block for kind in EXAMPLES)
        elif not line.startswith("# "):
            uncommenting = False
        out.append(line[2:] if uncommenting else line)
    # The Bluesky example's filters (the last week, scored, two categories) pick none of
    # the demo summaries: dropped, so every network shows its rendering.
    dropped = {*changes, "max_age_days", "min_score", "categories"}
    out = [line for line in out if line.split(" = ")[0] not in dropped]
    text = "\n".join(out) + "\n"
    extra = "".join(f"{key} = {value}\n" for key, value in changes.items())
    if extra:
        text = re.sub(
            r'(^kind = "(?:x|bluesky|mastodon)"\n)',
            lambda m: m.group(1) + extra,
            text,
            flags=re.MULTILINE,
        )
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> str:
    result = subprocess.run(
        [*COMMAND, "--config", str(config), *args],
        cwd=config.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _previews(config: Path) -> dict[str, list[dict[str, Any]]]:
    _run(config, "import", "--demo")
    channels = ["x-main", "mastodon", "bluesky", "facebook-page", "outbox"]
    return {
        name: json.loads(_run(config, "digest", "preview", name, "--format", "json"))
        for name in channels
    }


def test_the_shipped_channels_post_one_compact_post_per_summary(tmp_path: Path) -> None:
    previews = _previews(_shipped(tmp_path))
    for name in ("x-main", "mastodon", "bluesky"):
        posts = previews[name]
        assert len(posts) == 5, name
        for post in posts:
            assert len(post["summary_ids"]) == 1
            assert len(post["parts"]) == 1, (name, post["parts"])
            assert post["parts"][0]["length"] <= post["limit"]
    facebook = previews["facebook-page"]
    assert [len(post["parts"]) for post in facebook] == [1, 1, 1, 1, 1]
    x_cost = sum(post["x_cost"]["posts"] for post in previews["x-main"])
    assert x_cost == 5


@pytest.mark.parametrize("max_parts", [2, 4])
def test_with_threads_no_summary_runs_past_max_parts_and_the_last_part_links_on(
    tmp_path: Path, max_parts: int
) -> None:
    config = _shipped(tmp_path, thread="true", max_parts=str(max_parts))
    previews = _previews(config)
    capped = 0
    for name in ("x-main", "mastodon", "bluesky"):
        for post in previews[name]:
            parts = post["parts"]
            assert 1 <= len(parts) <= max_parts, (name, len(parts))
            assert all(part["length"] <= post["limit"] for part in parts)
            if "The whole summary by" in parts[-1]["text"]:
                capped += 1
                assert len(parts) == max_parts
                assert parts[-1]["has_url"] or "goes on beyond" in parts[-1]["text"]
    assert capped >= 3, "the long demo summaries (Real NVP among them) are cut with a read-on"


def test_the_demo_summary_with_display_formulas_carries_its_equation_card(
    tmp_path: Path,
) -> None:
    previews = _previews(_shipped(tmp_path))
    for name, posts in previews.items():
        carrying = [
            (post["summary_ids"], picture)
            for post in posts
            for part in post["parts"]
            for picture in part["pictures"]
        ]
        assert len(carrying) == 1, name
        _, picture = carrying[0]
        assert picture["width"] >= 600 and 100 <= picture["height"] <= 2000
        assert "(LaTeX: (g_t, h_{t+1}) := m_\\phi" in picture["alt"]


def test_equation_cards_can_be_switched_off_in_the_config(tmp_path: Path) -> None:
    previews = _previews(_shipped(tmp_path, equation_cards="false"))
    for name in ("x-main", "mastodon", "bluesky"):
        assert all(not part["pictures"] for post in previews[name] for part in post["parts"])


def test_the_channel_keys_are_documented_where_they_are_set(tmp_path: Path) -> None:
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    for key in ("thread", "max_parts", "equation_cards"):
        assert re.search(rf"^#   {key} ", shipped, re.MULTILINE), key
    for key in ("thread", "max_parts", "equation_cards"):
        assert key in ChannelSettings.field_names()
