"""Lossless ADC resolution per crossbar from the cell levels alone (TinyADC, issue 13).

A physical column c of a crossbar holds the levels of one (logical column, polarity,
slice). Read cycle t drives every row with a digit d_t in 0 .. 2^v - 1 (signed inputs
too: the crossbar sees x_u = x + 2^(b_x-1) >= 0; the offset is subtracted digitally),
and levels are >= 0, so the column sum S[t, c] = sum_r d_t level[r, c] is at most

    S_max(c) = (2^v - 1) * sum_r level[r, c]

and reaches it when every input is at the top of its range (every digit 2^v - 1). The
ADC ``min((S + h) >> a, 2^b - 1)`` returns S exactly for every input iff a = 0 and
S_max(c) <= 2^b - 1, i.e. b >= bitlen(S_max(c)). Polarity and slices are combined after
the ADC (spec section 3's shift-add), so each of a logical column's 2s physical columns
must be exact on its own. A crossbar needs the largest of its columns' bits.

In weight terms (docs/architecture.md, "TinyADC: the bound"): weight w at row r of
logical column j adds level ``(|w| >> k*b_c) & (2^b_c - 1)`` to column (j, sign w, k), so
b bits are lossless iff, for every row block, logical column, polarity and slice, the sum
of those levels is at most the column budget ``floor((2^b - 1) / (2^v - 1))``.
"""

from __future__ import annotations

import torch

from .design import Design
from .errors import XbarError


def column_sum_max(levels: torch.Tensor, design: Design) -> torch.Tensor:
    """S_max(c) = (2^v - 1) * sum_r level[r, c] of every physical column: levels
    [..., R, C] -> int64 [..., C]."""
    return levels.to(torch.int64).sum(-2) * design.digit_max


def bit_length(values: torch.Tensor) -> torch.Tensor:
    """Elementwise ``int.bit_length`` of non-negative int64 values (0 -> 0)."""
    v = values.to(torch.int64)
    bits = torch.zeros_like(v)
    for b in range(63):
        bits += (v >> b) > 0
    return bits


def lossless_adc_bits(levels: torch.Tensor, design: Design) -> torch.Tensor:
    """The fewest ADC bits with which every column of each crossbar is exact at shift 0:
    levels [n_crossbars, R, C] -> int64 [n_crossbars], at least 1 (an all-zero crossbar
    still has an ADC)."""
    worst = column_sum_max(levels, design).amax(-1)
    return bit_length(worst).clamp(min=1)


def column_budget(bits: int, design: Design) -> int:
    """The largest sum of levels a physical column may hold for a lossless b-bit ADC:
    floor((2^b - 1) / (2^v - 1)). Raises XbarError where it holds less than one cell at
    :func:`top_level` (then a column could keep no weight whose slice is at the top level,
    not even the one that sets its column's weight scale)."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise XbarError(f"adc bits: got {bits!r}; allowed: an integer")
    lowest = min_prunable_bits(design)
    if bits < lowest:
        raise XbarError(
            f"adc bits: got {bits}; allowed: at least {lowest} (a lossless {bits}-bit column holds levels summing to "
            f"{max(0, (1 << max(bits, 0)) - 1) // design.digit_max}, less than one cell at level {top_level(design)} "
            f"with {design.inputs.dac_bits}-bit digits)")
    return ((1 << bits) - 1) // design.digit_max


def top_level(design: Design) -> int:
    """The highest level a cell of a column's largest weight takes: the weight scale makes
    that weight w_max = 2^(b_w-1) - 1 (all ones), whose slices are 2^b_c - 1 where a slice is
    whole and 2^(b_w-1) - 1 where one slice holds it all: min(2^b_c - 1, 2^(b_w-1) - 1)."""
    return min(design.cell_max, design.weight_max)


def min_prunable_bits(design: Design) -> int:
    """The fewest ADC bits that pruning can reach: the column's largest weight alone,
    bitlen((2^v - 1) * min(2^b_c - 1, 2^(b_w-1) - 1))."""
    return (design.digit_max * top_level(design)).bit_length()


def assign_adc_bits(levels: torch.Tensor, shifts: torch.Tensor, design: Design) -> tuple[torch.Tensor, torch.Tensor]:
    """Per crossbar (ADC bits, shift): its lossless bits and shift 0 where they are at most
    the design's ``adc.bits``; else the design's bits and the given shift."""
    need = lossless_adc_bits(levels, design)
    fits = need <= design.adc.bits
    bits = torch.where(fits, need, torch.full_like(need, design.adc.bits))
    return bits, torch.where(fits, torch.zeros_like(shifts), shifts.to(torch.int64))


def crossbars_lossless(levels: torch.Tensor, bits: torch.Tensor, shifts: torch.Tensor, design: Design) -> torch.Tensor:
    """bool [n_crossbars]: every column of the crossbar is exact with its ADC bits and shift."""
    worst = column_sum_max(levels, design).amax(-1)
    return (shifts == 0) & (worst <= (torch.ones_like(bits) << bits) - 1)


def column_keep(w_int: torch.Tensor, bits: int, design: Design) -> torch.Tensor:
    """The projection of TinyADC's pruning: which weights of a layer's integer matrix
    W[K, N] to keep (bool [K, N]) so that every physical column of its crossbars is exact
    with a ``bits``-bit ADC at shift 0.

    The groups are the mapper's own: row blocks of R rows (:func:`~xbar_hw.core.mapping.map_layer`),
    logical column, polarity. In each group the weights are taken by decreasing |w| (ties
    by row) and kept while, for every slice k, the running sum of their slice levels stays
    within :func:`column_budget`; the first weight that would overflow some slice and
    every smaller one are dropped (a prefix, so the group's largest weight, which sets the
    column's weight scale, always stays)."""
    budget = column_budget(bits, design)
    K, N = w_int.shape
    R = design.crossbar.rows
    n_rb = -(-K // R)
    w = torch.zeros(n_rb * R, N, dtype=torch.int64, device=w_int.device)
    w[:K] = w_int.to(torch.int64)
    w = w.view(n_rb, R, N)
    shifts = torch.arange(design.slices, device=w.device) * design.crossbar.cell_bits
    keep = torch.zeros_like(w, dtype=torch.bool)
    for sign in (1, -1):
        mag = (sign * w).clamp(min=0)  # this polarity's magnitudes, 0 elsewhere
        ordered, idx = mag.sort(dim=1, descending=True, stable=True)
        lv = (ordered.unsqueeze(-1) >> shifts) & design.cell_max  # [n_rb, R, N, s]
        fits = (lv.cumsum(1) <= budget).all(-1)
        prefix = fits.to(torch.int64).cumprod(1).bool() & (ordered > 0)
        keep |= torch.zeros_like(keep).scatter_(1, idx, prefix)
    return keep.view(n_rb * R, N)[:K]


__all__ = [
    "assign_adc_bits",
    "bit_length",
    "column_budget",
    "column_keep",
    "column_sum_max",
    "crossbars_lossless",
    "lossless_adc_bits",
    "min_prunable_bits",
    "top_level",
]
