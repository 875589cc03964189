"""The non-ideal results table of docs/results.md (issue 3): accuracy, mean +- std over
chip instances, on MNIST-5k and UCI digits, for the default design and its variants.

    .venv/bin/python scripts/results_nonideal.py [--chips 5] [--data mnist5k digits] -o docs/results_nonideal.json

Prints a Markdown table and writes the figures as JSON (atomically). Takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from xbar_hw import build_network, convert_to_program, load_design, set_path
from xbar_hw.flows.evaluate import evaluate_chips
from xbar_hw.core.io import write_text
from xbar_hw.core.presets import load_preset
from xbar_hw.workload.data import load_dataset
from xbar_hw.workload.models import build_model
from xbar_hw.workload.train import accuracy, train
from xbar_hw.xbar.nia import irdrop_statistics, nia_train

# the nonideal presets (xbar_hw/presets/*.yaml, each with its source): PytorX's stuck-at
# rates with and without the digital correction, its two wire settings, read noise
SAF_CASES = (
    ("SAF 1.75%/9.04%", {False: load_preset("pytorx-saf-uncorrected"), True: load_preset("pytorx-saf")}),
    ("SAF 10%/10%", {c: {"saf": {"sa0": 0.1, "sa1": 0.1, "correct": c}} for c in (False, True)}),
)
WIRES = {"2.67 Ohm (0.375 S)": load_preset("pytorx-wires"), "28 Ohm (0.0357 S)": load_preset("pytorx-wires-28")}
READ_NOISE = load_preset("read-noise")


def row(name, res):
    return {"config": name, "mean": res["chip_acc_mean"], "std": res["chip_acc_std"], "accs": res["chip_accs"]}


def run(data_name: str, chips: int, epochs: int, seed: int = 0, progress: bool = False,
        sections=("saf", "noise", "ir")) -> list[dict]:
    data = load_dataset(data_name, seed=seed)
    kw = {"in_channels": 1, "num_classes": data.num_classes, "in_size": data.in_size}
    model = train(build_model("mnist_cnn", seed=seed, **kw), data, epochs=epochs, seed=seed, progress=progress).cpu()
    calib = data.x_train[:512]
    base = load_design("designs/default.yaml")
    rows = [{"config": "float", "mean": accuracy(model, data.x_test, data.y_test), "std": 0.0, "accs": []}]
    prog = convert_to_program(model, base, calib)
    rows.append({"config": "ideal mapped (default design)", "mean": accuracy(set_path(build_network(prog), "crossbar"), data.x_test, data.y_test),
                 "std": 0.0, "accs": []})

    def chips_of(program, design, name, n=chips, cache=None):
        t = time.time()
        res = evaluate_chips(program, data, design, n, progress=False, cache=cache)
        r = row(name, res)
        r["seconds"] = round(time.time() - t, 1)
        print(f"  {data_name} {name}: {r['mean']:.4f} +- {r['std']:.4f} ({r['seconds']} s)", flush=True)
        return r

    for label, blocks in (SAF_CASES if "saf" in sections else ()):
        for correct in (False, True):
            d = base.replace(nonideal=blocks[correct])
            rows.append(chips_of(prog, d, f"{label}, {'with' if correct else 'without'} correction"))

    for f, label in (((1e7, "10 MHz"), (1e9, "1 GHz")) if "noise" in sections else ()):
        d = base.replace(nonideal=READ_NOISE, device={"read_frequency": f})
        rows.append(chips_of(prog, d, f"thermal + shot + RTN noise at {label}"))

    for size in ((32, 64, 128) if "ir" in sections else ()):
        geo = base.replace(crossbar={"rows": size, "cols": size})
        p_size = convert_to_program(model, geo, calib)
        ideal = accuracy(set_path(build_network(p_size), "crossbar"), data.x_test, data.y_test)
        rows.append({"config": f"{size}x{size} ideal mapped", "mean": ideal, "std": 0.0, "accs": []})
        for wlabel, wires in WIRES.items():
            d = geo.replace(nonideal=wires)
            cache: dict = {}
            # IR drop alone is deterministic: one chip is every chip
            rows.append(chips_of(p_size, d, f"{size}x{size} IR drop, wire {wlabel}, without NIA", n=1, cache=cache))
            stats = irdrop_statistics(p_size, d, calib[:256], irdrop_cache=cache)
            nia_model = nia_train(model, stats, data, epochs=2, seed=seed, progress=progress)
            p_nia = convert_to_program(nia_model, d, calib)
            rows.append(chips_of(p_nia, d, f"{size}x{size} IR drop, wire {wlabel}, with NIA", n=1))
            if size != 64:
                continue
            # NIA's claim is one training for any chip: chips that also differ in variation
            dv = d.replace(nonideal={"variation": {"sigma": 0.1}})
            rows.append(chips_of(p_size, dv, f"{size}x{size} IR drop {wlabel} + variation 0.1 dG, without NIA"))
            rows.append(chips_of(p_nia, dv, f"{size}x{size} IR drop {wlabel} + variation 0.1 dG, with NIA"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chips", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", nargs="+", default=["mnist5k", "digits"])
    ap.add_argument("--sections", nargs="+", default=["saf", "noise", "ir"], choices=["saf", "noise", "ir"])
    ap.add_argument("-o", "--output", default="docs/results_nonideal.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    out = {"chips": args.chips, "design": "designs/default.yaml", "results": {}}
    if os.path.exists(args.output):  # rerun sections: replace their rows, keep the others
        with open(args.output, encoding="utf-8") as f:
            out = json.load(f)
    for name in args.data:
        rows = run(name, args.chips, args.epochs, sections=args.sections)
        old = out["results"].get(name, [])
        new = {r["config"]: r for r in rows}
        merged = [new.pop(r["config"], r) for r in old]
        out["results"][name] = merged + list(new.values())
    write_text(args.output, json.dumps(out, indent=2) + "\n")
    for name, rows in out["results"].items():
        print(f"\n### {name}\n\n| configuration | accuracy (mean +- std over chips) |\n|---|---|")
        for r in rows:
            n = len(r["accs"])
            spread = f" +- {r['std']:.4f} ({n} chips)" if n > 1 else (" (1 chip: deterministic)" if n == 1 else "")
            print(f"| {r['config']} | {r['mean']:.4f}{spread} |")


if __name__ == "__main__":
    main()
