"""Footprint (issue 11, item 4): idle RSS of ``shortscience run`` beside a bare
``discord.Client`` process's, and the time from start to the "running" line.

Both are measured on real subprocesses, because import cost and resident memory are
properties of a fresh interpreter: measuring inside the benchmark process would count
what the benchmark itself has already imported. Targets (reported, not asserted):
idle RSS at most 1.5x the bare client's, start-up at most 1 s.

The service runs headless (standard input is /dev/null, no Discord token) in a scratch
folder with a config that has no channels, so it builds and posts no digest; its only
writes to the benchmark database are a no-op migration check and the scheduler lock,
which it releases when stopped with SIGTERM.

Both children start from compiled bytecode, as an installed service does (pip compiles
every module when it installs): they write and read it in a scratch cache
(``PYTHONPYCACHEPREFIX``), filled by one start of each that is not measured. Without it,
a shell with ``PYTHONDONTWRITEBYTECODE`` set made every start of the service compile its
own modules from source (an editable install has no bytecode of them), while the floor's
discord.py came compiled from its installation. Start-up is reported as wall time and as the
child's CPU time to its ready line, which a busy machine disturbs less.

What the idle RSS is made of comes with it (issue 21): the kernel's split into anonymous
memory (Python's objects and every library's own allocations) and file-backed pages (the
interpreter's and the libraries' mapped code), and the largest files by resident size,
grouped by the package that installs them, so a figure names what it is made of (on
PostgreSQL, psycopg-binary's bundled libpq and OpenSSL: ``psycopg_binary.libs``) and which
psycopg implementation the service loaded (``PSYCOPG_IMPL`` in the benchmark's environment
reaches the child).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bot
from bot.config import CONFIG_ENV, SECRET_ENV_VARS

BOT_PACKAGE = Path(bot.__file__).resolve().parent
"""Where the service's own modules are, whose bytecode the measured starts must load."""
READY_LINE = "running; stop with Ctrl-C or SIGTERM"
"""What ``shortscience run`` logs once every part has started (bot/service.py)."""
FLOOR_READY = "ready"
RSS_RATIO_TARGET = 1.5
STARTUP_TARGET_S = 1.0
RUNS = 3
WARM_UP_RUNS = 1
"""Unmeasured starts per series that fill the bytecode cache."""
IDLE_S = 3.0
LARGEST_FILES = 8
"""How many mapped files (grouped by package) the result names for each process."""
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0

FLOOR_SCRIPT = f"""
import time
import discord
client = discord.Client(intents=discord.Intents.default())
print({FLOOR_READY!r}, flush=True)
time.sleep(3600)
"""
"""The floor: an interpreter with discord.py imported and a Client built, not logged in
(there is no network here); what any Discord bot process costs before doing anything."""

CONFIG_TEXT = """\
# Written by bench/footprint.py: no channels, so `run` schedules and posts nothing.
[database]
auto_upgrade = true

[logging]
level = "INFO"
"""


@dataclass
class _Output:
    """Reads a child's merged output to the end (so it never blocks on a full pipe) and
    notes when the ready line came."""

    ready_text: str
    lines: list[str] = field(default_factory=list)
    ready_at: float | None = None
    ready_cpu_s: float | None = None
    pid: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def follow(self, process: subprocess.Popen[str]) -> threading.Thread:
        stream = process.stdout
        if stream is None:
            raise ValueError("the process's output must be a pipe")

        def read() -> None:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                if self.ready_at is None and self.ready_text in line:
                    self.ready_at = time.perf_counter()
                    if self.pid is not None:
                        self.ready_cpu_s = _cpu_s(self.pid)
                    self.ready.set()
            self.ended.set()
            self.ready.set()  # wake the waiter: the process ended before it was ready

        thread = threading.Thread(target=read, name="footprint-output", daemon=True)
        thread.start()
        return thread

    def tail(self, count: int = 15) -> str:
        return "\n".join(self.lines[-count:])


@dataclass(frozen=True)
class Resident:
    """One idle process's memory, read once from ``/proc``: ``rss_mb`` is what the target
    compares; anonymous, file-backed and shared memory add up to it."""

    rss_mb: float
    peak_mb: float
    anon_mb: float
    file_mb: float
    shmem_mb: float
    files_mb: dict[str, float]
    """Resident MiB per mapped file, grouped by the package that installs it."""
    psycopg_impl: str | None


@dataclass(frozen=True)
class _Run:
    startup_s: float
    startup_cpu_s: float
    resident: Resident | None
    exit_code: int


STATUS_KEYS = {
    "VmRSS": "rss",
    "VmHWM": "peak",
    "RssAnon": "anon",
    "RssFile": "file",
    "RssShmem": "shmem",
}
"""``/proc/<pid>/status`` memory lines (kB) read for an idle process."""


