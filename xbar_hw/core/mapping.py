"""Weights to cell levels (spec section 3, "Weights to cells"), vectorized.

Layout of one crossbar: logical column j, polarity + / -, slice k (0 = least significant)
sits on physical column c = j*2s + (0 for +, s for -) + k. Unused cells hold level 0.

A layer's weight matrix W[K, N] (K = inputs, N = outputs) is cut into row blocks of R
rows and column blocks of L logical columns, one crossbar each; crossbar index
``cb * n_row_blocks + rb`` so that the row blocks that accumulate into the same outputs
are neighbours (and share a PE where they fit).
"""

from __future__ import annotations

import torch

from .design import Design
from .errors import XbarError


def check_weight_range(w_int: torch.Tensor, design: Design, what: str = "weights") -> None:
    """Raise XbarError unless every entry is an integer in +-(2^(b_w-1) - 1)."""
    wmax = design.weight_max
    if w_int.dtype.is_floating_point:
        if not torch.all(torch.isfinite(w_int)) or not torch.equal(w_int, torch.round(w_int)):
            raise XbarError(f"{what}: not all integers; allowed: integers in [{-wmax}, {wmax}]")
    bad = (w_int > wmax) | (w_int < -wmax)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise XbarError(
            f"{what}: got {int(w_int[idx])} at index {list(idx)}; allowed: integers in [{-wmax}, {wmax}]"
            f" (weights.bits = {design.weights.bits})"
        )


def weight_slices(w_int: torch.Tensor, design: Design) -> torch.Tensor:
    """Levels of every slice: [..., 2, s] (polarity +, - ; slice k), int64."""
    w = w_int.to(torch.int64)
    mags = torch.stack([w.clamp(min=0), (-w).clamp(min=0)], dim=-1)  # [..., 2]
    shifts = torch.arange(design.slices, device=w.device) * design.crossbar.cell_bits
    return (mags.unsqueeze(-1) >> shifts) & design.cell_max  # [..., 2, s]


def map_weights(w_int: torch.Tensor, design: Design) -> torch.Tensor:
    """Map an integer weight block [r, l] (r <= R rows, l <= L logical columns) to the
    cell levels of one crossbar: a uint8 tensor [R, C], unused cells 0."""
    R, C, L = design.crossbar.rows, design.crossbar.cols, design.logical_cols
    if w_int.dim() != 2 or w_int.shape[0] > R or w_int.shape[1] > L:
        raise XbarError(
            f"weights: got shape {list(w_int.shape)}; allowed: [rows <= {R}, logical columns <= {L}]"
        )
    check_weight_range(w_int, design)
    r, l = w_int.shape
    levels = torch.zeros(R, C, dtype=torch.uint8, device=w_int.device)
    levels[:r, : l * design.cols_per_logical] = weight_slices(w_int, design).reshape(r, -1).to(torch.uint8)
    return levels


def unmap_levels(levels: torch.Tensor, design: Design) -> torch.Tensor:
    """The weights that cell levels [..., R, C] represent: int64 [..., R, L]."""
    s, L = design.slices, design.logical_cols
    used = levels[..., : L * 2 * s].to(torch.int64)
    cells = used.reshape(*used.shape[:-1], L, 2, s)
    weights = (cells << (torch.arange(s, device=levels.device) * design.crossbar.cell_bits)).sum(-1)
    return weights[..., 0] - weights[..., 1]


def fault_entries(intended: torch.Tensor, stored: torch.Tensor, design: Design) -> list[tuple[int, int, int]]:
    """The fault table of one crossbar: (row, logical column, delta = w - w_stored) for every
    weight whose stored value differs from the intended one, in row-major order."""
    delta = unmap_levels(torch.as_tensor(intended), design) - unmap_levels(torch.as_tensor(stored), design)
    return [(int(r), int(j), int(delta[r, j])) for r, j in delta.nonzero().tolist()]


def kept_faults(delta: torch.Tensor, depth: int) -> torch.Tensor:
    """Which faulty weights a fault table of ``depth`` entries holds: bool [..., R, L], true
    for the first ``depth`` non-zero entries of each crossbar's ``delta`` [..., R, L] in
    row-major order (the order of :func:`fault_entries`); the rest overflow the table and
    go uncorrected."""
    faulty = delta != 0
    flat = faulty.flatten(-2)
    rank = torch.cumsum(flat.to(torch.int64), -1) - 1
    return (flat & (rank < depth)).reshape(faulty.shape)


