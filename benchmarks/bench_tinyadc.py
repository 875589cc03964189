"""TinyADC (issue 13) against magnitude pruning at the same sparsity and against the
unpruned net: mnist_cnn on MNIST-5k, the default design (8-bit ADCs at shift a0 = 1).

The unpruned net is also mapped with each crossbar at its lossless bits where they fit
(the saving that needs no pruning). For each target ADC resolution: prune the trained model (iterative projected SGD,
--epochs of retraining), map it (each crossbar records its lossless bits), check that
the crossbar path equals the exact integer product (folded path) bit for bit on the whole
test split, and price the hardware; magnitude pruning gets the same per-layer sparsity and
the same retraining and keeps the design's full ADC. Also: seconds per epoch of the
projected retraining against the same loop without projection (goal: within 1.5x).

``--arch resnet20`` runs the ResNet-20-sized net on UCI digits upsampled to 32x32.
Prints JSON; with --plot, writes accuracy against ADC bits as a PNG. Every random effect
is seeded (--seed).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from timing import timeit

from xbar_hw.core.adcbits import lossless_adc_bits
from xbar_hw.core.design import load_design
from xbar_hw.energy import program_report
from xbar_hw.energy.adcbits import hardware_report
from xbar_hw.flows.models import model_kwargs
from xbar_hw.flows.prune import (
    apply_masks,
    layer_bits,
    magnitude_prune,
    mapped_modules,
    prune_model,
    retrain,
    tinyadc_mask,
)
from xbar_hw.workload.data import Dataset, load_dataset
from xbar_hw.workload.models import build_model
from xbar_hw.workload.resolve import resolve_data
from xbar_hw.workload.train import accuracy, train
from xbar_hw.xbar import build_network, convert_to_program
from xbar_hw.xbar.layers import set_path


def digits32(seed: int) -> Dataset:
    """UCI digits upsampled (bilinear) from 8x8 to 32x32: the ResNet-20-sized net's task."""
    d = load_dataset("digits", seed=seed)
    up = lambda x: F.interpolate(x, size=32, mode="bilinear", align_corners=False).clamp(0, 1)
    return Dataset("digits32", up(d.x_train), d.y_train, up(d.x_test), d.y_test, d.classes)


