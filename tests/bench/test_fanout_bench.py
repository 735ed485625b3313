"""``bench.fanout`` runs end to end in a tiny form and says what it measured.

Two real ``shortscience run`` processes (one shard each of one bot) on a scratch schema
of the PostgreSQL server, the local gateway, and the local REST server that enforces
Discord's rate limits. No timing is asserted (the machine may be busy): every channel's
digest is built once, by the two processes together, every part arrives once, no
channel is left without its digest and Discord never answered 429.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bench.fanout import SMALL, Sizes, lines, measure

pytestmark = pytest.mark.postgres

TINY = Sizes(channels=40, summaries=60, deliver_timeout_s=120.0, lead_s=SMALL.lead_s)


def test_digests_due_at_once_are_built_and_delivered_inside_the_limits(postgres_url: str) -> None:
    schemas_before = _bench_schemas(postgres_url)
    results = measure(postgres_url, sizes=TINY)
    found = results["fanout"]
    assert found["channels"] == found["digests_built"] == TINY.channels
    assert sum(found["built_by_process"]) == TINY.channels
    assert found["parts_received"] == TINY.channels, "one part a digest, each once"
    assert found["starved"] == 0
    assert found["answers_429"] == {"global": 0, "user": 0}
    assert found["latency"]["calls"] == TINY.channels
    assert found["allowed_per_s"] < found["global_limit_per_s"]
    assert "starved 0" in "\n".join(lines(results))
    assert _bench_schemas(postgres_url) == schemas_before, "the scratch schema is dropped"


def _bench_schemas(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(
                connection.scalars(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_%'")
                )
            )
    finally:
        engine.dispose()