def table_correction(intended: torch.Tensor, stored: torch.Tensor, k_in: int, n_out: int,
                     design: Design) -> tuple[torch.Tensor, dict[int, int]]:
    """The digital SAF correction the fault tables hold (spec section 3): the K x N matrix
    of w - w_stored over the faulty weights each crossbar's table keeps
    (:func:`kept_faults` at ``design.fault_table_entries``), and {crossbar: faulty weights
    past its table} for the crossbars that overflow (those go uncorrected). ``intended``,
    ``stored``: levels [n_crossbars, R, C]."""
    delta = unmap_levels(intended, design) - unmap_levels(stored, design)  # [n, R, L]: w - w_stored
    keep = kept_faults(delta, design.fault_table_entries)
    dropped = (delta != 0).sum((1, 2)) - keep.sum((1, 2))
    overflow = {int(xb): int(dropped[xb]) for xb in dropped.nonzero().flatten().tolist()}
    return crossbar_matrix(delta * keep, k_in, n_out, design), overflow


def layer_grid(k_in: int, n_out: int, design: Design) -> tuple[int, int]:
    """(row blocks, column blocks) of a K x N weight matrix."""
    R, L = design.crossbar.rows, design.logical_cols
    return -(-k_in // R), -(-n_out // L)


def map_layer(w_int: torch.Tensor, design: Design) -> torch.Tensor:
    """Map a layer's integer weights W[K, N] to levels [n_row_blocks * n_col_blocks, R, C]."""
    check_weight_range(w_int, design)
    K, N = w_int.shape
    R, C, L, two_s = design.crossbar.rows, design.crossbar.cols, design.logical_cols, design.cols_per_logical
    n_rb, n_cb = layer_grid(K, N, design)
    padded = torch.zeros(n_rb * R, n_cb * L, dtype=torch.int64, device=w_int.device)
    padded[:K, :N] = w_int
    cells = weight_slices(padded, design).reshape(n_rb, R, n_cb, L * two_s)
    levels = torch.zeros(n_cb, n_rb, R, C, dtype=torch.uint8, device=w_int.device)
    levels[..., : L * two_s] = cells.permute(2, 0, 1, 3).to(torch.uint8)
    return levels.reshape(n_cb * n_rb, R, C)


def layer_weights(levels: torch.Tensor, k_in: int, n_out: int, design: Design) -> torch.Tensor:
    """Inverse of :func:`map_layer`: integer weights W[K, N] from the crossbars' levels."""
    return crossbar_matrix(unmap_levels(levels, design), k_in, n_out, design)


def crossbar_matrix(per_crossbar: torch.Tensor, k_in: int, n_out: int, design: Design) -> torch.Tensor:
    """A layer's matrix [K, N] from one [R, L] block per crossbar ([n_crossbars, R, L], in
    the mapper's crossbar order); rows and columns past the layer are dropped."""
    n_rb, n_cb = layer_grid(k_in, n_out, design)
    R, L = design.crossbar.rows, design.logical_cols
    w = per_crossbar.reshape(n_cb, n_rb, R, L)
    return w.permute(1, 2, 0, 3).reshape(n_rb * R, n_cb * L)[:k_in, :n_out]


def layer_planes(levels: torch.Tensor, k_in: int, n_out: int, design: Design) -> torch.Tensor:
    """The levels of the used physical columns as one matrix [N*2s, K] (int64, or the
    input's float dtype for effective analog levels), row
    n*2s + pol*s + k: the matrix the engine multiplies bit-planes with. Unused cells are
    dropped: they hold level 0 and add nothing to a column sum."""
    n_rb, n_cb = layer_grid(k_in, n_out, design)
    R, L, two_s = design.crossbar.rows, design.logical_cols, design.cols_per_logical
    used = levels[..., : L * two_s]
    used = (used if used.dtype.is_floating_point else used.to(torch.int64)).reshape(n_cb, n_rb, R, L * two_s)
    planes = used.permute(0, 3, 1, 2).reshape(n_cb * L * two_s, n_rb * R)
    return planes[: n_out * two_s, :k_in]