def _proc_status_mb(pid: int) -> dict[str, float]:
    """The memory lines of ``/proc/<pid>/status`` in MiB, all from one read (so the parts
    add up to the total); Linux only, like the target."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        text = status.read()
    found: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_KEYS:
            found[STATUS_KEYS[key]] = int(value.split()[0]) / 1024
    missing = sorted(key for key, name in STATUS_KEYS.items() if name not in found)
    if missing:
        raise RuntimeError(f"/proc/{pid}/status has no {', '.join(missing)} line")
    return found


def file_group(path: str) -> str:
    """What a mapped file is counted under: the package folder for an installed package
    (``psycopg_binary.libs`` holds the libpq and OpenSSL that psycopg-binary bundles), else
    the file's name (``libpython3.11.so.1.0``, ``libcrypto.so.3``)."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[0]
    return path.rsplit("/", 1)[-1]


def psycopg_impl(paths: Sequence[str]) -> str | None:
    """Which psycopg implementation a process loaded, from its mapped files: ``binary``
    (psycopg-binary, its own libpq), ``c`` (psycopg-c, built against the system's libpq),
    ``python`` (the system's libpq through ctypes), or None (no libpq at all: SQLite)."""
    if any("/psycopg_binary/" in path for path in paths):
        return "binary"
    if any("/psycopg_c/" in path for path in paths):
        return "c"
    if any(path.rsplit("/", 1)[-1].startswith("libpq.so") for path in paths):
        return "python"
    return None


def resident_files(smaps: str) -> tuple[dict[str, float], list[str]]:
    """From the text of ``/proc/<pid>/smaps``: resident MiB per file group (anonymous
    mappings, the heap and the stack left out: the status line counts them), largest first,
    and every mapped file's path."""
    groups: dict[str, int] = {}
    paths: list[str] = []
    current: str | None = None
    for line in smaps.splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" in head[3]:  # a mapping's first line
            path = head[5].strip() if len(head) == 6 else ""
            current = path if path.startswith("/") else None
            if current is not None and current not in paths:
                paths.append(current)
        elif current is not None and line.startswith("Rss:"):
            group = file_group(current)
            groups[group] = groups.get(group, 0) + int(line.split()[1])
    ordered = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    return {group: kb / 1024 for group, kb in ordered}, paths


def _resident(pid: int) -> Resident:
    """An idle process's memory: its status lines, then its mapped files."""
    status = _proc_status_mb(pid)
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        files, paths = resident_files(smaps.read())
    return Resident(
        rss_mb=status["rss"],
        peak_mb=status["peak"],
        anon_mb=status["anon"],
        file_mb=status["file"],
        shmem_mb=status["shmem"],
        files_mb=files,
        psycopg_impl=psycopg_impl(paths),
    )


def _cpu_s(pid: int) -> float:
    """The user and system CPU time a process has used so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    # The command name is in parentheses and may hold spaces: count fields after it.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _clean_env(extra: dict[str, str], *, bytecode: Path) -> dict[str, str]:
    """This environment without any secret or config choice, so the child runs headless on
    the database we name, whatever the shell that started the benchmark had set; its
    bytecode goes to and comes from ``bytecode``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SECRET_ENV_VARS.values()
        and key not in (CONFIG_ENV, "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    env.update(extra)
    return env


def _service_command(config: Path) -> list[str]:
    """The installed console script when there is one, else the same entry point."""
    script = Path(sys.executable).parent / "shortscience"
    if script.is_file():
        head = [str(script)]
    else:
        head = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
    return [*head, "--config", str(config), "run"]


def _run_once(
    command: Sequence[str],
    *,
    ready_text: str,
    env: dict[str, str],
    cwd: Path,
    idle_s: float | None,
) -> _Run:
    """Start, wait for the ready line, optionally idle and read RSS, then SIGTERM and reap."""
    output = _Output(ready_text)
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and script, no shell
        list(command),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    output.pid = process.pid
    reader = output.follow(process)
    resident = None
    try:
        output.ready.wait(READY_TIMEOUT_S)
        if output.ready_at is None:
            state = "exited" if process.poll() is not None else "is still starting"
            raise RuntimeError(
                f"{command[0]} {state} without printing {ready_text!r} within "
                f"{READY_TIMEOUT_S:.0f} s; its output:\n{output.tail()}"
            )
        startup = output.ready_at - started
        if output.ready_cpu_s is None:
            raise RuntimeError(f"{command[0]} was ready but its CPU time could not be read")
        startup_cpu = output.ready_cpu_s
        if idle_s is not None:
            time.sleep(idle_s)
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} ended while idle; output:\n{output.tail()}")
            resident = _resident(process.pid)
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
    return _Run(
        startup_s=startup,
        startup_cpu_s=startup_cpu,
        resident=resident,
        exit_code=exit_code,
    )


