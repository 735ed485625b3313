"""`shortscience import` and `shortscience export` through the command line's main()."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.imports.importer import DEMO_FILE, demo_text
from storage.database import Database
from storage.models import Summary, SummaryStatus

REPO = Path(__file__).resolve().parents[3]
OFFLINE_ARXIV = (
    '[arxiv]\napi_url = "http://127.0.0.1:9/api/query"\nmax_retries = 0\ntimeout_seconds = 2\n'
)


def _config(tmp_path: Path, database_url: str, name: str = "config.toml") -> str:
    path = tmp_path / name
    path.write_text(f'[database]\nurl = "{database_url}"\n{OFFLINE_ARXIV}', encoding="utf-8")
    return str(path)


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_the_demo_works_without_arxiv(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(tmp_path, database_url)
    assert main(["--config", config, "import", "--demo"]) == 0
    line = _last_line(capsys)
    assert line.startswith("imported 5, skipped 0, already present 0; arXiv did not answer")
    assert "4 papers were stored from the file's titles and keys" in line
    assert main(["--config", config, "import", "--demo"]) == 0
    assert _last_line(capsys) == "imported 0, skipped 0, already present 5"

    monkeypatch.setattr(sys, "stdin", io.StringIO("/summary 1606.04474\n"))
    assert main(["--config", config, "chat", "--user", "newcomer"]) == 0
    out = capsys.readouterr().out
    assert "Learning to learn by gradient descent by gradient descent" in out
    assert "by Anonymous" in out
    assert "score +2" in out


def test_export_then_import_into_a_second_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _config(tmp_path, f"sqlite:///{tmp_path / 'first.db'}", "first.toml")
    second = _config(tmp_path, f"sqlite:///{tmp_path / 'second.db'}", "second.toml")
    assert main(["--config", first, "import", "--demo"]) == 0
    export = tmp_path / "summaries.json"
    assert main(["--config", first, "export", str(export)]) == 0
    assert _last_line(capsys) == f"exported 5 summaries to {export}"
    assert main(["--config", second, "import", str(export)]) == 0
    assert _last_line(capsys) == "imported 5, skipped 0, already present 0"
    again = tmp_path / "again.json"
    assert main(["--config", second, "export", str(again)]) == 0
    capsys.readouterr()

    def summaries(path: Path) -> list[dict[str, object]]:
        return sorted(json.loads(path.read_text())["summaries"], key=lambda s: str(s["key"]))

    assert summaries(again) == summaries(export)


def test_pending_and_csv_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    config = _config(tmp_path, url)
    csv_file = tmp_path / "shortscience-export.csv"
    csv_file.write_text(
        'sitzmann2020implicit,"Sine activations, learned per image."\nbroken\n', encoding="utf-8"
    )
    assert main(["--config", config, "import", "--pending", str(csv_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "imported 1, skipped 1, already present 0"
    assert "line 2: expected 2 columns" in captured.err
    db = Database.connect(url)
    try:
        with db.sessions() as session:
            [summary] = session.scalars(select(Summary)).all()
            assert summary.status is SummaryStatus.PENDING
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import"], "give a FILE or --demo"),
        (["import", "--demo", "x.xml"], "give a FILE or --demo"),
        (["import", "missing.xml"], "cannot read missing.xml"),
        (["export", "no/such/folder/out.json"], "no folder"),
    ],
)
def test_bad_arguments_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    assert main(["--config", config, *args]) == 2
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_a_feed_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    config = _config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    assert main(["--config", config, "import", str(bad)]) == 2
    assert "not a shortscience-bot/summaries document" in capsys.readouterr().err


def test_the_demo_data_is_package_data() -> None:
    """Shipped in the package (wheel and editable install), with where it came from."""
    assert "<shortscience:bibtexkey>" in demo_text()
    assert (REPO / "bot" / "demo" / "SOURCES.md").exists()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    assert any(Path("demo", DEMO_FILE).match(pattern) for pattern in patterns)


def test_json_nested_200000_deep_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    """It ended in a RecursionError traceback; the file is refused before the database opens."""
    depth = 200_000
    deep = tmp_path / "deep.json"
    deep.write_text(
        '{"format": "shortscience-bot/summaries", "version": 1, "summaries": '
        + "[" * depth
        + "]" * depth
        + "}",
        encoding="utf-8",
    )
    config = _config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SHORTSCIENCE_CONFIG")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", config, "import", str(deep)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "shortscience: import: deep.json: the JSON nests deeper than 20 levels (an export of "
        "ours nests 5); it is not a file `shortscience export` wrote"
    ]
    assert result.stdout == ""
    assert not (tmp_path / "s.db").exists()
