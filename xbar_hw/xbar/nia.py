"""Noise Injection Adaption (He et al., DAC 2019), as implemented here.

1. **Statistics.** Map the trained network, solve the IR drop of every crossbar exactly
   (one chip with only IR drop on), and feed calibration data through it. Each mapped
   layer sees its *ideal* input; its output column sums on the chip are compared with the
   ideal ones, per output channel n: the ratio rho = P_chip[n] / P_ideal[n] over every
   sample and position where |P_ideal[n]| is at least 5% of that channel's peak; mean mu[n]
   and standard deviation sigma[n] of rho are the layer's statistics.
2. **Training.** Fine-tune the float network once with every Conv2d/Linear output (before
   its bias) multiplied by mu[n] + sigma[n] * N(0, 1), drawn afresh for every element of
   every forward pass. One training serves every chip: no chip-specific retraining.
3. **Evaluation.** Map the NIA-trained network and evaluate it on chip instances.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.design import Design, NonidealSpec
from ..core.program import Program
from ..workload.train import train
from .analog import Chip, attach_chip
from .convert import build_network
from .layers import mapped_layers
from .observe import observe_inputs


@torch.no_grad()
def irdrop_statistics(program: Program, design: Design, data: torch.Tensor, batch: int = 64,
                      irdrop_cache: dict | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per mapped layer: (mu [N], sigma [N]) of the IR-drop output ratio (see module doc);
    ``design`` gives the wires (its ir_drop block); every other effect is off."""
    only_ir = NonidealSpec(seed=design.nonideal.seed, ir_drop=design.nonideal.ir_drop)
    mapped = build_network(program)  # the golden crossbars: every layer sees its ideal input
    chip = attach_chip(build_network(program), Chip(program, only_ir, 0, irdrop_cache))
    on_chip = {m.lp.name: m for m in mapped_layers(chip)}  # the same layers on the chip
    layers = {m.lp.name: m for m in mapped_layers(mapped)}
    ratios: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    masks: dict[str, list[torch.Tensor]] = {n: [] for n in layers}

    def see(mod, x):
        rows = mod.input_rows(mod.quantize_input(x))
        ideal = mod.crossbar_rows(rows)
        real = on_chip[mod.lp.name].crossbar_rows(rows)
        ratios[mod.lp.name].append(real / ideal.where(ideal != 0, torch.ones_like(ideal)))
        masks[mod.lp.name].append(ideal.abs())

    observe_inputs(mapped, layers.values(), see, data, batch)
    stats = {}
    for name in layers:
        r, mag = torch.cat(ratios[name]), torch.cat(masks[name])
        keep = mag >= 0.05 * mag.amax(0, keepdim=True).clamp(min=1)
        cnt = keep.sum(0).clamp(min=1)
        mu = (r * keep).sum(0) / cnt
        var = (((r - mu) * keep) ** 2).sum(0) / (cnt - 1).clamp(min=1)
        mu = torch.where(keep.any(0), mu, torch.ones_like(mu))
        stats[name] = (mu.float(), var.sqrt().float())
    return stats


class _Inject:
    """Forward hook: out = (out - bias) * (mu + sigma * N(0, 1)) + bias, per element."""

    def __init__(self, mu: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator):
        self.mu, self.sigma, self.gen = mu, sigma, gen

    def __call__(self, mod, args, out):
        if not mod.training:
            return out
        shape = [1, -1] + [1] * (out.dim() - 2)
        eps = torch.randn(out.shape, generator=self.gen).to(out.device)
        factor = self.mu.to(out.device).view(shape) + self.sigma.to(out.device).view(shape) * eps
        bias = mod.bias.view(shape) if mod.bias is not None else 0.0
        return (out - bias) * factor + bias


def nia_train(model: nn.Module, stats: dict[str, tuple[torch.Tensor, torch.Tensor]], data, epochs: int = 2,
              seed: int = 0, lr: float = 5e-4, progress: bool = True) -> nn.Module:
    """Fine-tune a copy of ``model`` with the IR-drop statistics injected as noise.

    ``stats`` keys are the mapped layers' names, which are the model's module names
    (BatchNorm folding keeps the convolutions' names)."""

    model = copy.deepcopy(model)
    mods = dict(model.named_modules())
    gen = torch.Generator().manual_seed(seed + 7919)
    hooks = [mods[name].register_forward_hook(_Inject(mu, sigma, gen)) for name, (mu, sigma) in stats.items()]
    try:
        train(model, data, epochs=epochs, seed=seed, lr=lr, progress=progress)
    finally:
        for h in hooks:
            h.remove()
    return model.eval()
