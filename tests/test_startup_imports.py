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

import pytest

from bot.config import CONFIG_ENV, SECRET_ENV_VARS
from storage import migrate
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
    "pydantic",  # settings are read by publishers.strict_tables (9 MB less at idle)
    "pydantic_core",
)

NOT_ON = {
    "sqlite": ("psycopg", "sqlalchemy.dialects.postgresql"),
    "postgresql": ("sqlite3", "sqlalchemy.dialects.sqlite"),
}
"""Each database's driver and SQLAlchemy dialect, which a process on the other one never
needs (a partial index naming both dialects once loaded both everywhere)."""

ONLY_ON = {
    "sqlite": ("sqlite3", "_sqlite3", "sqlalchemy.dialects.sqlite"),
    "postgresql": (
        "psycopg",  # its __init__ imports every adapter and the whole client
        "psycopg_binary",
        "psycopg_c",
        "sqlalchemy.dialects.postgresql",  # its __init__ imports every PostgreSQL dialect
        "ctypes",  # psycopg.pq.misc
        "_ctypes",
    ),
}
"""What may be loaded on one database and not the other: its driver and dialect, with what
they import themselves (issue 21: PostgreSQL's extra idle memory is these and nothing of the
project's own)."""

COVERAGE_ENV = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
"""What starts coverage in a subprocess under `pytest --cov` (CI): left out here, since
coverage itself loads sqlite3 (its data file) and would count as the service's load."""

REPORT_ALL = "print(*sorted(sys.modules))"
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


def _loaded(
    code: str,
    *args: str,
    heavy: tuple[str, ...] = HEAVY,
    cwd: Path = REPO,
    report: str = REPORT,
) -> list[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SECRET_ENV_VARS.values()
        and key not in (CONFIG_ENV, "DATABASE_URL", *COVERAGE_ENV)
    }
    env["PYTHONPATH"] = str(REPO)
    program = f"HEAVY = {heavy!r}\n{code}\nimport sys\n{report}\n"
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


def _idle_modules(url: str, folder: Path) -> set[str]:
    """Every module the headless service has loaded by the time it is stopped, idle."""
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\nauto_upgrade = true\n', encoding="utf-8")
    return set(_loaded(RUN, str(config), cwd=folder, report=REPORT_ALL))


def _only_on(backend: str, name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in ONLY_ON[backend])


@pytest.mark.postgres
def test_the_idle_service_on_postgresql_loads_only_its_driver_and_dialect_more(
    tmp_path: Path, sqlite_template: Path, postgres_url: str
) -> None:
    """What a PostgreSQL service holds beyond a SQLite one (about 10 MB more idle RSS) is
    psycopg and SQLAlchemy's PostgreSQL dialect, which each load all of themselves: nothing
    the project imports for PostgreSQL alone, and the other way round."""
    database = tmp_path / "shortscience.db"
    shutil.copyfile(sqlite_template, database)
    on_sqlite = _idle_modules(f"sqlite:///{database}", tmp_path / "sqlite")
    postgres = Database.connect(postgres_url)
    try:
        migrate.upgrade(postgres)
    finally:
        postgres.dispose()
    on_postgresql = _idle_modules(postgres_url, tmp_path / "postgresql")

    assert sorted(n for n in on_postgresql - on_sqlite if not _only_on("postgresql", n)) == []
    assert sorted(n for n in on_sqlite - on_postgresql if not _only_on("sqlite", n)) == []
    # The report sees both drivers: the test would pass vacuously if it saw neither.
    assert "psycopg" in on_postgresql - on_sqlite
    assert "sqlite3" in on_sqlite - on_postgresql
