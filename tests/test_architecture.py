"""Imports point one way: ``bot`` and ``publishers`` use ``storage``; ``bot`` may call
``publishers``; ``storage`` imports neither, ``publishers`` never imports ``bot``, and the
transport-free commands never import discord.py. A new arrow the wrong way fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "storage": ("bot", "publishers", "discord"),
    "publishers": ("bot", "discord"),
    "bot/commands": ("discord", "bot.discord", "bot.console"),
    "bot/papers": ("discord", "bot.discord", "bot.commands", "bot.console"),
}


def imported_modules(root: Path, path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, absolute, with its line (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
    return found


def _violations(root: Path, folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for line, module in imported_modules(root, path):
            if any(module == bad or module.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


@pytest.mark.parametrize(("folder", "forbidden"), FORBIDDEN.items())
def test_no_import_points_the_wrong_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert list((REPO / folder).rglob("*.py")), f"nothing to check in {folder}"
    assert _violations(REPO, folder, forbidden) == []


@pytest.mark.parametrize(
    "source",
    ["from bot.config import AppConfig\n", "import bot.app\n", "from bot import errors\n"],
)
def test_the_check_sees_a_wrong_arrow(tmp_path: Path, source: str) -> None:
    """The test above would pass vacuously if it parsed nothing: show it catches one."""
    (tmp_path / "publishers" / "render").mkdir(parents=True)
    (tmp_path / "publishers" / "render" / "probe.py").write_text(source, encoding="utf-8")
    [violation] = _violations(tmp_path, "publishers", FORBIDDEN["publishers"])
    assert violation.startswith("publishers/render/probe.py:1 imports bot")
