"""The golden PE: the output beats the tile must send for a :class:`~.loads.TileLoad`
(spec section 3, in its order). The co-simulation and the Amaranth tests of the tile
compare against this one function."""

from __future__ import annotations

import torch

from ..core.mapping import unmap_levels
from ..xbar.golden import apply_column_masks, crossbar_mvm
from .loads import TileLoad


def golden_beats(load: TileLoad) -> torch.Tensor:
    """Expected output beats, int64 [V, groups, L]: per crossbar, ``crossbar_mvm`` on the
    stored levels; + the SAF correction sum_r x_u[r] (w - w_stored)[r, j] of its fault
    table; the signed-input offset from the intended weights (as the colsum registers hold
    it); the column mask; summed over the crossbars of each group. Crossbars whose group is
    past ``groups`` send nothing."""
    d = load.design
    off = d.input_offset
    V, L = load.vectors, d.logical_cols
    out = torch.zeros(V, load.groups, L, dtype=torch.int64)
    for n in range(d.pe.crossbars):
        if load.group[n] >= load.groups:
            continue
        x = load.x[:, n, :]
        bits = None if load.adc_bits is None else load.adc_bits[n]  # the slot's own ADC bits (TinyADC)
        p = crossbar_mvm(load.stored[n], x, d, adc_shift=load.shifts[n], adc_bits=bits)  # ADC(stored) - off * colsum(stored)
        w_i, w_s = unmap_levels(load.intended[n], d), unmap_levels(load.stored[n], d)
        delta = torch.zeros_like(w_i)
        for r, j, dl in load.faults[n]:
            delta[r, j] = dl
        pre = p + off * (w_s.sum(0) - w_i.sum(0)) + (x + off) @ delta
        codes = torch.tensor(load.codes[n], dtype=torch.int64)
        masked = apply_column_masks(pre.to(torch.float64).unsqueeze(0), codes.unsqueeze(0), d)
        out[:, load.group[n]] += masked.round().to(torch.int64)
    return out
