"""Whole-network co-simulation speed (``xbar-hw cosim --network``): every PE of every
layer of the task backbone (task_cnn on MNIST 0-4, adapted to Split MNIST 5-9 by XMA, with
stuck-at faults at PytorX's rates profiled into it and corrected) on one image, on the
default design (with PytorX's rates as its non-ideal block, so that each crossbar's fault
table is sized for them: corrector.entries auto), layer after layer on the co-simulated
outputs, the logits against the golden model.

The Program is made once and kept (``--program FILE``: read if it exists, else trained
for one epoch and adapted for one, then written). The Verilog generation and the simulator
build are timed first, on their own (a build already in ``--build-dir`` is reused: its
time was that of the first run; ``--fresh`` removes the folder first). Then one
:func:`xbar_hw.sim.network.cosim_network`: per layer its PEs, MVMs, seconds and MVMs per
second (the whole layer: loads, simulator start per PE, streaming, comparison). Prints
JSON. Not a test.

    python benchmarks/bench_netcosim.py [--design designs/default.yaml] [--sim verilator]
        [--images 1] [--program /tmp/xbar_hw_bench/backbone_xma_saf.safetensors]
        [--build-dir DIR] [--fresh] [--from-layer conv1] [--to-layer conv1] [--no-faults]
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
from xbar_hw.adapt import fit
from xbar_hw.core.presets import load_preset
from xbar_hw.core.program import Program
from xbar_hw.flows.adapting import adapt_config, build_backbone
from xbar_hw.sim import runner
from xbar_hw.sim.network import cosim_network
from xbar_hw.workload.tasks import load_task
from xbar_hw.xbar.analog import Chip

ROOT = Path(__file__).resolve().parent.parent
TASK = "split_mnist_5_9"


def make_program(design, path: Path, faults: bool) -> Program:
    """The backbone (1 epoch), its XMA entry for :data:`TASK` (1 epoch), PytorX's stuck-at
    faults of chip 0 profiled into it; kept at ``path``."""
    if path.is_file():
        return Program.load(path, design)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = build_backbone(design, path, epochs=1, seed=0, progress=False)
    method, cfg = adapt_config("xma", epochs=1, seed=0, eval_limit=200, progress=False)
    program.tasks[f"{TASK}.xma"] = fit(program, load_task(TASK, 0), method, cfg, f"{TASK}.xma")
    if faults:
        Chip(program, design, 0).profile(program)
    program.save(path)
    return program


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default=str(ROOT / "designs" / "default.yaml"))
    ap.add_argument("--sim", default="verilator")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--program", default=str(Path(tempfile.gettempdir()) / "xbar_hw_bench" / "backbone_xma_saf.safetensors"))
    ap.add_argument("--build-dir", default=str(Path(tempfile.gettempdir()) / "xbar_hw_bench" / "netcosim"))
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--from-layer", default=None)
    ap.add_argument("--to-layer", default=None)
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args()
    # the chip's design: PytorX's stuck-at rates, which also size each crossbar's fault table
    # (corrector.entries: auto = mean + 6 sigma of faulty weights); without --no-faults
    design = load_design(args.design)
    if not args.no_faults:
        design = design.replace(nonideal=load_preset("pytorx-saf"))
    build_dir = Path(args.build_dir)
    if args.fresh:
        shutil.rmtree(build_dir, ignore_errors=True)
    t = time.perf_counter()
    program = make_program(design, Path(args.program), not args.no_faults)
    program_seconds = time.perf_counter() - t
    t = time.perf_counter()
    rtl = runner.build_rtl(design, build_dir)
    verilog_seconds = time.perf_counter() - t
    built = runner.build_simulator(rtl, build_dir, args.sim)
    r = cosim_network(design, program, task=f"{TASK}.xma", images=args.images, sim=args.sim, build_dir=build_dir,
                      from_layer=args.from_layer, to_layer=args.to_layer)
    layers = [{"layer": layer["layer"], "pes": len(layer["pes"]), "mvms": layer["mvms"], "seconds": layer["seconds"],
               "mvms_per_second": round(layer["mvms"] / layer["seconds"], 1), "mismatches": layer["mismatches"],
               "fault_entries": sum(p["fault_entries"] for p in layer["pes"]),
               "cycles_per_mvm": sorted({p["cycles_per_mvm"] for p in layer["pes"]} - {None}),
               "sim_seconds": round(sum(p["sim_seconds"] for p in layer["pes"]), 1),
               "stream_seconds": round(sum(p["stream_seconds"] or 0 for p in layer["pes"]), 1)}
              for layer in r["layers"]]
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "design": design.name, "fault_table_entries": design.fault_table_entries, "sim": args.sim, "images": args.images, "task": f"{TASK}.xma",
        "program_seconds": round(program_seconds, 1), "verilog_seconds": round(verilog_seconds, 1),
        "sim_build": {"seconds": round(built["seconds"], 1), "cached": built["cached"],
                      "opt": os.environ.get("XBAR_VERILATOR_OPT", runner.VERILATOR_OPT_DEFAULT)},
        "fault_overflow": r["fault_overflow"], "layers": layers, "pes": r["pes"], "mvms": r["mvms"], "mismatches": r["mismatches"],
        "cycles_match": r["cycles_match"], "logits_match": r["logits_match"], "ok": r["ok"],
        "network_seconds": r["seconds"],
        "with_build_seconds": round(verilog_seconds + built["seconds"] + r["seconds"], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
