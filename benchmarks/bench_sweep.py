"""Speedup of a sweep with 2 workers against 1 (issue 16).

The same sweep runs twice through ``python -m xbar_hw.sweep`` on a local Ray cluster (in
its own network namespace, loopback only), with ``--workers 1`` and ``--workers 2``: the
tiny design at PytorX's fault rates with exact IR drop, ADC bits 4..7, 2 chips per point
(every chip draws its own faults, so no chip reuses another's IR-drop solve), a mnist_cnn
trained one epoch. Each worker runs torch and BLAS on one thread. Timed: ``sweep_seconds``
(from Ray's start to the last row: training, mapping, chips; what more workers speed up)
and the command's whole wall time (Python start, data, Ray's start and the report
included). Prints JSON; run on an otherwise idle machine. Not a test.

    python benchmarks/bench_sweep.py [--chips 2] [--bits 4 5 6 7]
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
        "description": "benchmarks/bench_sweep.py: tiny design, IR drop and PytorX faults, ADC bits",
        "base": str(ROOT / "designs" / "tiny.yaml"),
        "set": {"nonideal.saf": {"sa0": 0.0175, "sa1": 0.0904}, "nonideal.ir_drop.enabled": True},
        "axes": {"adc.bits": bits},
        "chips": chips,
        "workload": {"model": "mnist_cnn", "width": 8, "epochs": 1, "lr": 3e-3, "limit": 200, "images": 8},
    }


def run(sweep: Path, workers: int, tmp: Path) -> dict:
    out = tmp / f"out{workers}"
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
            "rows": len(rows), "failed": s["failed"], "chip_task_seconds": round(sum(r["chip_seconds"] for r in rows), 2),
            "chip_accs": {r["key"]: r["chip_acc"] for r in rows}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=2)
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 5, 6, 7])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xb-", dir="/tmp"))  # short: Ray's socket paths live below it
    try:
        sweep = tmp / "bench.yaml"
        sweep.write_text(yaml.safe_dump(sweep_doc(args.bits, args.chips)))
        one, two = run(sweep, 1, tmp), run(sweep, 2, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    same = one.pop("chip_accs") == two.pop("chip_accs")
    print(json.dumps({
        "sweep": {"points": len(args.bits), "chips": args.chips, "design": "tiny + IR drop + PytorX faults",
                  "axis": {"adc.bits": args.bits}},
        "workers_1": one, "workers_2": two, "same_results": same,
        "speedup_sweep": round(one["sweep_seconds"] / two["sweep_seconds"], 3),
        "speedup_wall": round(one["wall_seconds"] / two["wall_seconds"], 3),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1min": os.getloadavg()[0]},
    }, indent=2))


if __name__ == "__main__":
    main()
