"""ReBoc's hardware co-simulated (issue 14; recorded in docs/reboc.md). Prints JSON.

1. The rotating input register (SliceRotator) as Verilog on Icarus against the golden
   model's input order, b = 4, 8, 16 on the tiny and default designs
   (:func:`xbar_hw.sim.reboc.rotator_cosim`).
2. The ReBoc PE (RebocPe: the PE tile behind the rotators) running conv2 of a
   block-circulant mnist_cnn (seed 0, untrained: the weights do not change the cycles)
   under the ReBoc mapping, bit for bit against the golden model, with its cycles
   measured against the cost model's count of the same layer and MVM
   (:func:`xbar_hw.energy.reboc.layer_counts`, with and without the intra-layer pipeline)
   (:func:`xbar_hw.sim.reboc_pe.reboc_pe_cosim`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from xbar_hw.core.design import load_design
from xbar_hw.energy.reboc import layer_counts
from xbar_hw.sim.reboc import rotator_cosim
from xbar_hw.sim.reboc_pe import reboc_pe_cosim
from xbar_hw.workload.circulant import make_circulant
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.circulant import RebocLayer, circulant_to_program

#: (name, design changes, model arguments, b): tiny runs mnist_cnn on 8x8 inputs
PE_CASES = [
    ("tiny b=4", {}, {"in_size": 8, "width": 4}, 4),
    ("tiny signed, 5 crossbars, b=8", {"pe": {"crossbars": 5}, "inputs": {"signed": True}}, {"in_size": 8, "width": 8}, 8),
    ("tiny, 9 crossbars, b=16", {"pe": {"crossbars": 9}}, {"in_size": 8, "width": 16}, 16),
    ("tiny, 72 rows, D=2, b=4: 2 column blocks share a rotator",
     {"crossbar": {"rows": 72}, "mapping": {"kind": "reboc", "duplication": 2}}, {"in_size": 8, "width": 8}, 4),
    ("default b=4", None, {}, 4),
    ("default b=8", None, {}, 8),
    ("default b=16", None, {}, 16),
]


def pe_case(index: int, name: str, changes: dict | None, kwargs: dict, b: int, root: str) -> dict:
    base = load_design("designs/default.yaml" if changes is None else "designs/tiny.yaml")
    d = base.replace(**changes) if changes else base
    model = make_circulant(build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, **kwargs), b)
    size = kwargs.get("in_size", 28)
    calib = torch.rand(4, 1, size, size, generator=torch.Generator().manual_seed(5))
    lp = circulant_to_program(model, d, calib).layers["conv2"]
    rl = RebocLayer(lp, d)
    nz = torch.ones(lp.k_in, dtype=torch.float64)
    counted = {pipe: layer_counts(d, lp.k_in, rl.stored.shape[1], nz, 1.0, rl.reads, True, pipe)["cycles"]
               for pipe in (False, True)}
    r = reboc_pe_cosim(d, lp, vectors=3, seed=0, build_dir=f"{root}/pe-{index}")
    return {"case": name, "design": d.name, "layer": f"conv2 W[{lp.k_in}, {lp.n_out}]", "b": b, "D": r["D"],
            "reads": r["reads"], "crossbars": r["crossbars"], "rotators": r["rotators"], "mismatches": r["mismatches"],
            "golden_vs_plain": r["golden_vs_plain"], "tile_cycles_per_mvm": r["tile_cycles_per_mvm"],
            "measured_interval": r["output_interval"], "measured_first_latency": r["latency_first"],
            "counted_no_pipeline": counted[False], "counted_pipeline": counted[True],
            "conversions": r["conversions"], "conversions_expected": r["conversions_expected"],
            "sim_seconds": r["sim_seconds"], "total_seconds": r["total_seconds"], "ok": r["ok"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-default", action="store_true", help="only the tiny design's ReBoc PE runs")
    args = ap.parse_args()
    out = {"rotator": [], "pe": []}
    with tempfile.TemporaryDirectory() as root:
        for path in ("designs/tiny.yaml", "designs/default.yaml"):
            d = load_design(path)
            for b in (4, 8, 16):
                r = rotator_cosim(d, b, vectors=6, seed=b, build_dir=f"{root}/rot-{d.name}-{b}")
                out["rotator"].append({k: r[k] for k in ("design", "block", "steps", "mismatches", "reset_ok",
                                                         "edges_per_sequence", "sim_seconds", "ok")})
        for index, (name, changes, kwargs, b) in enumerate(PE_CASES):
            if args.skip_default and changes is None:
                continue
            t = time.perf_counter()
            out["pe"].append(pe_case(index, name, changes, kwargs, b, root) | {"wall_seconds": round(time.perf_counter() - t, 1)})
            print(json.dumps(out["pe"][-1]), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
