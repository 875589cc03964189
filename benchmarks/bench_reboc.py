"""ReBoc figures (issue 14; recorded in docs/reboc.md). Prints JSON.

1. mnist_cnn (and with --resnet-epochs, ResNet-20 with one input channel) on MNIST-5k, dense and block-circulant (b = 4, 8, 16; every layer b divides),
   trained --epochs epochs (seed --seed), mapped onto --design: float and mapped accuracy
   (the golden crossbar path on --test test images), parameters, crossbars, cells (plain and
   ReBoc mapping), and the ReBoc / plain comparison on --images test images.
2. ResNet-20-sized layer shapes (CIFAR 3x32x32; every conv that b divides made circulant),
   counted only (no training): crossbars, cells, reads, conversions, input-buffer words and
   cycles of both mappings, with every input digit non-zero (the workload-free bound).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from xbar_hw.core.circulant import duplication
from xbar_hw.core.design import load_design
from xbar_hw.energy.events import EVENTS
from xbar_hw.energy.model import energy_breakdown_pj, event_energy_pj
from xbar_hw.energy.reboc import compare_mappings, layer_counts
from xbar_hw.energy.technology import technology
from xbar_hw.flows.evaluate import evaluate
from xbar_hw.flows.models import map_model, model_kwargs
from xbar_hw.workload.circulant import make_circulant, parameter_count, unfolded_shape
from xbar_hw.workload.models import build_model
from xbar_hw.workload.resolve import resolve_data
from xbar_hw.workload.train import train

KEEP = ("crossbars", "cells_used", "cells_capacity", "utilization", "reads", "adc_conversions", "input_buffer_words",
        "input_register_words", "cycles", "energy_per_inference_pj", "static_energy_per_inference_pj", "latency_s",
        "pe_area_mm2")
RATIOS = ("speedup", "energy_ratio", "crossbar_ratio", "input_buffer_ratio", "input_register_ratio",
          "throughput_per_crossbar_ratio", "throughput_per_pe_area_ratio")


def net_row(design, data, arch, b, args, epochs: int, test: int) -> dict:
    """One zoo net (``arch``; ``b`` = 0: dense) trained on ``data``, mapped, counted."""
    model = build_model(arch, seed=args.seed, **model_kwargs(arch, data))
    if b:
        make_circulant(model, b)
    t0 = time.time()
    train(model, data, epochs=epochs, seed=args.seed, progress=False)
    row = {"block": b or "dense", "parameters": parameter_count(model), "train_s": round(time.time() - t0, 1)}
    program = map_model(model.cpu(), arch, model_kwargs(arch, data), design, data, data_name="mnist5k", seed=args.seed)
    # float, quantized (the exact integer product) and mapped (the golden crossbars, ADC
    # included) accuracy on a fixed random subset of ``test`` test images (the split is sorted by class)
    ev = evaluate(program, data, model, progress=False, limit=test)
    row.update({k: ev[k] for k in ("float_acc", "quant_acc", "mapped_acc", "n_test")})
    cmp = compare_mappings(program, data.x_test[: args.images])
    for m in ("plain", "reboc"):
        row[m] = {k: cmp[m][k] for k in KEEP}
    row.update({k: cmp[k] for k in RATIOS})
    return row


def resnet_shapes(width: int = 16) -> list[tuple[str, nn.Module, int]]:
    """(name, layer, MVMs per image) of ResNet-20's convs (first stage ``width`` channels) on a 3x32x32 input."""
    model = build_model("resnet20", seed=0, in_channels=3, num_classes=10, width=width).eval()
    out, hooks = [], []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(
                lambda mod, i, o, name=name: out.append((name, mod, o[0, 0].numel() if o.dim() == 4 else 1))))
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    return out


def resnet_counts(design, b: int, width: int = 16) -> dict:
    """Both mappings of ResNet-20's layer shapes (first stage ``width`` channels), every
    conv that b divides circulant."""
    energies = event_energy_pj(technology(design), design)
    totals = {m: dict.fromkeys(("crossbars", "cells_used", "reads", "adc", "input_buffer_words", "cycles",
                                "energy_pj"), 0.0) for m in ("plain", "reboc")}
    circulant = 0
    for _, mod, mvms in resnet_shapes(width):
        K, N = unfolded_shape(mod)
        nz = torch.full((K,), float(design.read_cycles * mvms))  # every digit non-zero
        for m in ("plain", "reboc"):
            cols, reads = N, 1
            if m == "reboc" and not (K % b or N % b):
                D = duplication(design, b, N // b)
                cols, reads = N // b * D, b // D
            c = layer_counts(design, K, cols, nz, mvms, reads, m == "reboc")
            t = totals[m]
            for k in ("crossbars", "cells_used", "reads", "cycles"):
                t[k] += c[k]
            t["adc"] += c["events"]["adc"]
            t["input_buffer_words"] += c["events"]["edram_bits"] / design.inputs.bits
            t["energy_pj"] += sum(energy_breakdown_pj({k: c["events"][k] for k in EVENTS}, energies).values())
        circulant += not (K % b or N % b)
    p, r = totals["plain"], totals["reboc"]
    return {"width": width, "block": b, "circulant_layers": circulant, "plain": p, "reboc": r, "speedup": p["cycles"] / r["cycles"],
            "energy_ratio": p["energy_pj"] / r["energy_pj"], "crossbar_ratio": p["crossbars"] / r["crossbars"],
            "input_buffer_ratio": p["input_buffer_words"] / r["input_buffer_words"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", type=int, default=1000, help="test images (a fixed random subset) for the accuracies")
    ap.add_argument("--images", type=int, default=16, help="workload images for the counts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, nargs="*", default=[0, 4, 8, 16], help="0 = dense")
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--resnet-epochs", type=int, default=0, help="train ResNet-20 on MNIST-5k too (0: no)")
    ap.add_argument("--resnet-test", type=int, default=300, help="its test images (a fixed random subset)")
    ap.add_argument("--resnet-widths", type=int, nargs="*", default=[16, 64], help="ResNet-20 first-stage channels")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    design = load_design(args.design)
    doc = {"design": design.name, "epochs": args.epochs, "seed": args.seed, "mnist_cnn": [], "resnet20_mnist": [],
           "resnet20_shapes": []}
    data = resolve_data("mnist5k", seed=args.seed)
    if not args.skip_mnist:
        doc["mnist_cnn"] = [net_row(design, data, "mnist_cnn", b, args, args.epochs, args.test) for b in args.blocks]
    if args.resnet_epochs:
        doc["resnet20_mnist"] = [net_row(design, data, "resnet20", b, args, args.resnet_epochs, args.resnet_test)
                                 for b in args.blocks]
    doc["resnet20_shapes"] = [resnet_counts(design, b, w) for w in args.resnet_widths for b in args.blocks if b]
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
