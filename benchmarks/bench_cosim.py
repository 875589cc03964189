"""Co-simulation speed: vectors per second of the PE tile's cocotb testbench on Icarus and
on Verilator (when installed), and cycles per MVM measured against the analytic count
(xbar_hw.core.cycles.cycles_per_mvm), on designs/tiny.yaml and designs/default.yaml.

Each run is one :func:`xbar_hw.sim.cosim.cosim` on a seeded random load (every output
beat compared bit for bit with the golden model). "vectors_per_second" counts the
streaming phase only (MVMs back to back, inside the simulator); "sim_seconds" is the
whole simulator process (start-up, cell writes, configuration, MVMs); the Verilog
generation and the simulator build are timed apart (a build folder is reused when the
Verilog is unchanged: run twice to see warm numbers; ``--fresh`` removes the build folders
first, so that the simulator builds are timed). The crossbars are black-box macros
simulated by their Verilog model; tiny writes its cells through the ``prog`` stream, the
default design (8 crossbars of 128 x 128, every cell) loads them through the macro
model's backdoor (``--default-load prog`` writes them, one per clock cycle).
Prints JSON. Not a test.

    python benchmarks/bench_cosim.py [--tiny-vectors 200] [--default-vectors 100]
        [--default-density 1.0] [--default-load backdoor|prog] [--skip-default]
        [--sims icarus,verilator] [--build-dir DIR] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from xbar_hw import load_design
from xbar_hw.core.cycles import cycles_per_mvm, mvm_phases
from xbar_hw.sim import runner
from xbar_hw.sim.cosim import cosim

ROOT = Path(__file__).resolve().parent.parent


def one(design, sim: str, vectors: int, build_dir: Path, density: float, seed: int, backdoor: bool = False) -> dict:
    t = time.perf_counter()
    r = cosim(design, seed=seed, vectors=vectors, sim=sim, build_dir=build_dir, density=density, backdoor=backdoor)
    phases = mvm_phases(design, gated=r["gated"], n_faults=r["fault_entries"], groups=r["groups"])
    return {
        "sim": sim,
        "vectors": vectors,
        "density": density,
        "load": "backdoor" if backdoor else "prog",
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
    ap.add_argument("--default-vectors", type=int, default=100)
    ap.add_argument("--default-density", type=float, default=1.0)
    ap.add_argument("--default-load", choices=("backdoor", "prog"), default="backdoor")
    ap.add_argument("--fresh", action="store_true", help="remove the build folders first (time the builds)")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--sims", default="icarus,verilator")
    ap.add_argument("--build-dir", default=None, help="default: a folder under the system's temp folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    root = Path(args.build_dir) if args.build_dir else Path(tempfile.gettempdir()) / "xbar_hw_bench_cosim"
    sims = [s for s in args.sims.split(",") if s]
    doc = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
           "simulators": {s: runner.available(s) for s in sims}, "designs": {}}
    cases = [("tiny", args.tiny_vectors, 1.0, False)]
    if not args.skip_default:
        cases.append(("default", args.default_vectors, args.default_density, args.default_load == "backdoor"))
    if args.fresh:
        for name, *_ in cases:
            shutil.rmtree(root / name, ignore_errors=True)
    for name, vectors, density, backdoor in cases:
        design = load_design(ROOT / "designs" / f"{name}.yaml")
        entry = {"cycles_per_mvm_ungated": cycles_per_mvm(design), "settle_cycles": design.settle_cycles, "runs": {}}
        for sim in sims:
            if not doc["simulators"][sim]:
                entry["runs"][sim] = {"skipped": f"{sim} is not installed ({runner.INSTALL[sim]})"}
                continue
            entry["runs"][sim] = one(design, sim, vectors, root / name, density, args.seed, backdoor)
        doc["designs"][name] = entry
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
