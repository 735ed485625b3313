"""``bench.publishing`` runs end to end on a tiny database and says what it measured.

No timing is asserted (the machine may be busy): the shape of the results, the counts,
that delivery really went through the worker to the fake network and was recorded as
sent (by one process and by two sharing the outbox, on SQLite and PostgreSQL), and that
the measured database is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from bench.fill import fill
from bench.publishing import KINDS, PROCESS_KINDS, Sizes, delivery_processes, measure
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import THREADED
from storage.database import Database
from storage.models import Channel, Delivery, Digest, DigestItem

TINY = Sizes(
    channels=60,
    rendered=120,
    zero_latency_parts=20,
    rate_limit=5,
    window_s=0.5,
    windows=2,
    process_parts=24,
    process_channels=4,
)


def counts(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Channel, Digest, DigestItem, Delivery)
        }


def test_measure_reports_every_publishing_figure_and_leaves_the_database_alone(
    tmp_path: Path,
) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'bench.db'}")
    try:
        fill(db, 200)
        before = counts(db)
        results = measure(db, small=True, sizes=TINY)
        after = counts(db)
    finally:
        db.dispose()

    assert set(results) == {"digest_selection", "render", "delivery"}
    assert after == before == {"channels": 0, "digests": 0, "digest_items": 0, "deliveries": 0}

    selection = results["digest_selection"]
    assert selection["channels"] == selection["calls"] == TINY.channels
    assert 0 < selection["p50_ms"] <= selection["p99_ms"] <= selection["max_ms"]
    assert selection["total_s"] > 0
    assert selection["summaries_selected"] > 0

    render = results["render"]
    assert render["summaries"] == TINY.rendered
    for kind in KINDS:
        assert render[kind] > 0, kind
        assert render["parts"][kind] > 0, kind
    # One part per summary where nothing is split; Facebook posts a digest as one post.
    assert render["parts"]["outbox"] == TINY.rendered
    assert render["parts"]["facebook"] == TINY.rendered, "one Page post per summary"
    assert render["parts"]["x"] == TINY.rendered, "one compact post per summary"
    # Full threads: each summary whole, so the parts outnumber the summaries.
    assert set(render["threads"]) == set(THREADED)
    for kind in THREADED:
        assert render["threads"][kind] > 0, kind
        assert render["parts"][f"thread_{kind}"] > TINY.rendered, kind

    delivery = results["delivery"]
    zero = delivery["zero_latency"]
    assert zero["parts"] >= TINY.zero_latency_parts
    assert zero["recorded_sent"] == zero["server_posts"] == zero["parts"]
    assert zero["per_s"] > 0

    limited = delivery["latency_50ms_rate_limited"]
    assert limited["parts"] == TINY.rate_limit * TINY.windows
    assert limited["recorded_sent"] == limited["server_posts"] == limited["parts"]
    assert limited["windows"] >= TINY.windows
    assert limited["achieved_per_s"] > 0
    assert limited["ideal_per_s"] > 0
    assert 0 < limited["ratio"] <= 1
    assert limited["ratio"] == round(limited["parts"] / (TINY.rate_limit * limited["windows"]), 3)
    assert_process_runs(delivery, "sqlite")


def assert_process_runs(delivery: dict[str, Any], dialect: str) -> None:
    """Every run of 1 and 2 delivering processes sent each part once: the network took
    as many as were built, and the outbox recorded as many."""
    for kind in PROCESS_KINDS:
        for count in TINY.process_counts:
            run = delivery[f"{kind}_{count}_process_{dialect}"]
            assert run["processes"] == count
            assert run["channels"] == TINY.process_channels
            assert run["built"] == TINY.process_parts
            assert run["parts"] == run["recorded_sent"] == run["network_took"] == run["built"]
            assert run["per_s"] > 0 and run["cpu_ms_per_part"] > 0
    for count in TINY.process_counts:
        floor = delivery[f"mastodon_floor_{count}_process"]
        assert floor["parts"] == TINY.process_parts and floor["per_s"] > 0


@pytest.mark.postgres
def test_delivery_processes_share_a_postgresql_outbox_in_a_schema_dropped_afterwards(
    postgres_server: str,
) -> None:
    engine = create_engine(postgres_server)
    try:
        before = schemas(engine)
        delivery = delivery_processes(DigestRenderer(Templates()), TINY, postgres_server)
        after = schemas(engine)
    finally:
        engine.dispose()
    assert_process_runs(delivery, "postgresql")
    assert after == before, "the scratch schema is dropped"


def schemas(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.scalars(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_delivery_%'")
            )
        )
