"""One mapped layer of a Program (spec section 1): its cell levels, ADC shifts and
digital scales, and its tensors in the Program file.

Placement: each layer starts on a fresh PE; its crossbars (index ``cb * n_rb + rb``, so
the row blocks of one column block are neighbours) fill PEs of ``pe.crossbars`` in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .design import Design
from .mapping import fault_entries, layer_grid


@dataclass
class LayerProgram:
    """One Conv2d or Linear layer mapped to crossbars."""

    name: str
    kind: str  # "conv" or "linear"
    k_in: int  # rows of W[K, N]: in_channels * kh * kw for a conv
    n_out: int
    levels: torch.Tensor  # uint8 [n_crossbars, R, C]
    adc_shift: torch.Tensor  # int64 [n_crossbars]
    w_scale: torch.Tensor  # float32 [N]: weight = w_scale[n] * w_int
    x_scale: float  # input = x_scale * x_int
    bias: torch.Tensor | None = None  # float32 [N]
    conv: dict | None = None  # in_channels, kernel_size, stride, padding, dilation
    first_pe: int = 0
    faults: torch.Tensor | None = None  # int64 [f, 4]: crossbar, row, column, stuck level (profiled)

    @property
    def n_crossbars(self) -> int:
        return int(self.levels.shape[0])

    def grid(self, design: Design) -> tuple[int, int]:
        return layer_grid(self.k_in, self.n_out, design)

    def n_pes(self, design: Design) -> int:
        return -(-self.n_crossbars // design.pe.crossbars)

    def crossbar_pe(self, design: Design) -> torch.Tensor:
        """PE index of each crossbar."""
        return self.first_pe + torch.arange(self.n_crossbars) // design.pe.crossbars

    def stored_levels(self, xb: int) -> torch.Tensor:
        """The levels the cells of crossbar ``xb`` hold, int64 [R, C]: the intended levels
        with every profiled stuck cell at its stuck level."""
        stored = self.levels[xb].to(torch.int64).clone()
        if self.faults is not None and len(self.faults):
            f = self.faults.to(torch.int64)
            mine = f[f[:, 0] == xb]
            stored[mine[:, 1], mine[:, 2]] = mine[:, 3]
        return stored

    def fault_table(self, xb: int, design: Design) -> list[tuple[int, int, int]]:
        """The fault table of crossbar ``xb`` (:func:`fault_entries` of its intended and
        stored levels): one entry per logical weight whose stored value differs."""
        return fault_entries(self.levels[xb].to(torch.int64), self.stored_levels(xb), design)

    def json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "k_in": self.k_in,
            "n_out": self.n_out,
            "x_scale": self.x_scale,
            "conv": self.conv,
            "first_pe": self.first_pe,
            "n_crossbars": self.n_crossbars,
            "has_bias": self.bias is not None,
        }


def layer_tensors(prefix: str, lp: LayerProgram) -> dict[str, torch.Tensor]:
    t = {
        f"{prefix}levels": lp.levels.to(torch.uint8),
        f"{prefix}adc_shift": lp.adc_shift.to(torch.int64),
        f"{prefix}w_scale": lp.w_scale.to(torch.float32),
    }
    if lp.bias is not None:
        t[f"{prefix}bias"] = lp.bias.to(torch.float32)
    if lp.faults is not None:
        t[f"{prefix}faults"] = lp.faults.to(torch.int64)
    return t


def layer_from(prefix: str, lj: dict, tensors: dict) -> LayerProgram:
    return LayerProgram(
        name=lj["name"],
        kind=lj["kind"],
        k_in=lj["k_in"],
        n_out=lj["n_out"],
        levels=tensors[f"{prefix}levels"],
        adc_shift=tensors[f"{prefix}adc_shift"],
        w_scale=tensors[f"{prefix}w_scale"],
        x_scale=float(lj["x_scale"]),
        bias=tensors.get(f"{prefix}bias"),
        conv=lj["conv"],
        first_pe=lj["first_pe"],
        faults=tensors.get(f"{prefix}faults"),
    )
