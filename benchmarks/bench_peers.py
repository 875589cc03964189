"""Inference speed against the peers at the same fidelity (issue 15), in one run, as JSON.

For ResNet-20 (CIFAR-style, batch-norm, random weights, 3x32x32) and the MNIST CNN
(1x28x28), at each batch size, on the same inputs and the same threads:

- ``torch``: the float model, eval mode;
- ``aihwkit_lightning``: the float model through ``aihwkit_lightning.nn.conversion.
  convert_to_analog`` (PyPI ``aihwkit-lightning==2.1.0``; skipped with a note when it is not
  installed), configured as below (``PEER_CONFIG``): 8-bit DAC and ADC, 128-row tiles,
  8-bit per-channel weights, output noise;
- ``xbar_same``: xbar-hw's bit-exact crossbar path on ``designs/lightning.yaml`` (128x128,
  7-bit cells so one cell per polarity, 8-bit signed inputs through an 8-bit DAC in one
  read, an 8-bit ADC on every column);
- ``xbar_default``: the crossbar path on ``designs/default.yaml`` (2-bit cells, 4 slices
  per polarity, bit-serial inputs: 8 read cycles).

The paths are timed in rounds, one call of each per round in turn, so that a change in the
machine's load touches all of them alike; each figure is the median (and the best) over the
rounds, after one untimed call. The load average before and after is recorded: other jobs
on the machine show there. Not a test.

    python benchmarks/bench_peers.py [--batches 1 32 64] [--threads 2] [--rounds 5] [--out peers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from xbar_hw import build_network, convert_to_program, load_design, set_path
from xbar_hw.workload.models import build_model

try:  # the peer, optional
    import aihwkit_lightning
    from aihwkit_lightning.nn.conversion import convert_to_analog
    from aihwkit_lightning.simulator.configs import (
        TorchInferenceRPUConfig,
        WeightClipType,
        WeightModifierType,
        WeightQuantizationType,
    )
except ImportError:  # pragma: no cover - depends on the environment
    aihwkit_lightning = None

ROOT = Path(__file__).resolve().parent.parent
ARCHS = {
    "resnet20": ({"in_channels": 3, "num_classes": 10}, (3, 32, 32)),
    "mnist_cnn": ({}, (1, 28, 28)),
}
#: aihwkit-lightning's configuration, written out so that the JSON records it
PEER_CONFIG = {
    "forward.inp_res": 2**8 - 2,  # 8-bit DAC: 254 steps over the input range
    "forward.out_res": 2**8 - 2,  # 8-bit ADC
    "forward.out_bound": 10.0,  # ADC range, in units of input range x max |w|
    "forward.out_noise": 0.04,  # output noise (aihwkit-lightning adds it in training mode only)
    "mapping.max_input_size": 128,  # 128-row tiles
    "pre_post.input_range.enable": True,  # static input ranges (set from the data below)
    "modifier.quantization_type": "DISCRETIZE_PER_CHANNEL",  # 8-bit weights per output channel
    "modifier.res": 2**8 - 2,
    "clip.type": "LAYER_GAUSSIAN_PER_CHANNEL",
    "clip.sigma": 3.0,
}


def peer_rpu_config():
    cfg = TorchInferenceRPUConfig()
    cfg.forward.inp_res = PEER_CONFIG["forward.inp_res"]
    cfg.forward.out_res = PEER_CONFIG["forward.out_res"]
    cfg.forward.out_bound = PEER_CONFIG["forward.out_bound"]
    cfg.forward.out_noise = PEER_CONFIG["forward.out_noise"]
    cfg.mapping.max_input_size = PEER_CONFIG["mapping.max_input_size"]
    cfg.pre_post.input_range.enable = PEER_CONFIG["pre_post.input_range.enable"]
    cfg.modifier.type = WeightModifierType.NONE
    cfg.modifier.quantization_type = WeightQuantizationType.DISCRETIZE_PER_CHANNEL
    cfg.modifier.res = PEER_CONFIG["modifier.res"]
    cfg.clip.type = WeightClipType.LAYER_GAUSSIAN_PER_CHANNEL
    cfg.clip.sigma = PEER_CONFIG["clip.sigma"]
    return cfg


@torch.no_grad()
def peer_model(model: torch.nn.Module, calibration: torch.Tensor) -> torch.nn.Module:
    """The model on aihwkit-lightning, each tile's input range set to the largest input
    magnitude its layer sees on the calibration data (as xbar-hw's activation scales are)."""
    peaks = {}
    hooks = [m.register_forward_pre_hook(lambda mod, a, n=n: peaks.__setitem__(n, float(a[0].abs().max())))
             for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    model(calibration)
    for h in hooks:
        h.remove()
    analog = convert_to_analog(model, peer_rpu_config()).eval()
    for name, layer in analog.named_analog_layers():
        layer.input_range.fill_(peaks.get(name.removeprefix("model."), peaks.get(name, 3.0)) or 1.0)
    return analog


def xbar_model(model: torch.nn.Module, design, calibration: torch.Tensor):
    program = convert_to_program(model, design, calibration)
    return set_path(build_network(program), "crossbar"), program


@torch.no_grad()
def timed_rounds(paths: dict, x: torch.Tensor, rounds: int) -> dict:
    """{name: (median s, best s)}: one untimed call each, then ``rounds`` rounds."""
    for fn in paths.values():
        fn(x)
    times = {name: [] for name in paths}
    for _ in range(rounds):
        for name, fn in paths.items():
            t = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def bench(arch: str, batch: int, designs: dict, rounds: int, seed: int = 0) -> dict:
    kwargs, shape = ARCHS[arch]
    torch.manual_seed(seed)
    model = build_model(arch, seed=seed, **kwargs).eval()
    x = torch.rand(batch, *shape)
    calibration = torch.rand(64, *shape)
    paths = {"torch": model}
    res = {"arch": arch, "batch": batch}
    if aihwkit_lightning is not None:
        paths["aihwkit_lightning"] = peer_model(build_model(arch, seed=seed, **kwargs).eval(), calibration)
    for key, design in designs.items():
        paths[key], program = xbar_model(model, design, calibration)
        res[f"{key}_crossbars"] = program.n_crossbars
    t = timed_rounds(paths, x, rounds)
    for name, (med, best) in t.items():
        res[f"{name}_s"], res[f"{name}_best_s"] = med, best
        res[f"{name}_images_per_s"] = batch / med
    for key in designs:
        res[f"{key}_vs_torch"] = t[key][0] / t["torch"][0]  # how many times slower than torch
        if "aihwkit_lightning" in t:
            res[f"aihwkit_lightning_vs_{key}"] = t["aihwkit_lightning"][0] / t[key][0]  # how many times faster
    if "aihwkit_lightning" in t:
        res["aihwkit_lightning_vs_torch"] = t["aihwkit_lightning"][0] / t["torch"][0]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32, 64])
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    designs = {"xbar_same": load_design(ROOT / "designs" / "lightning.yaml"),
               "xbar_default": load_design(ROOT / "designs" / "default.yaml")}
    out = {
        "threads": torch.get_num_threads(), "torch": torch.__version__, "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(), "rounds": args.rounds,
        "loadavg_start": os.getloadavg(),
        "aihwkit_lightning": getattr(aihwkit_lightning, "__version__", None) if aihwkit_lightning else None,
        "note": None if aihwkit_lightning else "aihwkit-lightning is not installed: pip install aihwkit-lightning==2.1.0",
        "peer_config": PEER_CONFIG,
        "designs": {k: d.name for k, d in designs.items()},
        "results": [bench(arch, b, designs, args.rounds) for arch in args.archs for b in args.batches],
    }
    out["loadavg_end"] = os.getloadavg()
    text = json.dumps(out, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
