"""The console at a real (pseudo-)terminal: `shortscience chat` and `shortscience run` typed at.

Each session runs in a pseudo-terminal (pexpect) and its output is fed to a terminal
emulator (pyte), so the tests read the screen a person would see: where a log line lands,
what the prompt shows after it. Every wait is bounded (a deadline per expected screen);
nothing is timed.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pyte
import pytest
from sqlalchemy import select

from bot.app import build_context, open_database
from bot.commands import digests
from bot.commands.context import Actor
from bot.config import load_config
from storage.database import Database
from storage.models import Summary, SummaryStatus
from tests.publishers.conftest import seed
from tests.servers.arxiv_server import FakeArxiv

REPO = Path(__file__).resolve().parents[3]
WAIT = 30.0
"""Seconds a screen may take to show what is expected (a slow machine), never asserted."""
ROWS, COLUMNS = 50, 320  # wide enough for a refused TL;DR on one line
PROMPT = "shortscience> "


def _env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DISCORD_TOKEN", "SHORTSCIENCE_CONFIG")
    }
    env["TERM"] = "xterm"
    # pyte answers no cursor-position request: without this prompt_toolkit waits for one.
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    return env


class Terminal:
    """A `shortscience` command in a pseudo-terminal, its output drawn on an emulated screen."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.transcript = ""
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "bot.cli", *args],
            cwd=str(cwd),
            env=_env(),
            encoding="utf-8",
            dimensions=(ROWS, COLUMNS),
            timeout=WAIT,
        )

    def _pump(self) -> bool:
        """Feed what the program wrote to the screen; False once it has exited."""
        try:
            data = self.child.read_nonblocking(size=65536, timeout=0.1)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        self.transcript += data
        self.stream.feed(data)
        return True

    def lines(self) -> list[str]:
        """The screen's lines, trailing spaces removed."""
        return [line.rstrip() for line in self.screen.display]

    def wait(self, check: Callable[[], bool], what: str) -> None:
        """Until ``check()`` holds for the screen (and transcript), or fail after WAIT s."""
        deadline = time.monotonic() + WAIT
        while not check():
            alive = self._pump()
            if not alive and not check():
                pytest.fail(f"the program ended before {what}:\n" + "\n".join(self.lines()))
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no {what} within {WAIT:.0f} s; the screen:\n" + "\n".join(self.lines())
                )

    def wait_for(self, text: str) -> None:
        """Until ``text`` has been written (anywhere, escape sequences removed)."""
        self.wait(lambda: text in _plain(self.transcript), repr(text))

    def wait_prompt(self, prompt: str = PROMPT, typed: str = "") -> None:
        """Until the cursor's line is the prompt with ``typed`` after it."""
        self.wait(lambda: self.cursor_line() == (prompt + typed).rstrip(), f"{prompt}{typed!r}")

    def cursor_line(self) -> str:
        """The line the cursor is on, as shown."""
        return self.lines()[self.screen.cursor.y]

    def type(self, text: str) -> None:
        """Keys, no Enter."""
        self.child.send(text)

    def enter(self, line: str) -> None:
        """A line and Enter (a carriage return, as a terminal sends it)."""
        self.child.send(line + "\r")

    def close(self) -> int:
        """Wait for the exit (bounded) and return its status."""
        deadline = time.monotonic() + WAIT
        while self._pump():
            if time.monotonic() > deadline:
                self.child.terminate(force=True)
                pytest.fail("the program did not end:\n" + "\n".join(self.lines()))
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)


_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78])")


def _plain(text: str) -> str:
    return _ESCAPES.sub("", text).replace("\r", "")


def _config(tmp_path: Path, arxiv_url: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[arxiv]\napi_url = '{arxiv_url}'\nrequest_interval_seconds = 0.0\n"
        "timeout_seconds = 2.0\nmax_retries = 1\n" + extra,
        encoding="utf-8",
    )
    return path


