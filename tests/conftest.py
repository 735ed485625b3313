"""Shared fixtures: real databases (a SQLite file and the PostgreSQL server) for every test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.commands.context import CommandContext
from bot.config import LimitSettings
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView, Availability, RateLimiter
from bot.papers.lookups import PaperLookups
from storage import migrate
from storage.database import Database
from tests.servers.arxiv_server import FakeArxiv
from tests.servers.discord_server import DiscordAPI

POSTGRES_URL_ENV = "SHORTSCIENCE_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "SHORTSCIENCE_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Property tests draw new examples on every local run (that is how they find bugs), but in CI
# (which sets CI) each test draws the same examples every time, derived from the test itself,
# so a red CI run is reproducible and not a coin toss; a failure prints the blob that replays it.
settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def _postgres_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL, or a visible skip; CI sets REQUIRE so a missing server fails."""
    url = _postgres_url()
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except (OperationalError, ModuleNotFoundError) as error:
        reason = f"PostgreSQL not reachable at {url}: {str(error).splitlines()[0]}"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_POSTGRES_ENV}=1 makes these tests mandatory)")
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh schema of its own on the server, so tests never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shortscience.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "shortscience.db"
    database = Database.connect(f"sqlite:///{path}")
    migrate.upgrade(database)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def db(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database, as `shortscience db upgrade` leaves it."""
    target = make_url(database_url)
    if target.get_backend_name() == "sqlite" and target.database:
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target.database)
    database = Database.connect(database_url)
    migrate.upgrade(database)  # nothing to do on a copy of the template
    try:
        yield database
    finally:
        database.dispose()


# --- Discord, served locally ------------------------------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[DiscordAPI]:
    """The local Discord REST API; a test fails if the server itself went wrong."""
    async with DiscordAPI() as server:
        yield server
    assert not server.server_errors


# --- arXiv, served locally -------------------------------------------------------------------


@pytest.fixture
def arxiv_server() -> Iterator[FakeArxiv]:
    """A local arXiv API replaying the recorded responses in tests/fixtures/arxiv."""
    with FakeArxiv() as server:
        yield server


@pytest.fixture
def arxiv_settings(arxiv_server: FakeArxiv) -> ArxivSettingsView:
    # No pacing and short waits: the pace is tested on its own with an injected clock.
    return ArxivSettingsView(
        api_url=arxiv_server.url,
        timeout_seconds=1.0,
        request_interval_seconds=0.0,
        max_retries=2,
        batch_size=50,
        backoff_seconds=0.01,
    )


class ManualClock:
    """A monotonic clock that moves only when a test moves it (``now += seconds``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def arxiv_clock() -> ManualClock:
    """The clock of arXiv's cool-down after a failure (30 s, doubling to 10 minutes): a test
    says when it is over, instead of waiting for it."""
    return ManualClock()


@pytest.fixture
def arxiv_client(arxiv_settings: ArxivSettingsView, arxiv_clock: ManualClock) -> ArxivClient:
    return ArxivClient(
        arxiv_settings,
        limiter=RateLimiter(arxiv_settings.request_interval_seconds),
        availability=Availability(clock=arxiv_clock),
    )


@pytest.fixture
def lookups(db: Database, arxiv_client: ArxivClient) -> PaperLookups:
    return PaperLookups(db, arxiv_client, refresh_after=timedelta(days=30), batch_window=0.05)


@pytest.fixture
def ctx(db: Database, lookups: PaperLookups, arxiv_client: ArxivClient) -> CommandContext:
    """The services every command gets, on a real database and the local arXiv."""
    return CommandContext(db=db, lookups=lookups, arxiv=arxiv_client, limits=LimitSettings())
