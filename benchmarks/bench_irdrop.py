"""Time of the exact IR-drop solve: G_eff of one crossbar, and of a whole network.

Measures, on one core (BLAS limited to one thread with threadpoolctl, torch to one thread):
G_eff of one 128x128, 64x64 and 32x32 crossbar (median of several runs); the baseline it
replaces (one sparse LU of the whole nodal matrix, solved for R dense right-hand sides:
``column_currents`` with the identity as inputs); the agreement of the two; and G_eff of
every crossbar of a ResNet-20 mapped on a design (default ``designs/default.yaml``), serial
on one core and with a process pool over all cores. Conductances come from the design:
G = g_off + level * dG (``design.conductance_step``). Wires and periphery are PytorX's (the
``pytorx-wires`` preset): wire conductance 0.375 S (r_row = r_col = 1/0.375 ohm), load 0.25 S
(r_source = r_sense = 1/0.25 ohm). Prints JSON. Not a test.

    python benchmarks/bench_irdrop.py [--design designs/default.yaml] [--skip-network]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from timing import timeit  # benchmarks/timing.py

from xbar_hw.core.presets import load_preset
from xbar_hw.xbar.irdrop import (
    column_currents,
    effective_conductance,
    effective_conductances,
)

WIRES = load_preset("pytorx-wires")["ir_drop"]
RES = tuple(WIRES[k] for k in ("r_row", "r_col", "r_source", "r_sense"))  # ohm


def conductances(levels: np.ndarray, design) -> np.ndarray:
    return design.device.g_off + levels.astype(np.float64) * design.conductance_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--skip-network", action="store_true", help="only the single-crossbar timings")
    args = ap.parse_args()

    from xbar_hw import load_design

    design = load_design(args.design)
    rng = np.random.default_rng(0)
    top = design.cell_max
    out: dict = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "resistances_ohm": dict(zip(("r_row", "r_col", "r_source", "r_sense"), RES)),
        "device": {"g_on": design.device.g_on, "g_off": design.device.g_off, "cell_bits": design.crossbar.cell_bits},
        "one_crossbar_one_core": {},
    }
    torch.set_num_threads(1)
    with threadpool_limits(1):
        for n in (128, 64, 32):
            G = conductances(rng.integers(0, top + 1, (n, n)), design)
            t_geff = timeit(lambda: effective_conductance(G, *RES), repeat=7)
            eye = np.eye(n)
            t_lu = timeit(lambda: column_currents(G, eye, *RES), repeat=3)
            geff = effective_conductance(G, *RES).numpy()
            direct = column_currents(G, eye, *RES).numpy()
            ideal_i = G.sum(axis=0)  # all rows at 1 V
            out["one_crossbar_one_core"][f"{n}x{n}"] = {
                "geff_s": round(t_geff, 5),
                "baseline_sparse_lu_R_rhs_s": round(t_lu, 5),
                "speedup": round(t_lu / t_geff, 1),
                "max_rel_err_vs_sparse_lu": float(np.abs(geff - direct).max() / np.abs(direct).max()),
                "mean_column_current_loss_all_rows_on": float(1 - (geff.sum(axis=0) / ideal_i).mean()),
            }

    if not args.skip_network:
        from xbar_hw import convert_to_program
        from xbar_hw.workload.models import build_model

        torch.manual_seed(0)
        program = convert_to_program(build_model("resnet20", seed=0).eval(), design, torch.rand(16, 3, 32, 32))
        stack = np.concatenate([lp.levels.numpy() for lp in program.layers.values()])
        G = conductances(stack, design)
        with threadpool_limits(1):
            t0 = time.perf_counter()
            geff = effective_conductances(G, *RES).numpy()
            t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        pooled = effective_conductances(G, *RES, workers=0).numpy()
        t_pool = time.perf_counter() - t0
        loss = 1 - geff.sum(axis=1) / G.sum(axis=1)  # per column, all rows at 1 V
        out["resnet20_network"] = {
            "design": args.design,
            "layers": len(program.layers),
            "crossbars": int(G.shape[0]),
            "crossbar_shape": list(G.shape[1:]),
            "serial_one_core_s": round(t_serial, 3),
            "per_crossbar_s": round(t_serial / G.shape[0], 5),
            f"process_pool_{os.cpu_count()}_workers_s": round(t_pool, 3),
            "pool_equals_serial": bool(np.array_equal(pooled, geff)),
            "column_current_loss_all_rows_on": {
                "mean": float(loss.mean()),
                "max": float(loss.max()),
            },
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
