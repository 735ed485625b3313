"""Percentiles, the machine and library versions, the JSON and the printed table."""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def latencies(seconds: list[float]) -> dict[str, float | int]:
    """p50, p99 and max in milliseconds (nearest-rank percentiles) over the calls."""
    ordered = sorted(seconds)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "calls": 0}

    def rank(fraction: float) -> float:
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000

    return {
        "p50_ms": round(rank(0.50), 3),
        "p99_ms": round(rank(0.99), 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "calls": len(ordered),
    }


def machine() -> dict[str, Any]:
    libraries: dict[str, str | None] = {}
    for name in ("sqlalchemy", "psycopg", "alembic", "discord.py"):
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": libraries,
    }


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def table(results: dict[str, Any]) -> str:
    """The results as lines a person reads."""
    lines = [f"size {results['size']:,} summaries on {results['database']}"]
    for key, value in results.items():
        if isinstance(value, dict) and "p50_ms" in value:
            extra = f"  {value['per_s']:.0f}/s" if "per_s" in value else ""
            if "cpu_ms" in value:
                extra += f"  cpu {value['cpu_ms']:.1f} ms"
            if "server_cpu_ms" in value:
                extra += f" (+ server {value['server_cpu_ms']:.1f} ms)"
            lines.append(
                f"{key:<16} p50 {value['p50_ms']:8.2f} ms  p99 {value['p99_ms']:8.2f} ms"
                f"  max {value['max_ms']:8.2f} ms  ({value['calls']} calls){extra}"
            )
    render = results.get("render")
    if isinstance(render, dict):
        rates = ", ".join(
            f"{kind} {rate:,.0f}" for kind, rate in render.items() if isinstance(rate, float)
        )
        lines.append(f"{'render':<16} posts/s: {rates}")
        threads = render.get("threads")
        if isinstance(threads, dict) and threads:
            rates = ", ".join(f"{kind} {rate:,.0f}" for kind, rate in threads.items())
            lines.append(f"{'render threads':<16} summaries/s: {rates}")
    delivery = results.get("delivery")
    if isinstance(delivery, dict):
        for scenario, figures in delivery.items():
            if not isinstance(figures, dict):
                continue  # e.g. which network was measured
            rate = figures.get("achieved_per_s", figures.get("per_s"))
            ratio = f", {figures['ratio']:.2f} of ideal" if "ratio" in figures else ""
            lines.append(f"{'delivery':<16} {scenario}: {rate:,.1f} parts/s{ratio}")
    for key in (
        "idle_rss_mb",
        "idle_rss_floor_mb",
        "rss_ratio",
        "startup_s",
        "startup_floor_s",
        "startup_cpu_s",
        "startup_cpu_floor_s",
        "fill_s",
        "db_bytes",
    ):
        if key in results:
            lines.append(f"{key:<16} {results[key]}")
    return "\n".join(lines)
