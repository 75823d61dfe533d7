"""Small measuring helpers shared by the benchmarks."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable

__all__ = ["Timing", "percentile", "rss_mb", "time_calls"]


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process, in MiB (Linux)."""
    with open(f"/proc/{pid or os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Timing:
    """Latencies (seconds) of a run of calls and the wall time it took."""

    def __init__(self, latencies: list[float], wall: float) -> None:
        self.latencies = latencies
        self.wall = wall

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


async def time_calls(call: Callable[[], Awaitable[object]], count: int) -> Timing:
    """Run ``call`` ``count`` times one after another."""
    gc.collect()
    latencies: list[float] = []
    clock = time.perf_counter
    start = clock()
    for _ in range(count):
        t0 = clock()
        await call()
        latencies.append(clock() - t0)
    return Timing(latencies, clock() - start)
