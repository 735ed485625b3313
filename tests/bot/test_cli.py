"""The `shortscience` command: help, version, db upgrade, run, and bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage import migrate
from storage.database import Database
from storage.models import Digest
from tests.publishers.conftest import seed
from tests.servers.discord_server import BOT_TOKEN, DiscordAPI

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


def _next_nine() -> str:
    """When a "0 9 * * *" UTC schedule fires next, as the start-up line writes it."""
    now = datetime.now(UTC)
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= now:
        nine += timedelta(days=1)
    return f"{nine:%Y-%m-%d %H:%M} UTC"


def test_run_reports_each_part_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    output = _run_until_ready(tmp_path, _env())
    assert f"storage: active (sqlite at sqlite:///{tmp_path}/shortscience.db" in output
    assert "discord: not configured (DISCORD_TOKEN is not set)" in output
    assert "scheduler: active (this process builds the scheduled digests)" in output
    assert f"channel outbox (outbox): active (next digest {_next_nine()}, written to" in output
    [x_main] = [line for line in output.splitlines() if "channel x-main (x)" in line]
    assert " WARNING " in x_main, "a channel that cannot post where it says is a warning"
    assert "not configured (X_API_KEY, X_API_SECRET" in x_main
    assert f"its posts are written to {tmp_path / 'outbox' / 'x-main'} instead until" in x_main
    [outbox] = [line for line in output.splitlines() if "channel outbox (outbox)" in line]
    assert " INFO " in outbox
    assert "console: off (standard input is not a terminal; headless)" in output
    assert "moderation queue" not in output, "no Discord, so no moderation cards"
    assert "stopped" in output
    assert (tmp_path / "shortscience.db").exists()


async def _run_async(config: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    """`shortscience run` while this test's event loop keeps serving a local fake."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        "--config",
        str(config),
        *extra,
        "run",
        cwd=config.parent,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    try:
        async with asyncio.timeout(30):
            while line := (await process.stdout.readline()).decode():
                output += line
                if "running; stop with" in line:
                    await asyncio.sleep(1.0)  # let the Discord part log in
                    break
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    return process.returncode or 0, output + rest.decode()


async def test_run_with_discord_says_so_logs_in_and_never_logs_a_secret(
    tmp_path: Path, api: DiscordAPI
) -> None:
    config = _config(
        tmp_path,
        f"[discord]\napi_base = '{api.base_url}/api/v10'\nmoderation_channel_id = 77\n",
    )
    env = _env(DISCORD_TOKEN=BOT_TOKEN, X_API_KEY="MTIzNDU2Nzg5.fake-x-api-key")
    code, output = await _run_async(config, env, "--verbose")
    assert code == 0, output
    assert "discord: starting (DISCORD_TOKEN is set" in output
    assert "moderation queue: starting (cards in channel 77)" in output
    assert api.calls("/users/@me", "GET"), "the line said starting: the bot logged in"
    assert BOT_TOKEN not in output
    assert "fake-x-api-key" not in output