def _series(
    command: Sequence[str],
    *,
    ready_text: str,
    env: dict[str, str],
    cwd: Path,
    runs: int,
    idle_s: float,
) -> tuple[list[_Run], _Run]:
    """``runs`` starts after the warm-up ones; only the last one idles and is measured for
    RSS (idling every run would only add wall time: the start-up figure is the median)."""
    for _ in range(WARM_UP_RUNS):
        _run_once(command, ready_text=ready_text, env=env, cwd=cwd, idle_s=None)
    done = [
        _run_once(
            command,
            ready_text=ready_text,
            env=env,
            cwd=cwd,
            idle_s=idle_s if index == runs - 1 else None,
        )
        for index in range(runs)
    ]
    return done, done[-1]


def measure(url: str, *, runs: int = RUNS, idle_s: float = IDLE_S) -> dict[str, Any]:
    """Idle RSS and start-up time of ``shortscience run`` on ``url`` (an already migrated,
    filled database) and of a bare ``discord.Client`` process, with their ratio."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    with (
        tempfile.TemporaryDirectory(prefix="shortscience-footprint-") as scratch,
        tempfile.TemporaryDirectory(prefix="shortscience-footprint-bytecode-") as bytecode,
    ):
        folder = Path(scratch)
        config = folder / "config.toml"
        config.write_text(CONFIG_TEXT, encoding="utf-8")
        service_runs, service = _series(
            _service_command(config),
            ready_text=READY_LINE,
            env=_clean_env({"DATABASE_URL": url}, bytecode=Path(bytecode)),
            cwd=folder,
            runs=runs,
            idle_s=idle_s,
        )
        floor_runs, floor = _series(
            [sys.executable, "-c", FLOOR_SCRIPT],
            ready_text=FLOOR_READY,
            env=_clean_env({}, bytecode=Path(bytecode)),
            cwd=folder,
            runs=runs,
            idle_s=idle_s,
        )
        leftovers = sorted(path.name for path in folder.rglob("*") if path != config)
        compiled = list(Path(bytecode).rglob("*.pyc"))
        # The cache mirrors each source's absolute path under the prefix.
        service_package = Path(bytecode, *BOT_PACKAGE.parts[1:])
        compiled_service = [path for path in compiled if path.is_relative_to(service_package)]
    if service.resident is None or floor.resident is None:
        raise RuntimeError("the last run of each series idles and must have read its RSS")
    memory, floor_memory = service.resident, floor.resident
    startup = statistics.median(run.startup_s for run in service_runs)
    startup_floor = statistics.median(run.startup_s for run in floor_runs)
    startup_cpu = statistics.median(run.startup_cpu_s for run in service_runs)
    startup_cpu_floor = statistics.median(run.startup_cpu_s for run in floor_runs)
    ratio = memory.rss_mb / floor_memory.rss_mb
    return {
        "idle_rss_mb": round(memory.rss_mb, 1),
        "idle_rss_floor_mb": round(floor_memory.rss_mb, 1),
        "rss_ratio": round(ratio, 2),
        "peak_rss_mb": round(memory.peak_mb, 1),
        "peak_rss_floor_mb": round(floor_memory.peak_mb, 1),
        "idle_rss_anon_mb": round(memory.anon_mb, 1),
        "idle_rss_file_mb": round(memory.file_mb, 1),
        "idle_rss_floor_anon_mb": round(floor_memory.anon_mb, 1),
        "idle_rss_floor_file_mb": round(floor_memory.file_mb, 1),
        "largest_files_mb": _largest(memory.files_mb),
        "largest_files_floor_mb": _largest(floor_memory.files_mb),
        "psycopg_impl": memory.psycopg_impl,
        "startup_s": round(startup, 3),
        "startup_floor_s": round(startup_floor, 3),
        "startup_runs_s": [round(run.startup_s, 3) for run in service_runs],
        "startup_floor_runs_s": [round(run.startup_s, 3) for run in floor_runs],
        "startup_cpu_s": round(startup_cpu, 3),
        "startup_cpu_floor_s": round(startup_cpu_floor, 3),
        "startup_cpu_runs_s": [round(run.startup_cpu_s, 3) for run in service_runs],
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "compiled_modules": len(compiled),
        "compiled_service_modules": len(compiled_service),
        "idle_s": idle_s,
        "exit_code": service.exit_code,
        "exit_codes": [run.exit_code for run in service_runs],
        "scratch_files": leftovers,
        "targets": {"rss_ratio_max": RSS_RATIO_TARGET, "startup_s_max": STARTUP_TARGET_S},
        "meets_rss_target": ratio <= RSS_RATIO_TARGET,
        "meets_startup_target": startup <= STARTUP_TARGET_S,
    }


def _largest(files_mb: dict[str, float]) -> dict[str, float]:
    """The ``LARGEST_FILES`` largest groups, rounded for the report."""
    return {group: round(mb, 2) for group, mb in list(files_mb.items())[:LARGEST_FILES]}
