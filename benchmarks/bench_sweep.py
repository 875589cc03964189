"""Speedup of a sweep with 2 workers against 1 (issue 16).

The same sweep runs twice through ``python -m xbar_hw.sweep`` on a local Ray cluster (in
its own network namespace, loopback only), with ``--workers 1`` and ``--workers 2``: the
default design with 64x64 crossbars, exact IR drop at PytorX's wires and programming
variation of 0.1 level steps (every chip draws its own, so no chip reuses another's IR-drop
solve), ADC bits 4 to 8, 4 chips per point (20 chip tasks), a mnist_cnn trained one epoch,
300 test images. Each worker runs torch and BLAS on one thread. Timed: ``sweep_seconds``
(from Ray being up to the last row: training, mapping, chips; what more workers speed up)
and the command's whole wall time (Python start, data, Ray's start and the report
included). Both are run ``--repeat`` times, interleaved, and the fastest run of each counts
(other work on the machine only ever slows a run down). Prints JSON; run on an otherwise
idle machine. Not a test.

    python benchmarks/bench_sweep.py [--chips 4] [--bits 4 5 6 7 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def sweep_doc(bits: list[int], chips: int) -> dict:
    return {
        "name": "bench",
        "description": "benchmarks/bench_sweep.py: 64x64 crossbars, IR drop and variation, ADC bits",
        "base": str(ROOT / "designs" / "default.yaml"),
        "set": {"crossbar": {"rows": 64, "cols": 64}, "nonideal.ir_drop.enabled": True,
                "nonideal.variation.sigma": 0.1},
        "axes": {"adc.bits": bits},
        "chips": chips,
        "workload": {"model": "mnist_cnn", "width": 16, "epochs": 1, "lr": 3e-3, "limit": 300, "images": 8},
    }


def run(sweep: Path, workers: int, tmp: Path) -> dict:
    out = tmp / f"out{workers}"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "xbar_hw.sweep", "sweep", str(sweep), "-o", str(out), "--workers", str(workers),
           "--json", "--quiet"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"bench_sweep: the sweep with {workers} worker(s) failed:\n{r.stderr[-2000:]}")
    s = json.loads(r.stdout[r.stdout.index("{"):])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {"wall_seconds": round(wall, 2), "sweep_seconds": s["sweep_seconds"], "ray_start_seconds": s["ray_start_seconds"],
            "rows": len(rows), "failed": s["failed"], "chip_task_seconds": round(sum(r.get("chip_seconds", 0) for r in rows), 2),
            "map_task_seconds": round(sum({r["fingerprint"]: r.get("map_seconds", 0) for r in rows}.values()), 2),
            "chip_accs": {r["key"]: r["chip_acc"] for r in rows}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=4)
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    ap.add_argument("--repeat", type=int, default=2, help="runs of each, interleaved; the fastest of each counts")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xb-", dir="/tmp"))  # short: Ray's socket paths live below it
    runs: dict[int, list[dict]] = {1: [], 2: []}
    try:
        sweep = tmp / "bench.yaml"
        sweep.write_text(yaml.safe_dump(sweep_doc(args.bits, args.chips)))
        loads = [os.getloadavg()[0]]
        for i in range(args.repeat):
            for workers in (1, 2):
                runs[workers].append(run(sweep, workers, tmp / f"r{i}"))
                loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    accs = [r.pop("chip_accs") for rs in runs.values() for r in rs]
    one, two = (min(runs[w], key=lambda r: r["sweep_seconds"]) for w in (1, 2))
    print(json.dumps({
        "sweep": {"points": len(args.bits), "chips": args.chips, "design": "default, 64x64, IR drop, variation 0.1",
                  "axis": {"adc.bits": args.bits}},
        "workers_1": one, "workers_2": two, "same_results": all(a == accs[0] for a in accs),
        "speedup_sweep": round(one["sweep_seconds"] / two["sweep_seconds"], 3),
        "speedup_wall": round(one["wall_seconds"] / two["wall_seconds"], 3),
        "all_sweep_seconds": {w: [r["sweep_seconds"] for r in rs] for w, rs in runs.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1min": [round(x, 2) for x in loads]},
    }, indent=2))


if __name__ == "__main__":
    main()
