"""One interface for every adaptation method, and the loop that runs it.

A :class:`Method` attaches its trainable parts to the proxy of a frozen Program
(:mod:`xbar_hw.adapt.proxy`) and, after training, turns them into the parts of a task
entry (mask codes, reprogrammed crossbars, biases). :func:`fit` does the rest for all:
a fresh head per task, Adam with a cosine schedule, the head mapped onto crossbars of its
own, the entry evaluated through the golden crossbars (ADC included), and the cells the
task switch writes (a diff against the backbone).

Batch-norm is not per task: the backbone's batch-norm (if any) is folded into its
crossbar weights and digital biases at mapping, and stays frozen for every method except
fine-tune, which re-learns the biases too.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..core.errors import XbarError, field_error
from ..core.mapping import map_layer
from ..core.program import Program
from ..core.switch import switch_diff
from ..core.task_entry import TaskEntry
from ..workload.data import Dataset, eval_subset
from ..workload.train import accuracy, default_device
from ..xbar.convert import build_task, quantize_layer
from ..xbar.layers import MappedLinear
from ..xbar.observe import observe_inputs
from .proxy import ProxyLayer, build_proxy


@dataclass(frozen=True)
class AdaptConfig:
    """Training settings shared by the methods. Adam with a cosine schedule for all; the
    learning rates other than Piggyback's (its paper's 1e-4) are the best of a sweep over
    {1e-4, 3e-4, 1e-3} (scores), {5e-3, 2e-2, 5e-2, 1e-1} (scales) and {5e-4, 2e-3}
    (weights) on split_mnist_5_9, seed 0, 5 epochs (docs/results.md)."""

    epochs: int = 5
    seed: int = 0
    batch: int = 64
    lr_head: float = 1e-3  # the task's classifier (and fine-tune's biases)
    lr_score: float = 1e-4  # Piggyback's per-weight scores (Mallya et al. 2018: 1e-4, init 1e-2, threshold 5e-3)
    lr_gate: float = 3e-4  # XBM's per-column scores (init 1e-2, threshold 5e-3)
    lr_scale: float = 5e-2  # XMA / XMA² column scales (init 1 = exponent 0)
    lr_weight: float = 2e-3  # re-learned weights, in units of w_max (fine-tune, XMA²'s selected PEs)
    budget: float = 0.1  # XMA²: fraction of the backbone's PEs that may be reprogrammed
    head_epochs: int = 2  # ADC-aware epochs of the head on the crossbars (see adc_aware_head)
    eval_limit: int | None = None  # evaluate on the first N test samples (None: all)
    progress: bool = False

    def __post_init__(self):
        if not (isinstance(self.budget, (int, float)) and 0.0 <= self.budget <= 1.0):
            raise field_error("budget", self.budget, "a fraction of PEs in [0, 1]")
        if not (isinstance(self.epochs, int) and self.epochs >= 0):
            raise field_error("epochs", self.epochs, "an integer >= 0")
        if not (isinstance(self.batch, int) and self.batch >= 1):
            raise field_error("batch", self.batch, "an integer >= 1")


class Method:
    """Subclasses set ``name`` and implement :meth:`attach` and :meth:`parts`."""

    name = ""

    def attach(self, program: Program, layers: dict[str, ProxyLayer], net: nn.Module, data: Dataset,
               cfg: AdaptConfig) -> list[dict]:
        """Give the proxy layers their trainable parts; return Adam parameter groups."""
        raise NotImplementedError

    def parts(self, program: Program, layers: dict[str, ProxyLayer]) -> dict:
        """After training: {"masks", "levels", "bias", "meta"} of the task entry."""
        raise NotImplementedError

    def mask_bits(self, program: Program, layers: dict[str, ProxyLayer]) -> int:
        return 0


def reprogrammed(program: Program, layers: dict[str, ProxyLayer], new_weights) -> dict:
    """{layer: (crossbar indices, new levels)} for the crossbars whose levels change when
    each layer's integer weights become ``new_weights(proxy)`` (None: unchanged)."""
    out = {}
    for name, proxy in layers.items():
        w = new_weights(proxy)
        if w is None:
            continue
        lp = program.layers[name]
        levels = map_layer(torch.round(w.detach()).to(torch.int64).cpu(), program.design)
        changed = (levels != lp.levels).flatten(1).any(1).nonzero().flatten()
        if changed.numel():
            out[name] = (changed, levels[changed])
    return out


def train_loop(net: nn.Module, data: Dataset, groups: list[dict], epochs: int, cfg: AdaptConfig,
               desc: str, device, seed_offset: int = 0) -> list[float]:
    """Adam + cosine schedule + cross-entropy; returns seconds per epoch."""
    params = [p for g in groups for p in g["params"]]
    if not params or epochs == 0:
        return []
    opt = torch.optim.Adam(groups)
    n = len(data.x_train)
    steps = epochs * math.ceil(n / cfg.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + seed_offset)
    times = []
    net.train()
    with tqdm(total=steps, desc=desc, disable=not cfg.progress, leave=False) as bar:
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, cfg.batch):
                idx = perm[i : i + cfg.batch]
                x, y = data.x_train[idx].to(device), data.y_train[idx].to(device)
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
            times.append(time.perf_counter() - t0)
    net.eval()
    return times