def _piped(
    tmp_path: Path, config: Path, stdin: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), *args],
        input=stdin,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Every terminal a test opens is closed (its program killed) when the test ends."""
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)


def _summaries(tmp_path: Path) -> list[tuple[str, str, SummaryStatus]]:
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        with db.sessions() as session:
            rows = session.scalars(select(Summary).order_by(Summary.id)).all()
            return [(row.tldr, row.body, row.status) for row in rows]
    finally:
        db.dispose()


def test_typing_a_summary_at_the_terminal(
    tmp_path: Path, arxiv_server: FakeArxiv, terminals: list[Terminal]
) -> None:
    config = _config(tmp_path, arxiv_server.url)
    term = Terminal("--config", str(config), "chat", "--user", "ada", cwd=tmp_path)
    terminals.append(term)
    term.wait_prompt()
    assert "shortscience chat as ada. /help lists the commands." in term.lines()

    term.enter("/sumary 1606.04474")
    term.wait_for("Did you mean /summary? Type /help for the list.")
    term.wait_prompt()

    # A TL;DR over the limit is refused at once, and offered again to shorten.
    term.enter("/submit 1606.04474")
    term.wait_prompt("TL;DR> ")
    long = "A learned optimizer " * 15  # 300 characters
    term.enter(long.strip())
    term.wait_for("The TL;DR has 299 characters; keep it to 280.")
    term.wait_prompt("TL;DR> ", long.strip())
    assert "... " not in [line[:4] for line in term.lines()], "no body was asked for"
    term.type("\x15")  # Ctrl-U: the line is emptied
    term.wait_prompt("TL;DR> ")
    term.enter("An LSTM learns the optimizer.")
    term.wait_prompt("... ")
    term.enter("A first body line.")
    term.wait_prompt("... ")

    # /cancel drops the draft; nothing is saved.
    term.enter("/cancel")
    term.wait_for("Draft of /submit 1606.04474 dropped; nothing was saved.")
    term.wait_prompt()
    assert _summaries(tmp_path) == []

    # A forgotten "." and a command: the draft is put aside, the command runs, /retry
    # reopens it. Ctrl-C in a draft puts it aside too.
    term.enter("/submit 1606.04474")
    term.wait_prompt("TL;DR> ")
    term.enter("An LSTM learns the optimizer.")
    term.wait_prompt("... ")
    term.enter("First line.")
    term.wait_prompt("... ")
    term.enter("/mine")
    term.wait_for("You have not submitted any yet.")
    assert "is put aside, not sent: /mine is a command." in _plain(term.transcript)
    term.wait_prompt()
    term.enter("/retry")
    term.wait_prompt("... ")
    term.type("\x03")  # Ctrl-C
    term.wait_for("Note: your draft of /submit 1606.04474 is put aside, not sent.")
    term.wait_prompt()
    term.enter("/retry")
    term.wait_prompt("... ")
    term.enter("Second line.")
    term.wait_prompt("... ")
    term.enter(".")
    term.wait_for("Summary #1 received")
    term.wait_prompt()
    assert _summaries(tmp_path) == [
        ("An LSTM learns the optimizer.", "First line.\nSecond line.", SummaryStatus.PENDING)
    ]

    # History: the up arrow brings the last command back.
    term.type("\x1b[A")
    term.wait_prompt(typed="/retry")
    term.type("\x15")  # Ctrl-U
    term.wait_prompt()

    # A paste of several lines (bracketed, as terminals send it) is one line each.
    term.type("\x1b[200~/help\r/draft\x1b[201~")
    term.enter("")
    term.wait_for("There is no draft. /submit <arXiv id> starts one.")
    term.wait_prompt()
    term.type("\x04")  # Ctrl-D on the empty line: the end
    assert term.close() == 0


def _approve_digest(config: Path, number: int) -> None:
    """A moderator elsewhere approves the draft digest; `run`'s worker then sends it."""
    app = load_config(config, environ={})
    db = open_database(app)
    try:
        ctx = build_context(app, db)
        mia = Actor(platform="console", external_id="mia", display_name="mia", is_moderator=True)
        asyncio.run(digests.decide(ctx, mia, number, approve=True))
    finally:
        db.dispose()


