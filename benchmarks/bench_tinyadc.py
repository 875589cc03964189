"""TinyADC (issue 13) against magnitude pruning at the same sparsity and against the
unpruned net: mnist_cnn on MNIST-5k, the default design (8-bit ADCs at shift a0 = 1).

For each target ADC resolution: prune the trained model (iterative projected SGD,
--epochs of retraining), map it (each crossbar records its lossless bits), check that
the crossbar path equals the exact integer product (folded path) bit for bit on the whole
test split, and price the hardware; magnitude pruning gets the same per-layer sparsity and
the same retraining and keeps the design's full ADC. Also: seconds per epoch of the
projected retraining against the same loop without projection (goal: within 1.5x).

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

from xbar_hw.core.adcbits import lossless_adc_bits
from xbar_hw.core.design import load_design
from xbar_hw.energy import program_report
from xbar_hw.energy.adcbits import hardware_report
from xbar_hw.flows.models import model_kwargs
from xbar_hw.flows.prune import magnitude_prune, prune_model, retrain, sparsity
from xbar_hw.workload.models import build_model
from xbar_hw.workload.resolve import resolve_data
from xbar_hw.workload.train import accuracy, train
from xbar_hw.xbar import build_network, convert_to_program
from xbar_hw.xbar.layers import set_path


def mapped_figures(model, design, data, adc_bits: str, images: int) -> dict:
    """Map ``model``; mapped accuracy (crossbar path) on the test split, whether it equals
    the folded path bit for bit, the lossless bits its levels need, hardware and energy."""
    kwargs = model_kwargs("mnist_cnn", data)
    prog = convert_to_program(model, design, data.x_train[:512], {"arch": "mnist_cnn", "kwargs": kwargs},
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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plot", default=None, help="PNG of accuracy against ADC bits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    design = load_design(args.design)
    data = resolve_data("mnist5k", seed=args.seed)
    model = build_model("mnist_cnn", seed=args.seed, **model_kwargs("mnist_cnn", data))
    train(model, data, epochs=args.train_epochs, seed=args.seed, progress=False, device="cpu")
    out = {"design": design.name, "data": "mnist5k", "train_epochs": args.train_epochs, "epochs": args.epochs,
           "seed": args.seed, "threads": args.threads}
    # the unpruned baseline gets the same retraining, without projection (also the plain epoch time)
    plain = copy.deepcopy(model)
    plain_s = retrain(plain, data, lambda net, fresh: None, epochs=args.epochs, seed=args.seed, lr=5e-4, device="cpu")
    out["plain_epoch_seconds"] = plain_s
    out["unpruned"] = {"float_acc": accuracy(plain, data.x_test, data.y_test),
                       **mapped_figures(plain, design, data, "design", args.images)}
    rows = []
    for bits in args.bits:
        tiny = copy.deepcopy(model)
        t0 = time.perf_counter()
        doc = prune_model(tiny, design, data, bits, epochs=args.epochs, seed=args.seed, device="cpu")
        row = {"bits": bits, "tinyadc": {"float_acc": doc["test_acc"], "sparsity": doc["sparsity"]["total"],
                                         "layer_sparsity": doc["sparsity"], "target_bits": doc["target_bits"],
                                         "epoch_seconds": doc["epoch_seconds"],
                                         "prune_seconds": time.perf_counter() - t0,
                                         **mapped_figures(tiny, design, data, "lossless", args.images)}}
        mag = copy.deepcopy(model)
        layer_s = {n: s for n, s in doc["sparsity"].items() if n != "total"}
        mdoc = magnitude_prune(mag, data, layer_s, epochs=args.epochs, seed=args.seed, device="cpu")
        row["magnitude"] = {"float_acc": mdoc["test_acc"], "sparsity": mdoc["sparsity"]["total"],
                            "epoch_seconds": mdoc["epoch_seconds"],
                            **mapped_figures(mag, design, data, "design", args.images)}
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
    ax.set_title(f"mnist_cnn, MNIST-5k, {out['design']} design")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