def check_task_fits(program: Program, net: nn.Module, data: Dataset) -> None:
    """A task whose images do not fit the backbone's input: one clear line."""
    shape = list(data.x_train.shape[1:])
    want = program.meta.get("input_shape")
    if want is not None and list(want) != shape:
        raise XbarError(f"task {data.name}: input shape {shape} does not fit the backbone; allowed: {list(want)}")
    try:
        with torch.no_grad():
            net(data.x_train[:1])
    except RuntimeError as exc:
        raise XbarError(f"task {data.name}: input shape {shape} does not fit the backbone "
                        f"({str(exc).splitlines()[0]}); allowed: the backbone's input shape") from None


def adc_aware_head(net: nn.Module, program: Program, data: Dataset, cfg: AdaptConfig, first_pe: int):
    """Map the head onto crossbars and re-learn it through them: the forward pass is the
    golden crossbar path of the quantized head (ADC included), the backward pass that of
    the ideal product (straight-through). A new task's features give the head small
    margins, and the default design's ADC (a0 = 1) would otherwise cost it several points.
    The backbone is frozen here, so its features are computed once. Returns the mapped
    head (a LayerProgram)."""

    head = net.get_submodule(program.head)
    x = data.x_train
    feats = []
    observe_inputs(net, [head], lambda m, f: feats.append(f.detach()), x, 256, stop=True)
    f = torch.cat(feats)
    peak = float(f.abs().max())
    d = program.design
    if cfg.head_epochs:
        opt = torch.optim.Adam(head.parameters(), lr=cfg.lr_head)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + 3)
        for _ in range(cfg.head_epochs):
            perm = torch.randperm(len(f), generator=gen)
            for i in range(0, len(f), cfg.batch):
                idx = perm[i : i + cfg.batch]
                with torch.no_grad():
                    hw = MappedLinear(quantize_layer(program.head, head, peak, d, first_pe), d)
                    hw.path = "crossbar"
                    y_hw = hw(f[idx])
                y_ideal = head(f[idx])
                loss = F.cross_entropy(y_ideal + (y_hw - y_ideal).detach(), data.y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return quantize_layer(program.head, head, peak, d, first_pe)


def fit(program: Program, data: Dataset, method: Method, cfg: AdaptConfig = AdaptConfig(),
        task_name: str | None = None, device=None) -> TaskEntry:
    """Adapt the frozen ``program`` to ``data`` with ``method``; the returned entry holds its
    accuracy through the golden crossbars, the cells it writes and its mask memory."""

    device = torch.device(device or default_device())
    task_name = task_name or data.name
    if program.n_pes == 0:
        raise XbarError("program: maps no layer")
    net, layers = build_proxy(program, data.num_classes, cfg.seed)
    check_task_fits(program, net, data)
    net.to(device)
    torch.manual_seed(cfg.seed)
    head = net.get_submodule(program.head)
    t0 = time.perf_counter()
    groups = method.attach(program, layers, net, data, cfg)
    net.to(device)
    groups = [{"params": list(head.parameters()), "lr": cfg.lr_head}] + groups
    epoch_seconds = train_loop(net, data, groups, cfg.epochs, cfg, f"{method.name} {task_name}", device)
    train_seconds = time.perf_counter() - t0
    net.cpu()
    x_test, y_test = eval_subset(data, cfg.eval_limit)
    proxy_acc = accuracy(net, x_test, y_test)
    parts = method.parts(program, layers)
    net.eval()
    t_head = time.perf_counter()
    head_lp = adc_aware_head(net, program, data, cfg, program.layers[program.head].first_pe)
    train_seconds += time.perf_counter() - t_head
    meta = {
        "method": method.name,
        "task": task_name,
        "data": data.name,  # the dataset (task_name may be a label such as "split_mnist_5_9.xma")
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "config": asdict(cfg),
        "proxy_accuracy": proxy_acc,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(sum(epoch_seconds) / len(epoch_seconds), 3) if epoch_seconds else None,
        "mask_bits": method.mask_bits(program, layers),
        "piggyback_mask_bits": sum(lp.k_in * lp.n_out for n, lp in program.layers.items() if n != program.head),
        **parts.get("meta", {}),
    }
    entry = TaskEntry(task_name, method.name, head_lp, list(data.classes), parts.get("masks", {}),
                      parts.get("levels", {}), parts.get("bias", {}), meta)
    diff = switch_diff(program, None, entry)
    entry.meta["cells_written"] = diff.count
    entry.meta["pes_reprogrammed"] = sorted(diff.per_pe())
    entry.meta["head_cells"] = int(head_lp.n_crossbars * program.design.crossbar.rows * program.design.crossbar.cols)
    t1 = time.perf_counter()
    mapped = build_task(program, entry)
    entry.meta["accuracy"] = accuracy(mapped, x_test, y_test)
    entry.meta["eval_seconds"] = round(time.perf_counter() - t1, 3)
    entry.meta["n_test"] = len(x_test)
    return entry
