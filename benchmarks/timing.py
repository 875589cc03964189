"""Shared by the benchmark scripts: the median wall time of a call."""

import statistics
import time


def timeit(fn, repeat=5, warmup=1):
    """Median of ``repeat`` timed calls of ``fn`` (seconds), after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)
