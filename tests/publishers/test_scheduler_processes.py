"""Several `shortscience run` processes on one PostgreSQL database: one schedules, all deliver.

Real processes against the real PostgreSQL server and the local X API. A digest is due
when they start (its job's time passed while nothing ran), so the process holding the
scheduler builds it and starts sending a five-part thread; X makes the third post and
never answers, and the holder is killed with SIGKILL while it waits. A process standing
by takes the scheduler over within seconds, the delivery workers finish the thread once
the dead claim's lease runs out, and afterwards there is exactly one digest and each
part is on X exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publishers.scheduler import store_job
from storage import migrate
from storage.database import Database
from storage.models import Delivery, DeliveryState, Digest
from storage.types import utcnow
from tests.publishers.test_delivery import five_part_summary
from tests.servers.http_fake import Fault, FaultKind
from tests.servers.x_server import TWEETS, XServer

pytestmark = pytest.mark.postgres

COMMAND = [sys.executable, "-m", "bot.cli"]
SCHEDULE = "0 9 * * *"


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database.connect(postgres_url)
    migrate.upgrade(db)
    try:
        yield db
    finally:
        db.dispose()


def _due_job(db: Database) -> None:
    """x-main's schedule's job as a stopped scheduler left it: its time passed a minute ago.

    Written straight into the job store, so no scheduler in this process runs it.
    """
    store_job(db, SCHEDULE, "UTC", due=utcnow() - timedelta(minutes=1))


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("processes", [2, 3])
def test_one_process_schedules_another_takes_over_and_nothing_is_lost_or_doubled(
    pg: Database, postgres_url: str, tmp_path: Path, processes: int
) -> None:
    five_part_summary(pg)
    _due_job(pg)
    with XServer() as x:
        config = tmp_path / "config.toml"
        config.write_text(
            "[publishing]\ntimeout_seconds = 1.0\ndelivery_poll_seconds = 1.0\n"
            "[[channels]]\nname = 'x-main'\nkind = 'x'\nthread = true\nmax_parts = 25\n"
            f"schedule = '{SCHEDULE}'\nmax_items = 1\napi_base = '{x.url}'\n",
            encoding="utf-8",
        )
        account = x.account
        env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "DISCORD"))}
        env.pop("SHORTSCIENCE_CONFIG", None)
        env.update(
            DATABASE_URL=postgres_url,
            X_API_KEY=account.consumer_key,
            X_API_SECRET=account.consumer_secret,
            X_ACCESS_TOKEN=account.access_token,
            X_ACCESS_TOKEN_SECRET=account.access_token_secret,
        )
        x.fail("POST", TWEETS, Fault(FaultKind.HANG_AFTER, seconds=60), skip=2)
        logs = [tmp_path / f"run{n}.log" for n in range(processes)]
        running = []
        for log in logs:
            with log.open("w") as out:
                running.append(
                    subprocess.Popen(
                        [*COMMAND, "--config", str(config), "run"],
                        cwd=tmp_path,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        try:

            def started() -> bool:
                return all("running; stop with" in log.read_text() for log in logs)

            _wait(started, "every process to start")
            holders = [n for n, log in enumerate(logs) if "scheduler: active" in log.read_text()]
            assert len(holders) == 1, [log.read_text() for log in logs]
            assert all(
                "scheduler: standing by" in log.read_text()
                for n, log in enumerate(logs)
                if n not in holders
            )
            _wait(lambda: len(x.posts) == 3, "the third post to be made")
            [holder] = holders
            running[holder].send_signal(signal.SIGKILL)
            running[holder].wait(timeout=10)

            def taken_over() -> bool:
                return any("took it over" in log.read_text() for log in logs)

            _wait(taken_over, "a standing-by process to take the scheduler over", seconds=30)
            _wait(lambda: len(x.posts) == 5, "the thread to be finished", seconds=60)
            takers = [log for log in logs if "took it over" in log.read_text()]
            assert len(takers) == 1, "exactly one process takes over"
        finally:
            for process in running:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            codes = [process.wait(timeout=30) for process in running]
        posts = x.posts
    assert sorted(codes) == sorted([-signal.SIGKILL] + [0] * (processes - 1))
    assert len(posts) == 5
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]
    with pg.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 1
        rows = session.scalars(select(Delivery).order_by(Delivery.part)).all()
    assert [row.state for row in rows] == [DeliveryState.SENT] * 5
    assert [row.remote_id for row in rows] == [post.id for post in posts]
