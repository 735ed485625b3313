"""bench/discord.py end to end on a small filled SQLite file: a few interactions of every
kind at one rate, through the real ``shortscience run`` and the bare-client floor. Every
interaction gets its first response and its answer, none is refused, the report has its
fields, and what the load wrote (the members' users and votes) is gone afterwards (no
timing limits: the figures depend on the machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import discord as discord_bench
from bench.fill import fill
from storage.database import Database
from storage.models import ArchiveChange, User, Vote

RATE = 10
WINDOW_S = 2.0


def _count(db: Database, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_discord_path_answers_every_interaction_and_reports_its_figures(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    db = Database.connect(url)
    try:
        fill(db, 500)
        before = {model: _count(db, model) for model in (User, Vote, ArchiveChange)}

        results = discord_bench.measure(db, url, rates=[RATE], window_s=WINDOW_S)["discord"]

        after = {model: _count(db, model) for model in (User, Vote, ArchiveChange)}
    finally:
        db.dispose()
    assert after == before, "the load's users, votes and archive changes are taken away"
    assert results["cleaned_users"] > 0, "votes were cast, so members were stored"
    for series in ("service", "floor"):
        [rate] = results[series]["rates"]
        sent = int(RATE * WINDOW_S)
        assert rate["rate"] == RATE
        assert rate["sent"] == sent
        assert rate["unanswered"] == 0, series
        assert rate["incomplete"] == 0, series
        assert rate["refused"] == 0, series
        assert rate["first"]["calls"] == sent
        assert rate["complete"]["calls"] == sent
        for figures in (rate["first"], rate["complete"]):
            assert {"p50_ms", "p99_ms", "max_ms"} <= set(figures)
        assert set(rate["by_kind"]) == {kind for kind, _ in discord_bench.MIX}
        assert isinstance(rate["past_deadline"], int)
        assert isinstance(rate["meets"], bool)
        assert (rate["meets"], rate["keeps_up"]) == discord_bench.verdicts(rate)
        assert isinstance(rate["cpu_ms_per_interaction"], float)
        loop_cpu = rate["loop_cpu_ms_per_interaction"]
        assert isinstance(loop_cpu, float)
        assert 0 <= loop_cpu <= rate["cpu_ms_per_interaction"], "the main thread is a part"
        if series == "service":
            assert loop_cpu < rate["cpu_ms_per_interaction"], "the database work is elsewhere"
        [share] = rate["by_process"]
        assert share["interactions"] == sent
        assert share["cpu_ms_per_interaction"] == rate["cpu_ms_per_interaction"]
        assert rate["bench_cpu_ms_per_interaction"] > 0, "the servers and the load cost CPU"
        assert rate["bench_loop_lag"]["calls"] > 0
        assert rate["bench_collections"] == 0, "no garbage collection paused the harness"
        assert rate["server_cpu_ms_per_interaction"] is None, "SQLite has no server"
        assert results[series]["highest_rate"] in (0, RATE)
        assert results[series]["highest_rate_kept_up"] in (0, RATE)
        assert results[series]["nice"] == [results["bots_nice"]], "the bots run as usual"
        assert len(results[series]["load_average"]) == 3
    assert "service_2" not in results, "two processes only on PostgreSQL"
    if os.geteuid() == 0:  # only root may raise a priority
        assert results["harness_nice"] == discord_bench.HARNESS_NICE < results["bots_nice"]
    printed = "\n".join(discord_bench.lines({"discord": results}))
    assert "discord service" in printed and "discord floor" in printed
    assert "event loop" in printed
    assert "bench process cpu" in printed and "bench loop lag" in printed
    assert "highest rate also kept up with" in printed


@pytest.mark.postgres
def test_two_processes_on_postgresql_share_the_load_and_the_server_s_cpu_is_read(
    postgres_url: str,
) -> None:
    db = Database.connect(postgres_url)
    try:
        fill(db, 300)
        results = discord_bench.measure(
            db, postgres_url, rates=[RATE], window_s=WINDOW_S, floor=False
        )["discord"]
    finally:
        db.dispose()
    sent = int(RATE * WINDOW_S)
    [one] = results["service"]["rates"]
    [two] = results["service_2"]["rates"]
    assert one["unanswered"] == two["unanswered"] == 0
    assert [share["interactions"] for share in two["by_process"]] == [sent // 2, sent // 2]
    assert results["service_2"]["nice"] == [results["bots_nice"]] * 2
    assert all(share["cpu_ms_per_interaction"] > 0 for share in two["by_process"])
    for rate in (one, two):
        assert rate["server_cpu_ms_per_interaction"] > 0, "the commands read the database"
    [row] = results["scaling_complete"]
    assert row["rate"] == RATE
    assert row["one"]["p99_ms"] == one["complete"]["p99_ms"]
    assert row["two"]["p99_ms"] == two["complete"]["p99_ms"]
    printed = "\n".join(discord_bench.lines({"discord": results}))
    assert "database server" in printed and "by process" in printed
    assert "one -> two processes" in printed
    one_kept, two_kept = (results[s]["highest_rate_kept_up"] for s in ("service", "service_2"))
    assert results["scaling_kept_up"] == (round(two_kept / one_kept, 2) if one_kept else None)


def _rate(first_p99: float, complete_p99: float, **counts: int) -> dict[str, object]:
    figures = {"past_deadline": 0, "unanswered": 0, "incomplete": 0, **counts}
    return {**figures, "first": {"p99_ms": first_p99}, "complete": {"p99_ms": complete_p99}}


@pytest.mark.parametrize(
    ("rate", "meets", "keeps_up"),
    [
        (_rate(40, 300), True, True),
        (_rate(40, 2_500), True, False),  # deferred at once, answered seconds later
        (_rate(40, 300, incomplete=1), True, False),  # an answer never came
        (_rate(300, 400), False, False),  # first responses too slow
        (_rate(40, 300, past_deadline=1), False, False),
        (_rate(40, 300, unanswered=1, past_deadline=1), False, False),
    ],
)
def test_a_rate_is_kept_up_with_only_when_its_answers_come_within_a_second_too(
    rate: dict[str, object], meets: bool, keeps_up: bool
) -> None:
    assert discord_bench.verdicts(rate) == (meets, keeps_up)
