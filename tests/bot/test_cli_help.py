"""Every subcommand says what it does and every option has help; every document the help
points to is installed with the package."""

from __future__ import annotations

import argparse
import fnmatch
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser, export_format_doc, main

REPO = Path(__file__).resolve().parents[2]


def _parsers(
    parser: argparse.ArgumentParser, name: str = "shortscience"
) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser``, with its command line and its one-line help."""
    yield name, parser, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for sub_name, sub in action.choices.items():
                for found in _parsers(sub, f"{name} {sub_name}"):
                    yield found if found[1] is not sub else (found[0], sub, helps.get(sub_name))


def test_every_subcommand_and_option_says_what_it_does() -> None:
    missing = []
    for name, parser, one_line in _parsers(build_parser()):
        if name != "shortscience" and not one_line:
            missing.append(f"{name}: no help in its parent's list")
        if not parser.description:
            missing.append(f"{name}: no description in its own --help")
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_the_walk_sees_an_option_without_help() -> None:
    """The test above would pass vacuously if the walk missed subcommands: show it does not."""
    parser = build_parser()
    names = [name for name, _, _ in _parsers(parser)]
    assert "shortscience digest status" in names and "shortscience export" in names
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subcommands.choices["version"].add_argument("--bare")
    found = [
        action.dest
        for name, sub, _ in _parsers(parser)
        for action in sub._actions
        if name == "shortscience version" and not action.help
    ]
    assert found == ["bare"]


def test_run_help_says_what_run_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    _usage, _, rest = capsys.readouterr().out.partition("\n\n")
    assert rest.split("\n\n")[0].strip(), "a description between usage and options"
    assert not rest.startswith("options:")


def test_export_help_points_to_the_installed_format_doc(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    doc = export_format_doc()
    assert str(doc) in shown
    assert doc.is_file()
    assert doc.read_text(encoding="utf-8") == (REPO / "docs" / "export-format.md").read_text(
        encoding="utf-8"
    )


def test_the_format_doc_is_package_data() -> None:
    """What `pip install .` copies: a pattern of [tool.setuptools.package-data] for bot."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]
    relative = export_format_doc().relative_to(REPO / "bot").as_posix()
    assert any(
        fnmatch.fnmatch(relative, pattern)
        for key in ("bot", "*")
        for pattern in patterns.get(key, [])
    )


def test_export_format_doc_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHORTSCIENCE_CONFIG", raising=False)
    assert main(["export", "--format-doc"]) == 0
    assert capsys.readouterr().out.startswith("# The JSON export format, version 1\n")
    assert main(["export"]) == 2
    assert "name the FILE to write" in capsys.readouterr().err
    assert not (tmp_path / "shortscience.db").exists(), "nothing was opened"
