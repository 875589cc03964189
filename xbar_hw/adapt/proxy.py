"""The trainable proxy of a mapped network: what the adaptation methods train.

Each mapped layer becomes a :class:`ProxyLayer` that computes, in float32 at the speed of
an ordinary layer, the integer product that the crossbars compute with an ideal ADC:
y = (x_int @ W') * x_scale * w_scale + bias, with x_int the fake-quantized input (round
with a straight-through gradient, clamped to the design's input range) and W' the
backbone's integer weights as a method changes them:
- ``retrain``: weights re-learned (fine-tune everywhere; XMA² inside the PEs it selects),
  rounded with a straight-through gradient and clipped to the weight range;
- ``weight_mask``: a per-weight binary mask (Piggyback);
- ``column_mask``: a per-crossbar, per-logical-column multiplier, tied over the rows of the
  crossbar (XBM, XMA, XMA² tier 2). With an ideal ADC this equals the spec's mask, which
  scales the column's sum P after the ADC.
The digital head is an ordinary ``nn.Linear`` until the task entry maps it to crossbars.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.design import Design
from ..core.errors import XbarError
from ..core.mapping import layer_weights
from ..core.program import LayerProgram, Program
from ..xbar.convert import build_network
from ..xbar.layers import MappedLayer


def ste_round(v: torch.Tensor) -> torch.Tensor:
    """round(v) forward, identity gradient."""
    return v + (torch.round(v) - v).detach()


def ste(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard`` forward, the gradient of ``soft``."""
    return soft + (hard - soft).detach()


def crossbar_grid(values: torch.Tensor, lp: LayerProgram, design: Design) -> torch.Tensor:
    """Per-crossbar, per-logical-column values [crossbars, L] -> per (row, output) [K, N]:
    the value of the crossbar that holds weight (k, n) (crossbar index cb * n_rb + rb)."""
    n_rb, n_cb = lp.grid(design)
    R, L = design.crossbar.rows, design.logical_cols
    v = values.reshape(n_cb, n_rb, L).permute(1, 0, 2).reshape(n_rb, n_cb * L)[:, : lp.n_out]
    return v.repeat_interleave(R, 0)[: lp.k_in]


def crossbar_region(selected: torch.Tensor, lp: LayerProgram, design: Design) -> torch.Tensor:
    """bool [crossbars] -> bool [K, N]: the weights held by the selected crossbars."""
    L = design.logical_cols
    return crossbar_grid(selected.view(-1, 1).expand(-1, L).to(torch.float32), lp, design) > 0.5


class ProxyLayer(nn.Module):
    def __init__(self, mapped: MappedLayer):
        super().__init__()
        lp, d = mapped.lp, mapped.design
        self.lp, self.design = lp, d
        self.register_buffer("w_int", layer_weights(lp.levels, lp.k_in, lp.n_out, d).to(torch.float32))
        self.register_buffer("out_scale", (lp.x_scale * lp.w_scale.to(torch.float32)))
        bias = lp.bias if lp.bias is not None else torch.zeros(lp.n_out)
        self.register_buffer("bias", bias.to(torch.float32).clone())
        self.conv = lp.conv
        self.retrain: Retrain | None = None
        self.weight_mask: WeightMask | None = None
        self.column_mask: nn.Module | None = None
        self.bias_delta: nn.Parameter | None = None  # fine-tune re-learns the digital bias

    def effective_bias(self) -> torch.Tensor:
        return self.bias if self.bias_delta is None else self.bias + self.bias_delta

    def weight(self) -> torch.Tensor:
        """The effective integer weights W' [K, N] (float32, straight-through gradients)."""
        w = self.w_int
        if self.retrain is not None:
            w = self.retrain(w)
        if self.weight_mask is not None:
            w = w * self.weight_mask()
        if self.column_mask is not None:
            w = w * crossbar_grid(self.column_mask(), self.lp, self.design)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.design.input_range
        v = torch.clamp(x / self.lp.x_scale, lo, hi)
        x_int = ste_round(v)
        w = self.weight()
        if self.conv is None:
            y = x_int @ w
            return y * self.out_scale + self.effective_bias()
        c = self.conv
        wc = w.t().reshape(self.lp.n_out, c["in_channels"], *c["kernel_size"])
        y = F.conv2d(x_int, wc, None, tuple(c["stride"]), tuple(c["padding"]), tuple(c["dilation"]))
        return y * self.out_scale.view(1, -1, 1, 1) + self.effective_bias().view(1, -1, 1, 1)


class Retrain(nn.Module):
    """Re-learned weights inside ``region`` (bool [K, N]); the backbone's elsewhere.
    Parameter ``u`` = w / w_max, so one learning rate suits every weight width."""

    def __init__(self, w_int: torch.Tensor, region: torch.Tensor, w_max: int):
        super().__init__()
        self.w_max = w_max
        self.u = nn.Parameter(w_int / w_max)
        self.register_buffer("region", region)

    def integer(self) -> torch.Tensor:
        return torch.clamp(ste_round(self.u * self.w_max), -self.w_max, self.w_max)

    def forward(self, w_int: torch.Tensor) -> torch.Tensor:
        return torch.where(self.region, self.integer(), w_int)


class WeightMask(nn.Module):
    """Piggyback: real scores per weight, binarized at ``threshold`` with a straight-through
    gradient (Mallya et al. 2018: init 1e-2, threshold 5e-3)."""

    def __init__(self, shape, init: float = 1e-2, threshold: float = 5e-3):
        super().__init__()
        self.threshold = threshold
        self.score = nn.Parameter(torch.full(shape, init))

    def hard(self) -> torch.Tensor:
        return (self.score >= self.threshold).to(self.score.dtype)

    def forward(self) -> torch.Tensor:
        return ste(self.hard(), self.score)


def build_proxy(program: Program, num_classes: int, seed: int) -> tuple[nn.Module, dict[str, ProxyLayer]]:
    """The proxy network of ``program`` with a fresh head of ``num_classes`` outputs
    (initialized from ``seed``). Returns (network, {layer: ProxyLayer} without the head)."""

    net = build_network(program)
    head = program.head
    layers = {}
    for name, m in list(net.named_modules()):
        if not isinstance(m, MappedLayer):
            continue
        if name == head:
            if m.lp.kind != "linear":

                raise XbarError(f"program: head layer {head} is a {m.lp.kind}; allowed: a Linear head")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net.set_submodule(name, nn.Linear(m.lp.k_in, num_classes))
            continue
        proxy = ProxyLayer(m)
        net.set_submodule(name, proxy)
        layers[name] = proxy
    for p in net.parameters():  # digital parameters outside the crossbars stay frozen
        p.requires_grad_(False)
    net.get_submodule(head).requires_grad_(True)
    return net, layers
