"""Time of the energy report for the default design and a full Program of a ResNet-20-sized
net (166 crossbars, 3x32x32 inputs): the design's peak figures plus the Program's energy
per inference on a workload of --images images. Goal: under 10 s. Prints JSON."""

from __future__ import annotations

import argparse
import json
import time

import torch

from xbar_hw.core.design import load_design
from xbar_hw.energy import design_report, program_report
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.convert import convert_to_program


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    design = load_design(args.design)
    model = build_model("resnet20", seed=0, in_channels=3, num_classes=10).eval()
    gen = torch.Generator().manual_seed(0)
    calib = torch.rand(64, 3, 32, 32, generator=gen)
    t0 = time.perf_counter()
    program = convert_to_program(model, design, calib, {"arch": "resnet20", "kwargs": {}})
    t_map = time.perf_counter() - t0
    x = torch.rand(args.images, 3, 32, 32, generator=gen)
    t0 = time.perf_counter()
    d = design_report(design)
    p = program_report(program, x)
    t_report = time.perf_counter() - t0
    print(json.dumps({"design": design.name, "crossbars": program.n_crossbars, "pes": program.n_pes,
                      "images": args.images, "threads": args.threads, "map_seconds": round(t_map, 2),
                      "report_seconds": round(t_report, 2), "goal_seconds": 10,
                      "energy_per_inference_uj": p["energy_per_inference_pj"] / 1e6,
                      "adc_share": p["adc_share"], "tile_power_mw": d["tile_power_mw"]}, indent=2))


if __name__ == "__main__":
    main()
