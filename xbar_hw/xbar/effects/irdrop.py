"""IR drop (wire stage): the exact solve of each crossbar's resistive network
(:func:`xbar_hw.xbar.irdrop.effective_conductances`) turns the conductances G, reference
column included, into G_eff; the effective matrix in level units is
``W_eff[r, c] = (G_eff[r, c] - G_eff[r, C]) / dG``. Solves are shared through the chip's
cache between chips (and layers) whose conductances are equal."""

from __future__ import annotations

import torch

from ..irdrop import effective_conductances
from .base import Effect, LayerCells


def index_free_key(g: torch.Tensor) -> tuple:
    """A cache key for conductances: chips whose G are equal share one IR-drop solve."""
    return (tuple(g.shape), hash(g.numpy().tobytes()))


class IrDrop(Effect):
    """IR drop from ``nonideal.ir_drop`` (wire resistances in ohms)."""

    name, block, stage = "ir_drop", "ir_drop", "wire"
    switches = ("enabled",)


    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """G_eff [n, R, C + 1] of conductances g (S)."""
        ir = self.config
        return effective_conductances(g, ir.r_row, ir.r_col, ir.r_source, ir.r_sense)

    def apply(self, cells: LayerCells) -> None:
        g, cache = cells.g, cells.cache
        key = (cells.name, index_free_key(g)) if cache is not None else None
        if key is not None and key in cache:
            g_eff = cache[key]
        else:
            g_eff = self.solve(g)
            if key is not None:
                cache[key] = g_eff
        C = cells.cols
        cells.w_eff = (g_eff[..., :C] - g_eff[..., C:]) / self.design.conductance_step