def test_run_without_discord_moderates_from_its_terminal_and_logs_above_the_prompt(
    tmp_path: Path, arxiv_server: FakeArxiv, terminals: list[Terminal]
) -> None:
    config = _config(
        tmp_path,
        arxiv_server.url,
        "[publishing]\ndelivery_poll_seconds = 1.0\n"
        "[[channels]]\nname = 'outbox'\nkind = 'outbox'\nrequire_approval = true\n",
    )
    submitted = _piped(
        tmp_path,
        config,
        "/submit 1606.04474\nAn LSTM learns the optimizer.\nThe body.\n.\n",
        "chat",
        "--user",
        "ada",
    )
    assert "Summary #1 received" in submitted.stdout, submitted.stderr
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    try:
        seed(db, hard=False)
    finally:
        db.dispose()
    drafted = _piped(tmp_path, config, "", "digest", "send", "outbox")
    assert "a draft waiting for a moderator (digest approve 1)" in drafted.stdout, drafted.stderr

    term = Terminal("--config", str(config), "run", "--user", "mia", "--moderator", cwd=tmp_path)
    terminals.append(term)
    term.wait_for("running; stop with Ctrl-C or SIGTERM")
    term.wait_prompt()
    assert "shortscience chat as mia (moderator). /help lists the commands." in term.lines()

    # A log line arrives while a command is being typed: it is printed above, and the
    # prompt is drawn again below it with what was typed.
    term.type("/queu")
    term.wait_prompt(typed="/queu")
    _approve_digest(config, 1)
    term.wait(
        lambda: any("sent digest 1 part" in line for line in term.lines()), "the delivery log line"
    )
    term.wait_prompt(typed="/queu")
    lines = term.lines()
    logged = max(i for i, line in enumerate(lines) if "sent digest 1 part" in line)
    assert logged < term.screen.cursor.y, "the log line is above the prompt"
    assert not any("sent digest" in line and line.startswith(PROMPT) for line in lines), (
        "no log line is glued to the prompt"
    )

    term.enter("e")  # /queue, the rest of it
    term.wait_for("An LSTM learns the optimizer.")
    term.wait_prompt()
    term.enter("/approve 1")
    term.wait_for("Summary #1 approved")
    term.wait_prompt()
    assert _summaries(tmp_path)[0][2] is SummaryStatus.APPROVED

    term.type("\x04")  # Ctrl-D: the console ends, and with it the service
    assert term.close() == 0
    assert "stopped" in _plain(term.transcript)


def test_the_console_section_names_the_terminals_user_and_flags_win(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    config = _config(tmp_path, arxiv_server.url, "[console]\nuser = 'mia'\nmoderator = true\n")
    asked = _piped(tmp_path, config, "/queue\n", "chat")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "Only moderators" not in asked.stdout
    submitted = _piped(tmp_path, config, "/submit 1606.04474\nT.\nB.\n.\n/mine\n", "chat")
    assert "Summary #1 received" in submitted.stdout
    as_mia = _piped(tmp_path, config, "/mine\n", "chat", "--user", "mia")
    assert "#1 · pending" in as_mia.stdout, "the summary is mia's, as [console].user says"
    as_bob = _piped(tmp_path, config, "/mine\n", "chat", "--user", "bob")
    assert "You have not submitted any yet." in as_bob.stdout, "--user wins over [console].user"
    bad = _piped(tmp_path, config, "", "run", "--user", "x" * 65)
    assert bad.returncode == 2
    assert "shortscience: --user: User names are at most 64 characters" in bad.stderr


def test_a_piped_chat_never_loads_prompt_toolkit(tmp_path: Path) -> None:
    """Piped input keeps the plain reader, even when the program thinks a person types."""
    code = (
        "import asyncio, io, sys\n"
        "from bot.app import build_context, open_database\n"
        "from bot.config import load_config\n"
        "from bot.console.repl import chat\n"
        "from bot.service import console_actor\n"
        "config = load_config(sys.argv[1])\n"
        "db = open_database(config)\n"
        "ctx = build_context(config, db)\n"
        "out = io.StringIO()\n"
        "asyncio.run(chat(ctx, console_actor('ada'), io.StringIO('/help\\n'), out, "
        "interactive=True))\n"
        "db.dispose()\n"
        "assert '/cancel' in out.getvalue(), out.getvalue()\n"
        "print(sorted(name for name in sys.modules if name.startswith('prompt_toolkit')))\n"
    )
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    env = _env()
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
