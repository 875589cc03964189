"""Seconds per training epoch of each adaptation method on the same backbone and data, in
one run: XMA, XBM and XMA² against Piggyback, and all against plain torch training of the
same network in float (an ordinary layer's speed). Prints JSON.

    .venv/bin/python benchmarks/bench_adapt.py [--backbone out/adapt/backbone.safetensors]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from xbar_hw.adapt import AdaptConfig, fit, get_method, load_task
from xbar_hw.adapt.backbone import make_backbone
from xbar_hw.core.design import load_design
from xbar_hw.core.program import Program
from xbar_hw.workload.models import build_model


def float_epoch_seconds(data, batch: int, epochs: int) -> float:
    """Plain torch: train the float task_cnn (same shapes, same batches) with Adam."""
    model = build_model("task_cnn", seed=0, in_channels=1, num_classes=data.num_classes)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    ts = []
    model.train()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(data.x_train), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        ts.append(time.perf_counter() - t0)
    return sum(ts) / len(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default="designs/default.yaml")
    ap.add_argument("--backbone", default="out/adapt/backbone.safetensors")
    ap.add_argument("--task", default="split_mnist_5_9")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    design = load_design(args.design)
    program = Program.load(args.backbone, design) if Path(args.backbone).exists() else make_backbone(design, epochs=1)
    data = load_task(args.task, 0)
    res = {"design": design.name, "task": args.task, "train_samples": len(data.x_train), "epochs": args.epochs,
           "threads": args.threads, "backbone": program.summary()}
    res["float_torch_s_per_epoch"] = float_epoch_seconds(data, 64, args.epochs)
    for m in ("piggyback", "xbm", "xma", "xma2", "classifier", "finetune"):
        e = fit(program, data, get_method(m), AdaptConfig(epochs=args.epochs, eval_limit=50, head_epochs=0))
        res[f"{m}_s_per_epoch"] = e.meta["seconds_per_epoch"]
        if m == "xma2":
            # the selection pass (one head epoch + one Fisher pass) runs once per task
            res["xma2_selection_s"] = round(e.meta["train_seconds"] - args.epochs * e.meta["seconds_per_epoch"], 3)
    pig = res["piggyback_s_per_epoch"]
    res["ratio_vs_piggyback"] = {m: round(res[f"{m}_s_per_epoch"] / pig, 3) for m in ("xbm", "xma", "xma2")}
    res["ratio_vs_float_torch"] = {m: round(res[f"{m}_s_per_epoch"] / res["float_torch_s_per_epoch"], 3)
                                   for m in ("piggyback", "xbm", "xma", "xma2", "classifier", "finetune")}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