def mapped_figures(model, design, data, adc_bits: str, images: int, arch: str = "mnist_cnn") -> dict:
    """Map ``model``; mapped accuracy (crossbar path) on the test split, whether it equals
    the folded path bit for bit, the lossless bits its levels need, hardware and energy."""
    kwargs = model_kwargs(arch, data)
    prog = convert_to_program(model, design, data.x_train[:512], {"arch": arch, "kwargs": kwargs},
                              adc_bits=adc_bits)
    net = build_network(prog)
    with torch.no_grad():
        outs = {}
        for path in ("crossbar", "folded"):
            set_path(net, path)
            outs[path] = torch.cat([net(data.x_test[i : i + 250]) for i in range(0, len(data.x_test), 250)])
    acc = float((outs["crossbar"].argmax(1) == data.y_test).float().mean())
    hw = hardware_report(prog, empty=False)  # a tile of crossbars like the used ones
    padded = hardware_report(prog)  # the Program's own PEs, empty slots at the design's bits
    energy = program_report(prog, data.x_test[:images])
    need = max(int(lossless_adc_bits(lp.levels, design).max()) for lp in prog.layers.values())
    return {"mapped_acc": acc, "crossbar_equals_folded": bool(torch.equal(outs["crossbar"], outs["folded"])),
            "lossless_bits_needed": need, "adc_bits_mean": hw["adc_bits_mean"],
            "adc_bits_histogram": hw["adc_bits_histogram"], "adc_power_mw": hw["adc_power_mw"],
            "tile_power_mw": hw["tile_power_mw"], "area_mm2": hw["area_mm2"], "gops_per_s_mm2": hw["gops_per_s_mm2"],
            "gops_per_w": hw["gops_per_w"], "padded_tile_power_mw": padded["tile_power_mw"],
            "padded_area_mm2": padded["area_mm2"], "energy_per_inference_nj": energy["energy_per_inference_pj"] / 1e3,
            "adc_energy_per_inference_nj": energy["energy_by_component_pj"]["adc"] / 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--bits", type=int, nargs="+", default=[6, 5, 4])
    ap.add_argument("--train-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5, help="retraining epochs after pruning")
    ap.add_argument("--images", type=int, default=16, help="workload images of the energy per inference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="mnist_cnn", choices=("mnist_cnn", "resnet20"),
                    help="resnet20 runs on UCI digits upsampled to 32x32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plot", default=None, help="PNG of accuracy against ADC bits")
    ap.add_argument("--timing", type=int, default=0,
                    help="only time N alternating rounds of one plain and one pruning epoch (min and median)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    design = load_design(args.design)
    data = resolve_data("mnist5k", seed=args.seed) if args.arch == "mnist_cnn" else digits32(args.seed)
    model = build_model(args.arch, seed=args.seed, **model_kwargs(args.arch, data))
    train(model, data, epochs=args.train_epochs, seed=args.seed, progress=False, device="cpu")
    if args.timing:
        print(json.dumps(timing(model, design, data, args.bits[0], args.timing, args.seed), indent=2))
        return
    out = {"design": design.name, "data": data.name, "arch": args.arch, "train_epochs": args.train_epochs, "epochs": args.epochs,
           "seed": args.seed, "threads": args.threads}
    # the unpruned baseline gets the same retraining, without projection (also the plain epoch time)
    plain = copy.deepcopy(model)
    plain_s = retrain(plain, data, lambda net, fresh: None, epochs=args.epochs, seed=args.seed, lr=5e-4, device="cpu")
    out["plain_epoch_seconds"] = plain_s
    out["unpruned"] = {"float_acc": accuracy(plain, data.x_test, data.y_test),
                       **mapped_figures(plain, design, data, "design", args.images, args.arch)}
    # the same unpruned net with each crossbar at its lossless bits where they fit the design's
    # (shift 0): the reduction that needs no pruning (layers with few rows)
    out["unpruned_lossless_where_free"] = mapped_figures(plain, design, data, "lossless", args.images, args.arch)
    rows = []
    for bits in args.bits:
        tiny = copy.deepcopy(model)
        t0 = time.perf_counter()
        doc = prune_model(tiny, design, data, bits, epochs=args.epochs, seed=args.seed, device="cpu")
        row = {"bits": bits, "tinyadc": {"float_acc": doc["test_acc"], "sparsity": doc["sparsity"]["total"],
                                         "layer_sparsity": doc["sparsity"], "target_bits": doc["target_bits"],
                                         "epoch_seconds": doc["epoch_seconds"],
                                         "prune_seconds": time.perf_counter() - t0,
                                         **mapped_figures(tiny, design, data, "lossless", args.images, args.arch)}}
        mag = copy.deepcopy(model)
        layer_s = {n: s for n, s in doc["sparsity"].items() if n != "total"}
        mdoc = magnitude_prune(mag, data, layer_s, epochs=args.epochs, seed=args.seed, device="cpu")
        row["magnitude"] = {"float_acc": mdoc["test_acc"], "sparsity": mdoc["sparsity"]["total"],
                            "epoch_seconds": mdoc["epoch_seconds"],
                            **mapped_figures(mag, design, data, "design", args.images, args.arch)}
        t = row["tinyadc"]
        row["ratios_vs_unpruned"] = {
            "adc_power": out["unpruned"]["adc_power_mw"] / t["adc_power_mw"],
            "tile_power": out["unpruned"]["tile_power_mw"] / t["tile_power_mw"],
            "area": out["unpruned"]["area_mm2"] / t["area_mm2"],
            "gops_per_s_mm2": t["gops_per_s_mm2"] / out["unpruned"]["gops_per_s_mm2"],
            "gops_per_w": t["gops_per_w"] / out["unpruned"]["gops_per_w"],
            "prune_epoch_over_plain_epoch": statistics.median(t["epoch_seconds"]) / statistics.median(plain_s)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out["rows"] = rows
    print(json.dumps(out, indent=2))
    if args.plot:
        plot(out, args.plot)


def timing(model, design, data, bits: int, rounds: int, seed: int) -> dict:
    """Seconds of one epoch of plain retraining and of TinyADC's projected retraining, in
    alternating rounds (so that load from other jobs on the machine hits both alike)."""
    plain, pruned = [], []
    for _ in range(rounds):
        plain += retrain(copy.deepcopy(model), data, lambda net, fresh: None, epochs=1, seed=seed, lr=5e-4,
                         device="cpu")
        pruned += prune_model(copy.deepcopy(model), design, data, bits, epochs=1, seed=seed, device="cpu")["epoch_seconds"]
    # the parts, each the fastest of many repeats (robust to other jobs on the machine): one
    # training step (batch 64), one fresh projection (masks recomputed), one cached one
    net = copy.deepcopy(model).train()
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    xb, yb = data.x_train[:64], data.y_train[:64]
    targets = layer_bits(net, design, bits)
    modules = mapped_modules(net)

    def step():
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def fresh():
        return {n: tinyadc_mask(modules[n], b, design) for n, b in targets.items()}

    masks = fresh()
    parts = {name: min(timeit(fn, repeat=30, warmup=3) for _ in range(3))
             for name, fn in (("step_s", step), ("fresh_projection_s", fresh),
                              ("cached_projection_s", lambda: apply_masks(net, masks)))}
    every = 4  # prune_model's default
    parts["estimated_ratio"] = 1 + (parts["fresh_projection_s"] / every + parts["cached_projection_s"]) / parts["step_s"]
    return {"bits": bits, "rounds": rounds, "plain_epoch_s": plain, "prune_epoch_s": pruned,
            "ratio_of_minima": min(pruned) / min(plain),
            "ratio_of_medians": statistics.median(pruned) / statistics.median(plain), "parts": parts}


def plot(out: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = [r["bits"] for r in out["rows"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(bits, [100 * r["tinyadc"]["mapped_acc"] for r in out["rows"]], "o-", label="TinyADC (lossless ADC)")
    ax.plot(bits, [100 * r["magnitude"]["mapped_acc"] for r in out["rows"]], "s--",
            label="magnitude, same sparsity (8-bit ADC)")
    ax.axhline(100 * out["unpruned"]["mapped_acc"], color="gray", ls=":", label="unpruned (8-bit ADC)")
    ax.set_xlabel("ADC bits (TinyADC target)")
    ax.set_ylabel("mapped test accuracy (%)")
    ax.set_title(f"{out['arch']}, {out['data']}, {out['design']} design")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
