"""The `shortscience` command: help, version, db upgrade, run, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "bot.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SHORTSCIENCE_CONFIG",)}
    for name in ("DATABASE_URL", "DISCORD_TOKEN", "X_API_KEY", "FACEBOOK_PAGE_TOKEN"):
        env.pop(name, None)
    env.update(extra)
    return env


def _config(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _shortscience(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "shortscience"
    assert script.exists(), "pip install should create the `shortscience` entry point"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _shortscience("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "db", "version"):
        assert command in result.stdout


def test_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(_config(tmp_path)), "version"]) == 0
    assert capsys.readouterr().out.startswith("shortscience-bot ")


def test_db_upgrade_creates_the_sqlite_file_beside_the_config(tmp_path: Path) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    config = _config(config_dir, "[database]\nurl = 'sqlite:///data/s.db'\n")
    first = _shortscience("--config", str(config), "db", "upgrade", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty to" in first.stdout
    assert (config_dir / "data" / "s.db").exists()
    again = _shortscience("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0
    assert "already current" in again.stdout
    current = _shortscience("db", "current", "--config", str(config), cwd=tmp_path)
    assert "up to date" in current.stdout


@pytest.mark.parametrize(
    "body",
    [
        "colour = 'blue'\n",
        "[arxiv]\ntimeout_seconds = 'soon'\n",
        "[discord]\ntoken = 'MTA.secret.value'\n",
    ],
)
def test_a_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, body: str) -> None:
    config = _config(tmp_path, body)
    for args in (["db", "upgrade"], ["run"]):
        result = _shortscience("--config", str(config), *args, cwd=tmp_path)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert str(config) in lines[0]
        assert "MTA.secret.value" not in result.stderr
    assert not (tmp_path / "shortscience.db").exists()


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    result = _shortscience(
        "--config",
        str(_config(tmp_path)),
        "db",
        "upgrade",
        cwd=tmp_path,
        env=_env(DATABASE_URL=url),
    )
    assert result.returncode == 1
    assert result.stderr.startswith("shortscience: database error:")
    assert "Traceback" not in result.stderr


def _run_until_ready(tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    config = _config(
        tmp_path,
        "[[channels]]\nname = 'outbox'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
        "[[channels]]\nname = 'x-main'\nkind = 'x'\nschedule = '0 9 * * *'\n",
    )
    process = subprocess.Popen(
        [*COMMAND, "--config", str(config), *extra, "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output += line
        if "running; stop with" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    output += rest
    assert process.returncode == 0, output
    return output


def test_run_reports_each_part_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    output = _run_until_ready(tmp_path, _env())
    assert "storage: active (sqlite" in output
    assert "discord: not configured (DISCORD_TOKEN is not set)" in output
    assert "channel outbox (outbox): active" in output
    assert "channel x-main (x): not configured (X_API_KEY, X_API_SECRET" in output
    assert "console: not configured (standard input is not a terminal; headless)" in output
    assert "stopped" in output
    assert (tmp_path / "shortscience.db").exists()


def test_run_never_logs_a_secret(tmp_path: Path) -> None:
    token = "MTIzNDU2Nzg5.GhIjKl.this-is-a-fake-discord-token"
    output = _run_until_ready(tmp_path, _env(DISCORD_TOKEN=token, X_API_KEY=token), "--verbose")
    assert "discord: not configured (DISCORD_TOKEN is set" in output
    assert token not in output


def test_an_interactive_run_serves_the_console_and_stops_on_sigterm(tmp_path: Path) -> None:
    # A pseudo-terminal as standard input: `run` then serves the chat commands on it.
    controller, terminal = os.openpty()
    config = _config(tmp_path, "[arxiv]\napi_url = 'http://127.0.0.1:9/api/query'\n")
    process = subprocess.Popen(
        [*COMMAND, "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(),
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(terminal)
    try:
        assert process.stdout is not None
        output = ""
        for line in process.stdout:
            output += line
            if "running; stop with" in line:
                break
        assert "console: active (reading commands from this terminal)" in output
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output + rest
    assert "stopped" in rest
