"""Mapped-ideal inference throughput against plain torch and the bit-plane floor.

For the MNIST CNN (1x28x28) and a ResNet-20-sized net (3x32x32), in one run on the same
batch: plain float torch; plain quantized torch (fake-quant: the same integer values in
float conv/linear); the floor of the bit-plane work (per mapped layer, T * 2s float32
matmuls [M, K] x [K, N] of the layer's real shapes, nothing else), and the same floor in
int8 (T * 2s ``torch._int_mm`` of the same shapes: the GEMM the fast path runs on CPUs);
our crossbar path (bit-planes through every crossbar's ADC); our folded path (exact
integer product, used when the ADC is lossless); IR-drop-aware inference (every
crossbar's exact G_eff, solved once per chip and timed apart, then the engine's reference
path). Prints JSON. Not a test.

    python benchmarks/bench_inference.py [--design designs/default.yaml] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from timing import timeit  # benchmarks/timing.py

from xbar_hw import build_network, convert_to_program, load_design, set_path
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.analog import Chip, attach_chip
from xbar_hw.xbar.convert import fold_batchnorm
from xbar_hw.xbar.layers import mapped_layers


@torch.no_grad()
def fake_quant_model(model, program):
    """Plain quantized torch: the folded float graph with inputs rounded to the activation
    grid and weights replaced by their dequantized integers."""
    gm = fold_batchnorm(model)
    d = program.design
    lo, hi = d.input_range
    mods = dict(gm.named_modules())
    for name, lp in program.layers.items():
        m = mods[name]
        w = mapped_w(lp, d)
        m.weight.copy_((w * lp.w_scale.view(-1, *[1] * (w.dim() - 1))).view_as(m.weight))
        s = lp.x_scale
        m.register_forward_pre_hook(lambda mod, a, s=s: (torch.clamp(torch.round(a[0] / s), lo, hi) * s,))
    return gm


def mapped_w(lp, d):
    from xbar_hw.core.mapping import layer_weights
    return layer_weights(lp.levels, lp.k_in, lp.n_out, d).t().float()


@torch.no_grad()
def floor_fn(mapped, x, d):
    """The bit-plane floors of each mapped layer's real shapes [M, K] x [K, N]."""
    shapes = []
    hooks = [m.register_forward_pre_hook(lambda mod, a: shapes.append((mod.input_rows(mod.quantize_input(a[0])).shape, mod.lp.n_out)))
             for m in mapped_layers(mapped)]
    mapped(x)
    for h in hooks:
        h.remove()
    T, two_s = d.read_cycles, d.cols_per_logical
    split = [(torch.rand(shape), torch.rand(shape[1], n)) for shape, n in shapes]
    fused = [(torch.rand(T * shape[0], shape[1]), torch.rand(shape[1], two_s * n)) for shape, n in shapes]
    split_i8 = [(torch.randint(0, 2, tuple(shape), dtype=torch.int8), torch.randint(0, 4, (shape[1], n), dtype=torch.int8))
                for shape, n in shapes]

    def run_split():  # the floor: T * 2s matmuls [M, K] x [K, N] per layer
        for a, b in split:
            for _ in range(T * two_s):
                torch.matmul(a, b)

    def run_fused():  # the same multiplications as one GEMM [T*M, K] x [K, 2s*N] per layer
        for a, b in fused:
            torch.matmul(a, b)

    def run_split_int8():  # the floor in int8: T * 2s int8 GEMMs [M, K] x [K, N] per layer
        for a, b in split_i8:
            for _ in range(T * two_s):
                torch._int_mm(a, b)
    return run_split, run_fused, run_split_int8


def bench(arch, kwargs, shape, design, batch, seed=0):
    torch.manual_seed(seed)
    model = build_model(arch, seed=seed, **kwargs).eval()
    x = torch.rand(batch, *shape)
    program = convert_to_program(model, design, torch.rand(64, *shape))
    mapped = build_network(program)
    fq = fake_quant_model(build_model(arch, seed=seed, **kwargs).eval(), program)
    res = {"arch": arch, "batch": batch, "crossbars": program.n_crossbars, "pes": program.n_pes}
    with torch.no_grad():
        t_float = timeit(lambda: model(x))
        t_fq = timeit(lambda: fq(x))
        run_split, run_fused, run_split_int8 = floor_fn(mapped, x, design)
        t_floor = timeit(run_split, repeat=3)
        t_fused = timeit(run_fused, repeat=3)
        t_floor_i8 = timeit(run_split_int8, repeat=3)
        set_path(mapped, "crossbar")
        t_xbar = timeit(lambda: mapped(x), repeat=3)
        set_path(mapped, "folded")
        t_fold = timeit(lambda: mapped(x))
        # IR-drop-aware inference: the chip's effective matrices (solved once, timed apart)
        ir = design.replace(nonideal={"ir_drop": {"enabled": True}}).nonideal
        t0 = time.perf_counter()
        chip = Chip(program, ir)
        t_solve = time.perf_counter() - t0
        attach_chip(mapped, chip)
        t_ir = timeit(lambda: mapped(x), repeat=3)
        attach_chip(mapped, None)
    res.update({
        "float_s": t_float, "fake_quant_s": t_fq, "bitplane_floor_s": t_floor, "fused_gemm_floor_s": t_fused,
        "bitplane_floor_int8_s": t_floor_i8,
        "crossbar_path_s": t_xbar, "folded_path_s": t_fold,
        "crossbar_images_per_s": batch / t_xbar,
        "crossbar_vs_floor": t_xbar / t_floor,
        "crossbar_vs_int8_floor": t_xbar / t_floor_i8,
        "crossbar_vs_fused_gemm": t_xbar / t_fused,
        "crossbar_vs_float": t_xbar / t_float,
        "folded_vs_fake_quant": t_fold / t_fq,
        "irdrop_geff_all_crossbars_s": t_solve, "irdrop_path_s": t_ir,
        "irdrop_vs_ideal_crossbar": t_ir / t_xbar,
    })
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    d = load_design(args.design)
    out = {"design": d.name, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "read_cycles": d.read_cycles, "slices_x_polarity": d.cols_per_logical, "results": [
               bench("mnist_cnn", {}, (1, 28, 28), d, args.batch),
               bench("resnet20", {"in_channels": 3, "num_classes": 10}, (3, 32, 32), d, args.batch),
           ]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
