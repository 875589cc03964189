"""Random telegraph noise (read stage), PytorX's two-state cell: a cell of conductance G is
in its high state with probability p, shifted by ``dG_rtn = G (bG + a) / (G - (bG + a))``
(zero where G <= bG + a), a = rtn_a, b = rtn_b, p = rtn_probability (PytorX's fit,
elliothe/pytorx).

Per column, its cells and those of its reference column: the mean shift ``p dG_rtn`` is part
of W_eff, ``p (dG_rtn[r, c] - dG_rtn[r, ref]) / dG`` in level units; the fluctuation enters as
a Gaussian with the exact variance of the sum of the two-state cells,
``sum_r d_r^2 p (1 - p) (dG_rtn[r, c]^2 + dG_rtn[r, ref]^2) / dG^2`` (moment-matched, not a
per-cell draw)."""

from __future__ import annotations

from .base import Effect, LayerCells, ReadTerm


class TelegraphNoise(Effect):
    """Random telegraph noise, on with ``nonideal.noise.rtn``."""

    name, block, stage = "rtn", "noise", "read"
    switches = ("rtn",)


    def apply(self, cells: LayerCells) -> None:
        nz, g, C = self.config, cells.g, cells.cols
        dG = self.design.conductance_step
        ab = nz.rtn_b * g + nz.rtn_a
        dg_rtn = (g * ab / (g - ab)).clamp(min=0)  # PytorX's fit; zero where G <= bG + a
        p = nz.rtn_probability
        # two-state cells: mean p*dG, variance p(1-p)*dG^2 per cell, summed over the
        # column and its reference column (both in level units)
        cell_var = p * (1 - p) * (dg_rtn / dG) ** 2
        mean = p * (dg_rtn[..., :C] - dg_rtn[..., C:]) / dG
        cells.w_eff = cells.matrix() + mean
        cells.reads.append(ReadTerm(self.name, cell=cell_var[..., :C] + cell_var[..., C:]))
