"""Co-simulation speed: vectors per second of the PE tile's cocotb testbench on Icarus and
on Verilator (when installed), and cycles per MVM measured against the analytic count
(xbar_hw.core.cycles.cycles_per_mvm), on designs/tiny.yaml and designs/default.yaml.

Each run is one :func:`xbar_hw.sim.cosim.cosim` on a seeded random load (every output
beat compared bit for bit with the golden model). "vectors_per_second" counts the
streaming phase only (MVMs back to back, inside the simulator); "sim_seconds" is the
whole simulator process (start-up, cell writes, configuration, MVMs); the Verilog
generation and the simulator build are timed apart (a build folder is reused when the
Verilog is unchanged: run twice to see warm numbers). The default design (8 crossbars of
128 x 128) writes its cells through the ``prog`` stream, one per clock cycle, and Icarus
spends tens of milliseconds on each write there (every write re-evaluates the array's
column sums): it gets a sparse load (``--default-density``, the fraction of non-zero
weights) and few vectors.
Prints JSON. Not a test.

    python benchmarks/bench_cosim.py [--tiny-vectors 200] [--default-vectors 2]
        [--default-density 0.003] [--skip-default] [--sims icarus,verilator] [--build-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from xbar_hw import load_design
from xbar_hw.core.cycles import cycles_per_mvm, mvm_phases
from xbar_hw.sim import runner
from xbar_hw.sim.cosim import cosim

ROOT = Path(__file__).resolve().parent.parent


def one(design, sim: str, vectors: int, build_dir: Path, density: float, seed: int) -> dict:
    t = time.perf_counter()
    r = cosim(design, seed=seed, vectors=vectors, sim=sim, build_dir=build_dir, density=density)
    phases = mvm_phases(design, gated=r["gated"], n_faults=r["fault_entries"], groups=r["groups"])
    return {
        "sim": sim,
        "vectors": vectors,
        "density": density,
        "ok": r["ok"],
        "mismatches": r["mismatches"],
        "cycles_per_mvm_measured": r["cycles_per_mvm_measured"],
        "cycles_per_mvm_analytic": r["cycles_expected"],
        "cycles_match": r["cycles_match"],
        "initiation_interval": r["initiation_interval"],
        "phases": phases,
        "vectors_per_second": r["vectors_per_second"],
        "stream_seconds": r["stream_seconds"],
        "sim_seconds": r["sim_seconds"],
        "prog_beats": r["prog_beats"],
        "rtl_seconds": r["rtl_seconds"],
        "sim_build_seconds": r["sim_build_seconds"],
        "sim_build_cached": r["sim_build_cached"],
        "wall_seconds": round(time.perf_counter() - t, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny-vectors", type=int, default=200)
    ap.add_argument("--default-vectors", type=int, default=2)
    ap.add_argument("--default-density", type=float, default=0.003)
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--sims", default="icarus,verilator")
    ap.add_argument("--build-dir", default=None, help="default: a folder under the system's temp folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    root = Path(args.build_dir) if args.build_dir else Path(tempfile.gettempdir()) / "xbar_hw_bench_cosim"
    sims = [s for s in args.sims.split(",") if s]
    doc = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
           "simulators": {s: runner.available(s) for s in sims}, "designs": {}}
    cases = [("tiny", args.tiny_vectors, 1.0)]
    if not args.skip_default:
        cases.append(("default", args.default_vectors, args.default_density))
    for name, vectors, density in cases:
        design = load_design(ROOT / "designs" / f"{name}.yaml")
        entry = {"cycles_per_mvm_ungated": cycles_per_mvm(design), "settle_cycles": design.settle_cycles, "runs": {}}
        for sim in sims:
            if not doc["simulators"][sim]:
                entry["runs"][sim] = {"skipped": f"{sim} is not installed ({runner.INSTALL[sim]})"}
                continue
            entry["runs"][sim] = one(design, sim, vectors, root / name, density, args.seed)
        doc["designs"][name] = entry
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
