"""Pacer: calls from many threads spaced evenly, never more than the rate in any second."""

from __future__ import annotations

import itertools
import threading

import pytest

from publishers.networks.pacing import Pacer


class ManualClock:
    """A clock that moves only when the test moves it (the pacer's sleeps are recorded)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_calls_are_spaced_by_the_interval_and_waits_add_up() -> None:
    clock = ManualClock()
    slept: list[float] = []
    pacer = Pacer(4, clock=clock, sleep=slept.append)
    waits = [pacer.wait() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert slept == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_a_quiet_spell_gives_no_burst_credit() -> None:
    clock = ManualClock()
    pacer = Pacer(2, clock=clock, sleep=lambda _: None)
    pacer.wait()
    clock.now += 60.0
    assert [pacer.wait(), pacer.wait()] == pytest.approx([0.0, 0.5])


def test_threads_together_get_distinct_turns_no_closer_than_the_interval() -> None:
    clock = ManualClock()
    turns: list[float] = []
    lock = threading.Lock()
    pacer = Pacer(50, clock=clock, sleep=lambda _: None)

    def caller() -> None:
        for _ in range(25):
            waited = pacer.wait()
            with lock:
                turns.append(clock.now + waited)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    turns.sort()
    assert len(turns) == 200
    gaps = [b - a for a, b in itertools.pairwise(turns)]
    assert min(gaps) == pytest.approx(0.02)
    second = 1.0 - 1e-9  # turns are sums of floats: 100.0 + 50 * 0.02 may fall short of 101.0
    in_any_second = max(sum(1 for t in turns if start <= t < start + second) for start in turns)
    assert in_any_second == 50


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
