"""The bad-input suite measured (issue 12): cases tried and answered per family, the slowest
case, and the peak memory of the process that ran them all.

Runs the bad-input tests (``tests/test_bad_files.py``, ``tests/test_cli_inputs.py``, the
non-slow ones unless ``--slow``) in this process, one after another, through
``pytest.main`` with a small plugin that records each test's outcome, its wall time and the
process's peak resident memory after it; generated tests (hypothesis) count each example
they ran as a case, with its own time (hypothesis's observability callback). A runs in-process, so the peak memory of the whole run bounds
every case's own (cases started as a separate ``xbar-hw`` process are timed by their
tests, which assert the bound themselves). Prints JSON. Not a test.

    python benchmarks/bench_bad_inputs.py [--slow]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis.internal.observability import add_observability_callback

ROOT = Path(__file__).resolve().parent.parent
FILES = ["tests/test_bad_files.py", "tests/test_cli_inputs.py"]


class Recorder:
    """pytest plugin: outcome, seconds and peak RSS (MiB) per test."""

    def __init__(self):
        self.rows: list[dict] = []
        self.t0: dict[str, float] = {}
        self.examples: dict[str, list] = defaultdict(list)  # family -> [(status, seconds)]

    def observe(self, obs, thread_id: int | None = None) -> None:
        """hypothesis observation: one generated example ran."""
        if getattr(obs, "type", None) == "test_case" and obs.status != "gave_up":
            fam = family(obs.property)
            self.examples[fam].append((obs.status, sum(obs.timing.values())))

    def pytest_runtest_setup(self, item):
        self.t0[item.nodeid] = time.perf_counter()

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.rows.append({
                "test": report.nodeid, "outcome": report.outcome,
                "seconds": round(time.perf_counter() - self.t0.get(report.nodeid, time.perf_counter()), 3),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            })


def family(nodeid: str) -> str:
    """A test function's name without its parameters: the family of bad input it tries."""
    return nodeid.split("::")[-1].split("[")[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", action="store_true", help="include the slow tests (signals, README)")
    args = ap.parse_args()
    rec = Recorder()
    marks = "slow or not slow" if args.slow else "not slow"
    add_observability_callback(rec.observe, all_threads=True)
    t0 = time.perf_counter()
    code = pytest.main(["-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-m", marks,
                        *[str(ROOT / f) for f in FILES]], plugins=[rec])
    per = defaultdict(lambda: {"tried": 0, "answered": 0, "max_seconds": 0.0})
    for r in rec.rows:
        f = per[family(r["test"])]
        f["tried"] += 1
        f["answered"] += r["outcome"] == "passed"
        f["max_seconds"] = max(f["max_seconds"], r["seconds"])
    for fam, runs in rec.examples.items():  # a generated test: its examples are the cases
        per[fam].update(tried=len(runs), answered=sum(s == "passed" for s, _ in runs), generated=True,
                        max_seconds_per_example=round(max(t for _, t in runs), 3))
    slowest = max(rec.rows, key=lambda r: r["seconds"]) if rec.rows else None
    print(json.dumps({
        "pytest_exit": int(code), "seconds": round(time.perf_counter() - t0, 1),
        "tests": len(rec.rows), "passed": sum(r["outcome"] == "passed" for r in rec.rows),
        "cases": sum(f["tried"] for f in per.values()), "answered": sum(f["answered"] for f in per.values()),
        "families": dict(sorted(per.items())),
        "slowest_test": slowest,
        "peak_rss_mib": max((r["peak_rss_mib"] for r in rec.rows), default=None),
        "note": "a case: one parameter of a parametrized test, one example of a generated one; "
                "max_seconds: the slowest test of the family, start to end (subprocess cases include the "
                "interpreter's start)",
    }, indent=1))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
