"""Start-up stays light (issue 11): importing the command line, and everything the headless
service does before it says "running", load none of the heavy libraries that only some
commands need. Not timed: it checks which modules are loaded, which does not depend on
how busy the machine is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.config import CONFIG_ENV, SECRET_ENV_VARS
from storage.database import Database

REPO = Path(__file__).resolve().parents[1]

HEAVY = (
    "alembic",  # migrating only: a database at the head is checked with one SELECT
    "mako",
    "pygments",
    "arxiv",  # the first arXiv request
    "feedparser",
    "twitter_text",
    "publishers.render.lengths",  # rendering a digest: the rulers
    "publishers.render.url_grammar",  # and the URL grammar with its top-level domains
    "publishers.render.threads",
    "publishers.render.markdown_text",
    "publishers.render.math_text",
    "publishers.render.math_symbols",
    "html",  # escaping: a rendered digest, an outbox page with pictures
    "jinja2",  # the first template rendered (an operator's templates_dir: checked at start)
    "markupsafe",
    "markdown_it",
    "pylatexenc",
    "publishers.site.builder",  # `site build`
    "bot.console.digests",  # `digest ...`
    "bot.console.repl",  # the terminal front end
    "bot.console.prompt",  # a person at a terminal: the line editor
    "prompt_toolkit",
    "bot.health",  # `health`
    "bot.imports",  # `import`, `export`
    "tqdm",
    "defusedxml",
    "publishers.networks.discord",  # a channel that posts: its client, built on first use
    "publishers.networks.transport",
    "requests",
    "urllib3",
    "regex",  # counting graphemes, splitting threads, importing
    "publishers.site.updater",  # a kept archive ([site] directory): run's archive part
    "publishers.site.builder",
    "publishers.site.html",
    "publishers.site.search_index",
    "storage.archive",
)

NOT_ON = {
    "sqlite": ("psycopg", "sqlalchemy.dialects.postgresql"),
    "postgresql": ("sqlite3", "sqlalchemy.dialects.sqlite"),
}
"""Each database's driver and SQLAlchemy dialect, which a process on the other one never
needs (a partial index naming both dialects once loaded both everywhere)."""

COVERAGE_ENV = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
"""What starts coverage in a subprocess under `pytest --cov` (CI): left out here, since
coverage itself loads sqlite3 (its data file) and would count as the service's load."""

REPORT = "print(*sorted(name for name in sys.modules if name in HEAVY or any("
REPORT += "name.startswith(heavy + '.') for heavy in HEAVY)))"

START_UP = """
import asyncio, sys
from bot.app import build_context, open_database
from bot.cli import build_parser
from bot.commands.autolookup import enabled_channel_ids
from bot.config import load_config
from bot.service import plan_parts

args = build_parser().parse_args(["--config", sys.argv[1], "run"])
config = load_config(args.config)
db = open_database(config)  # auto_upgrade: the schema check on a migrated database
try:
    ctx = build_context(config, db)  # the templates are checked here
    enabled = frozenset(asyncio.run(enabled_channel_ids(ctx)))
    plan = plan_parts(config, db, interactive=False, autolookup_enabled=enabled)
    assert not plan.discord and not plan.console, plan
finally:
    db.dispose()
"""


RUN = """
import asyncio, logging, os, signal, sys
from bot.cli import main

IDLE_S = 1.0


class StopWhenIdle(logging.Handler):
    \"\"\"Once `run` says it is running, let its parts start and idle, then stop it as an
    operator would (SIGTERM), so whatever they load on their first pass is counted.\"\"\"

    def emit(self, record):
        if record.getMessage().startswith("running;"):
            loop = asyncio.get_running_loop()
            loop.call_later(IDLE_S, os.kill, os.getpid(), signal.SIGTERM)


logging.getLogger("shortscience.run").addHandler(StopWhenIdle())
code = main(["--config", sys.argv[1], "run"])
assert code == 0, code
"""


def _loaded(code: str, *args: str, heavy: tuple[str, ...] = HEAVY, cwd: Path = REPO) -> list[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SECRET_ENV_VARS.values()
        and key not in (CONFIG_ENV, "DATABASE_URL", *COVERAGE_ENV)
    }
    env["PYTHONPATH"] = str(REPO)
    program = f"HEAVY = {heavy!r}\n{code}\nimport sys\n{REPORT}\n"
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    assert _loaded("import bot.cli") == []


def test_the_report_sees_a_heavy_module() -> None:
    """The test above would pass vacuously if the report saw nothing: show it sees one."""
    assert "bot.imports.commands" in _loaded("import bot.imports.commands")


def test_the_headless_start_up_loads_no_heavy_library(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "shortscience.db"
    shutil.copyfile(sqlite_template, database)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{database}"\nauto_upgrade = true\n', encoding="utf-8"
    )
    assert _loaded(START_UP, str(config), cwd=tmp_path) == []


def test_the_headless_service_loads_no_heavy_library_until_stopped(
    tmp_path: Path, db: Database
) -> None:
    """The real `shortscience run`, headless on each database, from its start through a
    moment of idling to its stop: what a bot waiting for work holds in memory."""
    backend = db.url.get_backend_name()
    url = db.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\nauto_upgrade = true\n', encoding="utf-8")
    heavy = HEAVY + NOT_ON[backend]
    assert _loaded(RUN, str(config), heavy=heavy, cwd=tmp_path) == []
