"""TinyADC (issue 13): prune a trained model so that every crossbar column is exact with a
smaller ADC, by iterative projected SGD; and the baseline it is compared with, plain
magnitude pruning at the same sparsity.

Method. Each mapped layer (Conv2d, Linear) is quantized as the mapper quantizes it
(per output channel, symmetric: w_int = round(W / (max|W[:, n]| / (2^(b_w-1) - 1)))),
and :func:`xbar_hw.core.adcbits.column_keep` gives the weights each crossbar column may
keep for a lossless b-bit ADC; the others are set to 0. Retraining is Adam on the task
loss with that projection after every step (the mask is recomputed from the current
weights every few steps and after the last one, so weights may come back while they are
large enough; between recomputations the last mask is applied, which is cheap). The projection
never drops a column's largest weight, so the weight scale the mapper computes afterwards
is the one the projection used, and mapping the result gives levels within budget.

Why projected SGD and not ADMM: the constraint set (per-column budgets of slice levels) is
a union of combinatorial sets whose Euclidean projection is a knapsack; the greedy
largest-first prefix is cheap and exact in feasibility, and projected SGD needs no extra
hyper-parameters (ADMM's rho schedule) nor the dual variables' memory; with a short
retraining from a trained model it recovers the accuracy (docs/tinyadc.md).

Batch-norm: a BatchNorm that the mapper folds into a conv scales each output channel by
one factor, which changes neither the per-channel quantization nor the projection
(except for ties of rounding at exactly .5); :func:`prune_model` reports each layer's
lossless bits from the weights with BatchNorm folded as the mapper folds them, so any such
case shows.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..core.adcbits import column_budget, column_keep, lossless_adc_bits, min_prunable_bits
from ..core.design import Design
from ..core.errors import XbarError
from ..core.mapping import map_layer
from ..workload.circulant import circulant_blocks
from ..workload.data import Dataset
from ..workload.models import load_model, save_model
from ..workload.train import accuracy, default_device
from ..xbar.convert import fold_batchnorm, quantize_weights
from .workloads import data_made_on


def mapped_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The layers the mapper puts on crossbars: every Conv2d and Linear, by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def integer_weights(m: nn.Module, design: Design) -> torch.Tensor:
    """The layer's weights as the mapper quantizes them: int64 W[K, N] (K in unfold order)."""
    return quantize_weights(m, design)[0]


def tinyadc_mask(m: nn.Module, bits: int, design: Design) -> torch.Tensor:
    """The keep mask of a layer's weight tensor (its own shape) for a lossless b-bit ADC."""
    keep = column_keep(integer_weights(m, design), bits, design)  # [K, N]
    return keep.t().reshape(m.weight.shape)


def magnitude_mask(m: nn.Module, sparsity: float) -> torch.Tensor:
    """Keep the largest |w| of the layer so that a fraction ``sparsity`` is zero (ties by index)."""
    w = m.weight.detach().abs().flatten()
    drop = round(sparsity * w.numel())
    keep = torch.ones_like(w, dtype=torch.bool)
    if drop:
        keep[w.argsort(stable=True)[:drop]] = False
    return keep.view(m.weight.shape)


def layer_bits(model: nn.Module, design: Design, bits: int, per_layer: str | None = None,
               keep_mass: float = 0.5) -> dict[str, int]:
    """Target ADC bits per layer. Each layer gets ``bits``, or fewer where its unpruned
    levels are already lossless with fewer (it is then not pruned; its target is at least
    :func:`~xbar_hw.core.adcbits.min_prunable_bits`, the fewest a projection can keep while
    retraining moves its weights). ``per_layer="auto"``:
    a layer whose projection to ``bits`` would keep less than ``keep_mass`` of its weights'
    L1 mass gets the fewest bits (up to ``adc.bits``) that keep at least that much."""
    column_budget(bits, design)  # raises for bits that no pruning reaches
    if bits > design.adc.bits:
        raise XbarError(f"adc bits: got {bits}; allowed: at most the design's adc.bits = {design.adc.bits} "
                        f"and at least {min_prunable_bits(design)}")
    if per_layer not in (None, "auto"):
        raise XbarError(f"--per-layer: got {per_layer!r}; allowed: auto")
    refuse_circulant(model)
    lowest = min_prunable_bits(design)
    out = {}
    for name, m in mapped_modules(model).items():
        w_int = integer_weights(m, design)
        need = int(lossless_adc_bits(map_layer(w_int, design), design).max())
        b = max(min(bits, need), lowest)  # a layer lossless with fewer bits is kept there, not pruned
        if per_layer == "auto":
            mass = float(w_int.abs().sum())
            while b < min(need, design.adc.bits) and float((w_int * column_keep(w_int, b, design)).abs().sum()) < keep_mass * mass:
                b += 1
        out[name] = b
    return out


def refuse_circulant(model: nn.Module) -> None:
    """One line for a model with block-circulant layers: the projection works on dense
    weights (pruning a circulant block's vector would change b weights at once)."""
    blocks = circulant_blocks(model)
    if blocks:
        name, b = next(iter(blocks.items()))
        raise XbarError(f"prune: layer {name} is block-circulant (b = {b}); allowed: a model without block-circulant "
                        "layers (train it without --circulant)")


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    modules = mapped_modules(model)
    for name, keep in masks.items():
        modules[name].weight.mul_(keep.to(modules[name].weight.dtype))


def sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of zero weights per mapped layer and overall ("total")."""
    out, zeros, total = {}, 0, 0
    for name, m in mapped_modules(model).items():
        z = int((m.weight == 0).sum())
        out[name] = z / m.weight.numel()
        zeros, total = zeros + z, total + m.weight.numel()
    out["total"] = zeros / max(1, total)
    return out


def retrain(model: nn.Module, data: Dataset, project, *, epochs: int, seed: int, lr: float, batch: int = 64,
            device=None, every: int = 1) -> list[float]:
    """Adam on the task loss, ``project(model, fresh)`` after every step (and once before):
    ``fresh`` every ``every`` steps and at the last step (recompute the masks), else
    reuse the last masks. Returns the seconds of each epoch (wall time)."""
    device = device or default_device()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    project(model, True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n, times, step = len(data.x_train), [], 0
    last = epochs * (-(-n // batch))
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            project(model, step % every == 0 or step == last)
        times.append(time.perf_counter() - t0)
    model.eval()
    return times


def prune_model(model: nn.Module, design: Design, data: Dataset, bits: int, *, per_layer: str | None = None,
                epochs: int = 2, lr: float = 5e-4, seed: int = 0, device=None, every: int = 4) -> dict:
    """TinyADC in place on ``model`` (trained): projected retraining for ``epochs`` so that
    every crossbar is lossless with at most ``bits`` ADC bits. The masks are recomputed
    every ``every`` steps and after the last (between, the last masks are applied), so the
    result always meets the budgets. Returns the figures: target
    bits per layer, the lossless bits each layer's crossbars reach (from the mapped levels),
    sparsity, test accuracy, seconds per epoch."""
    targets = layer_bits(model, design, bits, per_layer)
    modules = mapped_modules(model)

    masks: dict[str, torch.Tensor] = {}

    def project(net: nn.Module, fresh: bool) -> None:
        if fresh:
            masks.update({n: tinyadc_mask(modules[n], b, design) for n, b in targets.items()})
        apply_masks(net, masks)

    times = retrain(model, data, project, epochs=epochs, seed=seed, lr=lr, device=device, every=every)
    model.cpu()
    # the bits reached as the mapper will see the layers: BatchNorm folded first (in float32,
    # which may flip a rounding tie; such a layer shows here above its target)
    folded = mapped_modules(fold_batchnorm(copy.deepcopy(model)))
    reached = {n: int(lossless_adc_bits(map_layer(integer_weights(folded[n], design), design), design).max())
               for n in modules}
    return {"adc_bits": bits, "per_layer": per_layer, "target_bits": targets, "lossless_bits": reached,
            "sparsity": sparsity(model), "test_acc": accuracy(model, data.x_test, data.y_test),
            "epochs": epochs, "lr": lr, "seed": seed, "epoch_seconds": times}


def magnitude_prune(model: nn.Module, data: Dataset, layer_sparsity: dict[str, float], *, epochs: int = 2,
                    lr: float = 5e-4, seed: int = 0, device=None, every: int = 4) -> dict:
    """The baseline: unstructured magnitude pruning of each layer to ``layer_sparsity``
    (fraction of zeros), retrained the same way (projection after every step)."""
    modules = mapped_modules(model)

    masks: dict[str, torch.Tensor] = {}

    def project(net: nn.Module, fresh: bool) -> None:
        if fresh:
            masks.update({n: magnitude_mask(modules[n], s) for n, s in layer_sparsity.items()})
        apply_masks(net, masks)

    times = retrain(model, data, project, epochs=epochs, seed=seed, lr=lr, device=device, every=every)
    model.cpu()
    return {"sparsity": sparsity(model), "test_acc": accuracy(model, data.x_test, data.y_test),
            "epochs": epochs, "lr": lr, "seed": seed, "epoch_seconds": times}


def prune_file(model_path, design: Design, bits: int, output, *, data: str | None = None, per_layer: str | None = None,
               epochs: int = 2, lr: float = 5e-4, seed: int = 0, image_size: int = 28, channels: int = 1) -> dict:
    """``xbar-hw prune``: read a model file, prune it for a lossless ``bits``-bit ADC on
    ``design`` (retrained on ``data``, else the data it was trained on), write it to
    ``output`` (atomically) with the figures under ``meta.prune``; returns them."""
    model, doc = load_model(model_path)
    layer_bits(model, design, bits, per_layer)  # bad bits fail before the data is read
    dataset, name = data_made_on(doc["meta"], data, seed=seed, image_size=image_size, channels=channels)
    t0 = time.time()
    figures = prune_model(model, design, dataset, bits, per_layer=per_layer, epochs=epochs, lr=lr, seed=seed)
    figures.update(design=design.name, data=name, seconds=round(time.time() - t0, 2))
    save_model(model, doc["arch"], doc["kwargs"], output, {**doc["meta"], "prune": figures})
    return {**figures, "output": str(output)}


__all__ = [
    "layer_bits",
    "magnitude_mask",
    "magnitude_prune",
    "mapped_modules",
    "prune_file",
    "prune_model",
    "retrain",
    "sparsity",
    "tinyadc_mask",
]
