"""A process killed in the middle of a digest loses nothing and repeats nothing.

Real processes: `shortscience digest send` runs against the local X API, which makes the
third post and then never answers; the process is killed with SIGKILL while it waits.
A second process, once the claim's lease has run out, looks the third post up, finds it,
and sends the rest. X must hold each part exactly once, in order, as one thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from storage.database import Database
from storage.models import Delivery, DeliveryState, Digest, DigestStatus
from tests.publishers.test_delivery import five_part_summary
from tests.servers.http_fake import Fault, FaultKind
from tests.servers.x_server import TWEETS, XServer

COMMAND = [sys.executable, "-m", "bot.cli"]
TIMEOUT = 1.0


def _config(tmp_path: Path, x: XServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[publishing]\ntimeout_seconds = {TIMEOUT}\n"
        "[[channels]]\nname = 'x-main'\nkind = 'x'\nthread = true\nmax_parts = 25\n"
        "schedule = '0 9 * * *'\n"
        f"api_base = '{x.url}'\n",
        encoding="utf-8",
    )
    return path


def _env(x: XServer, database_url: str) -> dict[str, str]:
    account = x.account
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "DISCORD"))}
    env.update(
        DATABASE_URL=database_url,
        X_API_KEY=account.consumer_key,
        X_API_SECRET=account.consumer_secret,
        X_ACCESS_TOKEN=account.access_token,
        X_ACCESS_TOKEN_SECRET=account.access_token_secret,
    )
    env.pop("SHORTSCIENCE_CONFIG", None)
    return env


def _wait(condition: object, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_digest_killed_mid_thread_is_finished_by_the_next_process_without_a_double(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    five_part_summary(db)
    with XServer() as x:
        config = _config(tmp_path, x)
        env = _env(x, database_url)
        x.fail("POST", TWEETS, Fault(FaultKind.HANG_AFTER, seconds=60), skip=2)
        first = subprocess.Popen(
            [*COMMAND, "--config", str(config), "digest", "send", "x-main"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: len(x.posts) == 3, "the third post to be made")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert len(x.posts) == 3

        def third_claim_expired() -> bool:
            with db.sessions() as session:
                row = session.scalars(select(Delivery).where(Delivery.part == 2)).one()
                assert row.state is DeliveryState.SENDING, "killed while sending the third"
                assert row.lease_until is not None
            return time.time() > row.lease_until.timestamp() + 0.5

        _wait(third_claim_expired, "the dead process's claim to run out", seconds=60)
        second = subprocess.run(
            [*COMMAND, "--config", str(config), "digest", "deliver"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert "3 parts sent" in second.stdout
        posts = x.posts
    assert len(posts) == 5, "nothing lost, nothing twice"
    assert all(f" {n}/5" in post.text for n, post in enumerate(posts, start=1))
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]
    with db.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.part)).all()
        assert [row.remote_id for row in rows] == [post.id for post in posts]
        assert session.scalars(select(Digest)).one().status is DigestStatus.SENT
