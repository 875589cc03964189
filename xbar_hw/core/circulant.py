"""Block-circulant weights and the ReBoc mapping's layout (docs/architecture.md, "ReBoc").

A layer's W[K, N] (rows inputs, columns outputs, the mapper's layout) is block-circulant
with block size b when W[i*b + r, j*b + c] = v[i, j, (c - r) mod b] for vectors v[i, j] of b
numbers (CirCNN). Plain mapping stores W as it is. ReBoc stores, per block column j, D
copies of the stacked vectors (Horizontal Weight Slicing: each circulant block becomes one
column of b cells; Intra-Crossbar Weight Duplication: copy e is rotated by e*b/D so that D
outputs come out of one read), and applies b/D cyclic shifts of each input slice
(Input Slice Reusing):

    stored  Wr[i*b + m, j*D + e] = v[i, j, (m + e*b/D) mod b]
    read c  (c = 0 .. b/D - 1) drives row i*b + m with x[i*b + (c - m) mod b]
    column (j, e) at read c sums  sum_i sum_m x[i*b + (c - m) mod b] v[i, j, (m + e*b/D) mod b]
                                = y[j*b + c + e*b/D]

Within one input slice the terms of that sum are exactly those of plain column j*b + o
(o = c + e*b/D), so when no slice straddles a crossbar (rows a multiple of b) every column
sum, ADC code and shift-add equals the plain mapping's, bit for bit, whatever the ADC.
"""

from __future__ import annotations

import torch

from .design import Design
from .errors import XbarError


def block_vectors(w: torch.Tensor, b: int) -> torch.Tensor:
    """The defining vectors [K/b, N/b, b] of a block-circulant W[K, N]: the first row of each block."""
    K, N = w.shape
    return w.reshape(K // b, b, N // b, b)[:, 0]


def is_block_circulant(w: torch.Tensor, b: int) -> bool:
    """True when W[K, N] is made of b x b circulant blocks (exact comparison)."""
    K, N = w.shape
    if K % b or N % b:
        return False
    v = block_vectors(w, b)
    r = torch.arange(b, device=w.device)
    idx = (r.view(1, b) - r.view(b, 1)) % b  # [r, c] -> (c - r) mod b
    return bool(torch.equal(v[:, :, idx].permute(0, 2, 1, 3).reshape(K, N), w))


def check_reboc_design(design: Design, b: int, where: str) -> None:
    """One line unless ``design`` can hold a b x b block under the ReBoc mapping: an input
    slice of b rows in one crossbar (rows a multiple of b). (The fixed ADC shift it also
    needs is checked where the shift is known: the design's validation and the ReBoc layer.)"""
    R = design.crossbar.rows
    if R % b:
        raise XbarError(f"{where}: block size {b} does not fit crossbar.rows = {R}; allowed for mapping.kind = reboc: "
                        f"crossbar rows a multiple of the block size (one whole input slice per crossbar)")


def duplication(design: Design, b: int, q: int) -> int:
    """D, the copies of each block column's vector stacked side by side (a divisor of b).

    ``mapping.duplication`` 0 (auto): the largest divisor of b whose copies fit the logical
    columns the layer's q = N/b block columns leave unused (no crossbar more than D = 1);
    otherwise the largest divisor of b not above the given value."""
    L = design.logical_cols
    divisors = [d for d in range(1, b + 1) if b % d == 0]
    want = design.mapping.duplication
    if want:
        return max(d for d in divisors if d <= want)
    return max(d for d in divisors if -(-q * d // L) <= -(-q // L))


def reboc_matrix(w: torch.Tensor, b: int, D: int) -> torch.Tensor:
    """What ReBoc stores for a block-circulant W[K, N]: Wr[K, (N/b) * D] (see the module docstring)."""
    v = block_vectors(w, b)  # [p, q, b]
    p, q, _ = v.shape
    m = torch.arange(b, device=w.device).view(1, b)
    e = torch.arange(D, device=w.device).view(D, 1) * (b // D)
    rot = v[:, :, (m + e) % b]  # [p, q, D, b]: copy e, row m
    return rot.permute(0, 3, 1, 2).reshape(p * b, q * D)


def input_index(k_in: int, b: int, c: int, device=None) -> torch.Tensor:
    """[K] int64: the input that drives row i*b + m at read c, i*b + (c - m) mod b."""
    rows = torch.arange(k_in, device=device)
    return rows - rows % b + (c - rows % b) % b


def output_index(n_out: int, b: int, D: int, c: int, device=None) -> torch.Tensor:
    """[(N/b) * D] int64: the output that column j*D + e of Wr gives at read c, j*b + c + e*b/D."""
    q = n_out // b
    j = torch.arange(q, device=device).view(q, 1)
    e = torch.arange(D, device=device).view(1, D)
    return (j * b + c + e * (b // D)).reshape(-1)
