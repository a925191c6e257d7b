"""One way to time things, for every latency number the project reports: the median of many runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable


def median_ms(fn: Callable[[], object], runs: int = 300, warmup: int = 10) -> float:
    """Median wall time of `fn()` in ms over `runs` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def median_ms_per_item(fn: Callable[[object], object], items: Iterable, warmup: int = 3) -> float:
    """Median wall time in ms of `fn(item)` over the items (one call each), after `warmup` untimed calls."""
    items = list(items)
    for it in items[:warmup]:
        fn(it)
    times = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)
