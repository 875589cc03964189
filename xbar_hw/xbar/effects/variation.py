"""Programming variation (program stage): every written cell, the reference column's
included, lands at ``G + sigma * dG * N(0, 1)``, i.e. its level moves by ``sigma * N(0, 1)``
(level units). One normal draw per cell of [crossbars, R, C + 1]; a stuck cell is pinned,
not programmed, and keeps its level (its draw is made and discarded, so that the draws of
the other cells do not depend on the fault map)."""

from __future__ import annotations

import torch

from .base import Effect, LayerCells


class ProgrammingVariation(Effect):
    """Programming variation from ``nonideal.variation`` (sigma in level steps dG)."""

    name, block, stage = "variation", "variation", "program"
    switches = ("sigma",)


    def apply(self, cells: LayerCells) -> None:
        delta = self.config.sigma * torch.randn(cells.lv.shape, generator=cells.gen, dtype=torch.float64)
        if cells.stuck is not None:
            delta[..., : cells.cols][cells.stuck] = 0.0
        cells.vary(delta)
