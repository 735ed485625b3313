"""`shortscience import` and `shortscience export` through the command line's main()."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
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
    # Nothing asked of arXiv (it would have said it did not answer): the papers are in it.
    assert _last_line(capsys) == "imported 5, skipped 0, already present 0"
    assert main(["--config", config, "import", "--demo"]) == 0
    assert _last_line(capsys) == "imported 0, skipped 0, already present 5"

    monkeypatch.setattr(sys, "stdin", io.StringIO("/summary 1606.04474\n"))
    assert main(["--config", config, "chat", "--user", "newcomer"]) == 0
    out = capsys.readouterr().out
    assert "Learning to learn by gradient descent by gradient descent" in out
    assert "by Anonymous" in out
    assert "score +2" in out
    assert "Authors: Marcin Andrychowicz, Misha Denil" in out
    assert "arXiv is not answering" not in out


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


def _import(tmp_path: Path, name: str, content: bytes) -> tuple[int, str, str, Path]:
    """``shortscience import FILE`` in a subprocess: exit code, stdout, stderr, database."""
    path = tmp_path / name
    path.write_bytes(content)
    database = tmp_path / "s.db"
    config = _config(tmp_path, f"sqlite:///{database}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SHORTSCIENCE_CONFIG")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", config, "import", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr, database


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("zeros.csv", b"\x00" * 4096, "zeros.csv: it is binary, not text (a NUL byte on line 1)"),
        (
            "photo.csv",
            b"journals/corr/1606.04474,text\n\x00\x01\x02\x7fELF",
            "photo.csv: it is binary, not text (a NUL byte on line 2)",
        ),
        ("empty.csv", b"\n  \n", "empty.csv: it is empty"),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "{tmp}/photo.png is not UTF-8 text (byte 0)"),
        (
            "notes.txt",
            b"Some notes\nabout papers\n",
            "notes.txt: it is not RSS, our JSON export or ShortScience.org's CSV export (no row "
            "has the two columns paper key, text; line 1: expected 2 columns (paper key, text), "
            "found 1)",
        ),
    ],
)
def test_a_file_of_none_of_the_three_formats_is_refused_before_anything_is_written(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    """A binary file was read as CSV, every line skipped, and the import exited 0."""
    code, out, err, database = _import(tmp_path, name, content)
    assert (code, out) == (2, "")
    message = message.format(tmp=tmp_path)
    assert err.strip().splitlines() == [f"shortscience: import: {message}"]
    assert not database.exists()


def test_an_unterminated_quote_is_a_skipped_row_not_a_summary(tmp_path: Path) -> None:
    """The row ``key,"unterminated`` was imported as an approved summary "unterminated"."""
    code, out, err, database = _import(
        tmp_path,
        "export.csv",
        b'sitzmann2020implicit,"Sine activations."\nsitzmann2020implicit,"unterminated\n',
    )
    assert code == 0
    assert out.strip() == "imported 1, skipped 1, already present 0"
    assert (
        "skipped line 2: not valid CSV: a quoted field is never closed (its opening quote has "
        "no closing quote)"
    ) in err
    db = Database.connect(f"sqlite:///{database}")
    try:
        with db.sessions() as session:
            assert session.scalars(select(Summary.body)).all() == ["Sine activations."]
    finally:
        db.dispose()


def test_nothing_imported_exits_1(tmp_path: Path) -> None:
    """Every row skipped: the closing line says so and the exit status is 1."""
    code, out, err, _ = _import(tmp_path, "export.csv", b'k1,\nk2,"a"b\n')
    assert code == 1
    assert out.strip() == "imported 0, skipped 2, already present 0"
    assert "skipped line 1: the summary text is empty" in err
    assert "skipped line 2: not valid CSV: ',' expected after '\"'" in err
