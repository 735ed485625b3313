"""Stopping while arXiv is stuck: `shortscience run` does not wait for a request in flight.

A request to arXiv can hang for its whole timeout. Ctrl-C and SIGTERM must still stop the
service promptly and say so: arXiv requests run in daemon threads that shutdown leaves
behind, and retry waits end when the client is stopped. The bounds below are generous
next to the machine's speed; what they check is that the stuck request is not waited
for (it would hang for two minutes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import papers as paper_store
from storage.database import Database
from storage.types import utcnow
from tests.servers.arxiv_server import FakeArxiv

COMMAND = [sys.executable, "-m", "bot.cli"]
HANG_SECONDS = 120.0
"""How long the fake arXiv holds the request: far beyond any bound below."""
BOUND_SECONDS = 30.0


def _env(db: Database) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SHORTSCIENCE_CONFIG", "DISCORD_TOKEN", "X_API_KEY", "FACEBOOK_PAGE_TOKEN")
    }
    env["DATABASE_URL"] = db.url.render_as_string(hide_password=False)
    return env


def _config(tmp_path: Path, arxiv: FakeArxiv) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[arxiv]\napi_url = '{arxiv.url}'\ntimeout_seconds = {HANG_SECONDS * 2}\n"
        "request_interval_seconds = 0\n",
        encoding="utf-8",
    )
    return path


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {BOUND_SECONDS} s: {what}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_run_stops_and_says_so_while_an_arxiv_request_is_stuck(
    tmp_path: Path, db: Database, arxiv_server: FakeArxiv, signum: signal.Signals
) -> None:
    # A summary written while arXiv was down: `run` asks arXiv for its paper at once.
    with db.transaction() as session:
        paper_store.placeholder(session, "1606.04474", utcnow())
    arxiv_server.hang_next(1, seconds=HANG_SECONDS)
    process = subprocess.Popen(
        [*COMMAND, "--config", str(_config(tmp_path, arxiv_server)), "run"],
        cwd=tmp_path,
        env=_env(db),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = ""
        for line in process.stdout:
            output += line
            if "running; stop with" in line:
                break
        _wait_for(lambda: arxiv_server.request_count >= 1, "the request reached arXiv")
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=BOUND_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    output += rest
    assert process.returncode == 0, output
    assert f"{signum.name} received: stopping" in output
    assert output.rstrip().endswith("stopped"), output
    assert "Traceback" not in output
    assert arxiv_server.request_count == 1  # and it was not retried on the way out


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted (Ctrl-C); stopped"),
        (signal.SIGTERM, 143, "terminated (SIGTERM); stopped"),
    ],
    ids=["Ctrl-C", "SIGTERM"],
)
@pytest.mark.parametrize(
    "line",
    [
        "/summary 1810.03292",  # not stored: it waits on arXiv
        "/search words-no-stored-paper-has",  # nothing stored matches: arXiv's search
    ],
    ids=["summary", "search"],
)
def test_chat_stops_on_a_signal_and_says_so_while_a_lookup_is_stuck(
    tmp_path: Path,
    db: Database,
    arxiv_server: FakeArxiv,
    line: str,
    signum: signal.Signals,
    code: int,
    said: str,
) -> None:
    arxiv_server.hang_next(1, seconds=HANG_SECONDS)
    process = subprocess.Popen(
        [*COMMAND, "--config", str(_config(tmp_path, arxiv_server)), "chat"],
        cwd=tmp_path,
        env=_env(db),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(f"{line}\n")
        process.stdin.flush()
        _wait_for(lambda: arxiv_server.request_count >= 1, "the request reached arXiv")
        process.send_signal(signum)
        _, err = process.communicate(timeout=BOUND_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == code, err
    assert said in err
    assert "Traceback" not in err
