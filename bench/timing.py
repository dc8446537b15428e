"""Timing helpers shared by the benchmarks: medians of repeated runs, printed as a table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(function: Callable[[], object], repeats: int = 30, warmup: int = 3) -> float:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def report(rows: list[tuple[str, float]], baseline: str, target: str) -> None:
    """Print each row's median and its ratio to the baseline row."""
    base = dict(rows)[baseline]
    for name, value in rows:
        print(f"  {name:<58} {value:9.2f} ms   x{value / base:5.2f} of '{baseline}'")
    print(f"  target: {target}")