def test_discord_unreachable_at_start_is_one_clear_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "[discord]\napi_base = 'http://127.0.0.1:9/api/v10'\n")
    process = subprocess.run(
        [*COMMAND, "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(DISCORD_TOKEN="MTIz.not-used.at-all"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    last = process.stderr.strip().splitlines()[-1]
    assert last.startswith("shortscience: cannot reach Discord (http://127.0.0.1:9/api/v10)")
    assert "Traceback" not in process.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", 'expected a sqlite or postgresql URL, got "mysql"'),
        ("postgresql+asyncpg://u@h/db", "through psycopg 3"),
        ("not a url at all", "expected a database URL"),
    ],
)
def test_a_database_url_the_service_cannot_use_is_one_line_exit_2(
    tmp_path: Path, url: str, message: str
) -> None:
    result = _shortscience(
        "--config",
        str(_config(tmp_path)),
        "db",
        "upgrade",
        cwd=tmp_path,
        env=_env(DATABASE_URL=url),
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("shortscience: config error: DATABASE_URL (environment):")
    assert message in line


@pytest.mark.postgres
def test_a_postgres_url_is_accepted_as_postgresql(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgres://", 1)
    result = _shortscience(
        "--config",
        str(_config(tmp_path)),
        "db",
        "upgrade",
        cwd=tmp_path,
        env=_env(DATABASE_URL=url),
    )
    assert result.returncode == 0, result.stderr
    assert "upgraded from empty" in result.stdout


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_processes_starting_at_once_on_a_fresh_database_both_start(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    env = _env()
    if kind == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    config = _config(tmp_path)
    processes = [
        subprocess.Popen(
            [*COMMAND, "--config", str(config), "db", "upgrade"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], results
    assert sum("upgraded from empty" in out for out, _ in results) == 1
    assert all("Traceback" not in err for _, err in results)


def test_chat_into_a_closed_pipe_stops_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "[arxiv]\napi_url = 'http://127.0.0.1:9/api/query'\n")
    script = "/help\n" * 200
    pipeline = subprocess.run(
        [
            "bash",
            "-c",
            'set -o pipefail; "$@" | head -1',
            "_",
            *COMMAND,
            "--config",
            str(config),
            "chat",
        ],
        input=script,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pipeline.stdout.count("\n") == 1
    assert "Traceback" not in pipeline.stderr
    [line] = pipeline.stderr.strip().splitlines()
    assert line.startswith("shortscience: standard output was closed")


def test_a_user_name_past_64_characters_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = _shortscience(
        "--config", str(_config(tmp_path)), "chat", "--user", "x" * 65, cwd=tmp_path
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "User names are at most 64 characters" in line
    assert not (tmp_path / "shortscience.db").exists()


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


# --- digest preview ---------------------------------------------------------------------------


CHANNELS = (
    "[[channels]]\nname = 'outbox'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
    "[[channels]]\nname = 'x-main'\nkind = 'x'\nschedule = '0 9 * * *'\nmax_items = 2\n"
    "[[channels]]\nname = 'fb'\nkind = 'facebook'\nschedule = '0 9 * * *'\npage_id = '1'\n"
)


def _seeded_config(tmp_path: Path) -> Path:
    config = _config(tmp_path, CHANNELS)
    assert _shortscience("--config", str(config), "db", "upgrade", cwd=tmp_path).returncode == 0
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        seed(db)
    finally:
        db.dispose()
    return config


def test_digest_preview_as_json_prints_only_json(tmp_path: Path) -> None:
    config = _seeded_config(tmp_path)
    result = _shortscience(
        "--config", str(config), "digest", "preview", "x-main", "--format", "json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    posts = json.loads(result.stdout)
    assert isinstance(posts, list) and len(posts) == 2
    for post in posts:
        assert post["channel"] == "x-main"
        assert all(isinstance(number, int) for number in post["summary_ids"])
        for part in post["parts"]:
            assert set(part) >= {"text", "length"}
            assert part["length"] <= 280
        assert post["x_cost"]["posts"] == len(post["parts"])
    with Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}").sessions() as session:
        assert session.query(Digest).count() == 0, "a preview records nothing"


def test_digest_preview_as_text_is_readable_on_a_terminal(tmp_path: Path) -> None:
    config = _seeded_config(tmp_path)
    result = _shortscience("--config", str(config), "digest", "preview", "fb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Digest for fb (facebook): 5 summaries, 5 posts")
    assert "[part 1 of 1: " in result.stdout
    assert "Sanity Checks for Saliency Maps" in result.stdout


def test_digest_preview_of_an_unknown_channel_names_the_channels(tmp_path: Path) -> None:
    config = _config(tmp_path, CHANNELS)
    result = _shortscience("--config", str(config), "digest", "preview", "nope", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line == "shortscience: There is no channel “nope”. Channels: outbox, x-main, fb."


def test_a_broken_template_stops_the_start_with_its_name_and_line(tmp_path: Path) -> None:
    (tmp_path / "mine" / "x").mkdir(parents=True)
    (tmp_path / "mine" / "x" / "summary.txt.j2").write_text(
        "{{ summary.title }}\n\n{{ summary.tldr_txt }}\n", encoding="utf-8"
    )
    config = _config(tmp_path, "[publishing]\ntemplates_dir = 'mine'\n" + CHANNELS)
    result = subprocess.run(
        [*COMMAND, "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2  # the operator's templates are input, like the config
    [line] = result.stderr.strip().splitlines()[-1:]
    assert "template problem:" in line
    assert "x/summary.txt.j2, line 3" in line
    assert "tldr_txt" in line


def _seeded_config_with_templates(tmp_path: Path, templates_dir: str) -> Path:
    config = _config(tmp_path, f"[publishing]\ntemplates_dir = '{templates_dir}'\n" + CHANNELS)
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        migrate.upgrade(db)
        seed(db)
    finally:
        db.dispose()
    return config


def _digests(tmp_path: Path) -> int:
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        with db.sessions() as session:
            return session.query(Digest).count()
    finally:
        db.dispose()


@pytest.mark.parametrize("action", ["preview", "send"])
def test_a_template_failing_only_on_some_data_is_one_line_exit_2(
    tmp_path: Path, action: str
) -> None:
    """Start-up's check renders the sample summary (#1); a misspelt name inside an ``if``
    that only later summaries enter gave a 43-line traceback from preview and send."""
    (tmp_path / "mine" / "outbox").mkdir(parents=True)
    (tmp_path / "mine" / "outbox" / "summary.md.j2").write_text(
        "{{ summary.title }}\n{% if summary.id > 1 %}\n{{ summary.venue }}\n{% endif %}\n",
        encoding="utf-8",
    )
    config = _seeded_config_with_templates(tmp_path, "mine")
    result = _shortscience("--config", str(config), "digest", action, "outbox", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    expected = f"shortscience: template problem: {tmp_path}/mine/outbox/summary.md.j2, line 3: "
    assert line.startswith(expected)
    assert "'venue'" in line
    assert result.stdout == ""
    assert _digests(tmp_path) == 0
    assert not list((tmp_path / "outbox").glob("*.md"))


@pytest.mark.parametrize("action", ["preview", "send"])
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (None, "templates_dir {folder} is not a folder"),
        ("{{ summary.title }\n", "{folder}/outbox/summary.md.j2, line 1: unexpected '}}'"),
    ],
)
def test_a_missing_templates_dir_or_a_syntax_error_exits_2(
    tmp_path: Path, action: str, template: str | None, expected: str
) -> None:
    """Both exited 1; the README promises 2 for bad input (config and what it names)."""
    folder = tmp_path / "mine"
    if template is not None:
        (folder / "outbox").mkdir(parents=True)
        (folder / "outbox" / "summary.md.j2").write_text(template, encoding="utf-8")
    config = _seeded_config_with_templates(tmp_path, "mine")
    result = _shortscience("--config", str(config), "digest", action, "outbox", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"shortscience: template problem: {expected.format(folder=folder)}"
    ]
    assert _digests(tmp_path) == 0


def test_digest_send_outbox_writes_files_with_no_tokens_and_status_reports_it(
    tmp_path: Path,
) -> None:
    config = _seeded_config(tmp_path)
    sent = _shortscience("--config", str(config), "digest", "send", "outbox", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("Digest 1 for outbox: 5 posts, 5 parts; 5 parts sent")
    assert len(list((tmp_path / "outbox").glob("*.md"))) == 5
    assert len(list((tmp_path / "outbox").glob("*-digest-000001.html"))) == 1
    again = _shortscience("--config", str(config), "digest", "send", "outbox", cwd=tmp_path)
    assert again.stdout.startswith("Digest 2 for outbox: 2 posts"), "the two left, not again"
    status = _shortscience(
        "--config", str(config), "digest", "status", "--format", "json", cwd=tmp_path
    )
    digests = json.loads(status.stdout)
    assert [(d["id"], d["channel"], d["status"]) for d in digests] == [
        (2, "outbox", "sent"),
        (1, "outbox", "sent"),
    ]
    for digest in digests:
        for delivery in digest["deliveries"]:
            assert set(delivery) >= {"state", "attempts", "last_error", "remote_id"}
            assert delivery["state"] == "sent"


def test_a_channel_without_credentials_says_so_and_writes_to_the_outbox(tmp_path: Path) -> None:
    config = _seeded_config(tmp_path)
    sent = _shortscience("--config", str(config), "digest", "send", "x-main", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert f"files in {tmp_path / 'outbox' / 'x-main'}" in sent.stdout
    assert "X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET not set" in sent.stderr
    assert list((tmp_path / "outbox" / "x-main").glob("*.md"))


def test_an_operator_approves_a_draft_from_the_command_line(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[[channels]]\nname = 'outbox'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
        "require_approval = true\n",
    )
    assert _shortscience("--config", str(config), "db", "upgrade", cwd=tmp_path).returncode == 0
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        seed(db, hard=False)
    finally:
        db.dispose()
    sent = _shortscience("--config", str(config), "digest", "send", "outbox", cwd=tmp_path)
    assert "a draft waiting for a moderator (digest approve 1)" in sent.stdout
    assert not list((tmp_path / "outbox").glob("*.md"))
    approved = _shortscience(
        "--config", str(config), "digest", "approve", "1", "--user", "mia", cwd=tmp_path
    )
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout == "Digest 1 was approved by mia. It was sent now: 5 parts.\n", (
        "one true message: no promise of a later delivery beside what was sent"
    )
    twice = _shortscience("--config", str(config), "digest", "reject", "1", cwd=tmp_path)
    assert twice.returncode == 2
    assert "Digest 1 is sent, not a draft; nothing changed." in twice.stderr


# --- scheduling, health ---------------------------------------------------------------------


def test_digest_schedule_lists_each_channels_next_run_in_its_own_zone(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[[channels]]\nname = 'daily'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
        "[[channels]]\nname = 'berlin'\nkind = 'outbox'\nschedule = '30 2 * * 1-5'\n"
        "timezone = 'Europe/Berlin'\n",
    )
    result = _shortscience("--config", str(config), "digest", "schedule", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    daily, berlin = result.stdout.splitlines()
    assert daily.startswith("daily ") and daily.endswith("(UTC)  `0 9 * * *`")
    assert " 02:30 CE" in berlin and "(Europe/Berlin)  `30 2 * * 1-5`" in berlin


def test_a_second_process_on_one_sqlite_file_stands_by_and_says_why(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "[[channels]]\nname = 'o'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
    )
    first = subprocess.Popen(
        [*COMMAND, "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if "running; stop with" in line:
                break
        second = _run_until_ready(tmp_path, _env())
        health = _shortscience("--config", str(config), "health", "--format", "json", cwd=tmp_path)
        assert f"pid {first.pid}" in json.loads(health.stdout)["scheduler_holder"]
        assert health.returncode == 0, health.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
    assert "scheduler: standing by (another process on this database file runs it (" in second
    assert f"pid {first.pid}" in second
    assert "use PostgreSQL for several processes" in second


def test_health_reports_the_database_the_scheduler_holder_and_the_channels(
    tmp_path: Path,
) -> None:
    config = _seeded_config(tmp_path)
    _shortscience("--config", str(config), "digest", "send", "outbox", cwd=tmp_path)
    result = _shortscience("--config", str(config), "health", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, "scheduled channels and no `shortscience run`: not healthy"
    report = json.loads(result.stdout)
    assert report["database"] == "ok"
    assert report["scheduler_holder"] is None
    [problem] = report["problems"]
    assert problem.endswith("get no digests: start `shortscience run`")
    assert report["failed_deliveries"] == 0
    assert set(report["channels"]) == {"outbox", "x-main", "fb"}
    outbox = report["channels"]["outbox"]
    assert outbox["state"] == "active" and outbox["last_digest"] is not None
    assert outbox["next_run"].endswith("T09:00:00+00:00")
    assert report["channels"]["x-main"]["state"].startswith("to the outbox folder")


def test_health_says_what_is_wrong_and_exits_1(tmp_path: Path) -> None:
    result = _shortscience(
        "--config",
        str(_config(tmp_path)),
        "health",
        cwd=tmp_path,
        env=_env(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"),
    )
    assert result.returncode == 1
    assert result.stdout.startswith("healthy: no\ndatabase: OperationalError:")
