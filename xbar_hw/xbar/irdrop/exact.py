"""G_eff of a crossbar by structured elimination: exact, no iteration (the network is
described in :mod:`xbar_hw.xbar.irdrop`).

How :func:`effective_conductance` is computed:

1. Each column line is a tridiagonal chain. Eliminating its nodes leaves, per column ``c``,
   a dense R x R admittance ``B_c = D T^-1 (T - D)`` seen from the row nodes ``(., c)``
   (``D = diag(G[:, c])``, ``T`` the chain's nodal matrix) and a vector
   ``w_c = g_b D T^-1 e_bottom`` with ``I_c = w_c . v_c`` (``v_c`` the row-node voltages of
   column ``c``). One Thomas sweep, vectorized over the columns, O(R^2) per column. This
   form, rather than ``D - D T^-1 D``, does not cancel when the column wire and ``r_sense``
   are weak against the cells.
2. Sweeping the columns from right to left, ``K_c = B_c + K_{c+1} (I + r_row K_{c+1})^-1``
   is the admittance of everything right of and including column ``c``; the row-segment
   transfer is ``v_{c+1} = F_{c+1} v_c`` with ``F = (I + r_row K)^-1`` (symmetric, norm <= 1,
   condition number <= 1 + r_row |K|, and exactly the identity when ``r_row = 0``), and the
   source gives ``v_0 = (I + r_source K_0)^-1 V``.
3. ``G_eff[:, c] = M_c^T w_c`` with ``M_c = F_c ... F_1 (I + r_source K_0)^-1``. The pending
   columns ``w_c`` ride along the sweep in the same matrix product as ``K``, so nothing is
   stored: per column one Cholesky (``dpotrf``), its inverse (``dpotri``) and one symmetric
   matrix product (``dsymm``) with ``R + C - c`` right-hand sides.

The cost is about ``C R^3`` (blocks of the row count); when ``R > C`` the crossbar is
transposed and mirrored (rows <-> columns, source <-> sense, by reciprocity of the symmetric
nodal matrix) so that the blocks have ``min(R, C)`` rows. One 128 x 128 crossbar takes
0.07-0.1 s on one core (``benchmarks/bench_irdrop.py``), against 0.6-0.8 s for one sparse LU
of the whole nodal matrix solved for 128 dense right-hand sides.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
from scipy.linalg import blas, lapack

from ...core.errors import field_error
from .checks import check_g, check_resistances, to_torch


class _ColumnLines:
    """Eliminates the column lines of one crossbar: ``B_c`` (R x R) and ``w_c`` (R) per column.

    Each line is a symmetric positive definite tridiagonal chain ``T = D + Lap`` (``Lap`` the
    wire part, which grounds the bottom node). ``X = T^-1 [Lap | e_bottom]`` is computed by a
    Thomas sweep (stable without pivoting for SPD tridiagonal matrices), vectorized over the
    columns (in chunks of about 32 MB for large crossbars); ``B_c = D X[:, :m]`` and
    ``w_c = g_b D X[:, m]``.
    """

    CHUNK_ELEMENTS = 1 << 22  # columns per chunk: about 32 MB of work array

    def __init__(self, G: np.ndarray, r_col: float, r_sense: float):
        R, C = G.shape
        self.R, self.C, self.G = R, C, G
        self.merged = r_col == 0.0  # the whole column line is one node
        self.r_sense = r_sense
        self.m = 0
        if self.merged:
            return
        gc = 1.0 / r_col
        if r_sense > 0:
            m, gb = R, 1.0 / r_sense  # every column node free, bottom one grounded via r_sense
        else:
            m, gb = R - 1, gc  # bottom node is ground; node R-2 reaches it through r_col
        self.m, self.gc, self.gb = m, gc, gb
        if m == 0:
            return
        lap_d = np.full(m, 2.0 * gc)
        lap_d[0] = lap_d[-1] = gc
        if m == 1:
            lap_d[0] = 0.0
        lap_d[-1] += gb
        self.lap_d = lap_d

    def _chunk(self, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Blocks of columns c0..c1-1: Bs [n, R, R] (C order; Bs[j].T is B), w [n, R]."""
        R, m, gc, G = self.R, self.m, self.gc, self.G
        n = c1 - c0
        # X[i, j, :] is row i of column c0+j's solution: each Thomas step works on one slab
        X = np.zeros((m, n, m + 1))
        i = np.arange(m)
        X[i, :, i] = self.lap_d[:, None]
        X[i[:-1], :, i[1:]] = -gc
        X[i[1:], :, i[:-1]] = -gc
        X[m - 1, :, m] = 1.0
        d = G[:m, c0:c1] + self.lap_d[:, None]  # [m, n] diagonal of T per column
        e = -gc
        for k in range(1, m):  # forward elimination; the slab of row k is zero right of k+1
            lk = e / d[k - 1]
            d[k] -= lk * e
            hi = k + 2 if k < m - 1 else m + 1
            X[k, :, :hi] -= lk[:, None] * X[k - 1, :, :hi]
        X[m - 1] /= d[m - 1][:, None]
        for k in range(m - 2, -1, -1):
            X[k] -= e * X[k + 1]
            X[k] /= d[k][:, None]
        Bs = np.zeros((n, R, R))
        np.multiply(X[:, :, :m].transpose(1, 0, 2), G[:m, c0:c1].T[:, :, None], out=Bs[:, :m, :m])
        w = np.empty((n, R))
        w[:, :m] = self.gb * G[:m, c0:c1].T * X[:, :, m].T
        if m < R:  # r_sense = 0: the bottom cell feeds ground directly
            Bs[:, m, m] = G[m, c0:c1]
            w[:, m] = G[m, c0:c1]
        return Bs, w

    def blocks(self):
        """Yields ``(c, B_c, w_c)`` for c = C-1 down to 0 (B_c Fortran-ordered)."""
        C, G = self.C, self.G
        if self.merged or self.m == 0:
            for c in range(C - 1, -1, -1):
                g = G[:, c]
                if self.merged and self.r_sense > 0:
                    gs = 1.0 / self.r_sense
                    den = g.sum() + gs
                    yield c, np.asfortranarray(np.diag(g) - np.outer(g, g / den)), g * (gs / den)
                else:  # the cells see ground directly
                    yield c, np.asfortranarray(np.diag(g)), g.copy()
            return
        chunk = max(1, self.CHUNK_ELEMENTS // (self.m * (self.m + 1)))
        for c1 in range(C, 0, -chunk):
            c0 = max(0, c1 - chunk)
            Bs, w = self._chunk(c0, c1)
            for c in range(c1 - 1, c0 - 1, -1):
                yield c, Bs[c - c0].T, w[c - c0]


def _geff_core(G: np.ndarray, r_row: float, r_col: float, r_source: float, r_sense: float) -> np.ndarray:
    """G_eff with R x R blocks, sweeping the columns right to left (cost ~ C R^3)."""
    R, C = G.shape
    lines = _ColumnLines(G, r_col, r_sense)
    # W[:, :C]: pending G_eff columns (w_c, then transformed); W[:, C:]: the admittance K
    W = np.zeros((R, C + R), order="F")
    diag = np.arange(R)
    for c, B, w in lines.blocks():
        W[:, c] = w
        if c == C - 1:
            W[:, C:] = B
        else:
            W[:, C:] += B
        r = r_row if c > 0 else r_source
        if r == 0.0:  # ideal wire: F = I, nothing to do (K passes through unchanged)
            continue
        A = W[:, C:] * r  # Fortran copy
        A[diag, diag] += 1.0
        L, info = lapack.dpotrf(A, lower=1, clean=0, overwrite_a=1)
        if info != 0:  # pragma: no cover - I + r K is positive definite
            raise RuntimeError(f"dpotrf failed (info={info})")
        F, info = lapack.dpotri(L, lower=1, overwrite_c=1)
        if info != 0:  # pragma: no cover
            raise RuntimeError(f"dpotri failed (info={info})")
        if c > 0:
            W[:, c:] = blas.dsymm(1.0, F, W[:, c:], side=0, lower=1)
        else:
            W[:, :C] = blas.dsymm(1.0, F, W[:, :C], side=0, lower=1)
    return np.ascontiguousarray(W[:, :C])


def _geff(G: np.ndarray, r_row: float, r_col: float, r_source: float, r_sense: float) -> np.ndarray:
    R, C = G.shape
    if R > C:
        # mirror: new row i = old column C-1-i read from its sense end, source <-> sense;
        # G_eff'[i, j] = G_eff[R-1-j, C-1-i] by reciprocity (the nodal matrix is symmetric)
        Gm = np.ascontiguousarray(G[::-1, ::-1].T)
        return np.ascontiguousarray(_geff_core(Gm, r_col, r_row, r_sense, r_source)[::-1, ::-1].T)
    return _geff_core(G, r_row, r_col, r_source, r_sense)


def effective_conductance(G, r_row, r_col, r_source, r_sense):
    """Effective conductance matrix ``G_eff`` [R, C] of one crossbar, exact.

    ``I[c] = sum_r V[r] * G_eff[r, c]`` is the current through ``r_sense`` of column ``c``
    for row source voltages ``V``. ``G`` is [R, C] in siemens (numpy or torch); the
    resistances are in ohms, each finite and >= 0 (0 = ideal wire). With all four
    resistances 0, ``G_eff == G``. Returns a torch float64 tensor.
    """
    r_row, r_col, r_source, r_sense = check_resistances(r_row, r_col, r_source, r_sense)
    g = check_g(G)
    return to_torch(_geff(g, r_row, r_col, r_source, r_sense))


def _geff_chunk(args):
    stack, res = args
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return np.stack([_geff(g, *res) for g in stack])
    with threadpool_limits(1):
        return np.stack([_geff(g, *res) for g in stack])


def effective_conductances(G_stack, r_row, r_col, r_source, r_sense, workers: int = 1):
    """``G_eff`` of many crossbars: ``G_stack`` [n, R, C] -> torch float64 [n, R, C].

    ``workers > 1`` spreads the crossbars over that many processes (each single-threaded;
    forked on Linux, spawned elsewhere); ``workers = 0`` uses every core
    (``os.cpu_count()``). The default is a plain loop in this process.
    """
    res = check_resistances(r_row, r_col, r_source, r_sense)
    g = check_g(G_stack, "G_stack", ndim=3)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise field_error("workers", workers, "an integer >= 0 (0 = one process per core, 1 = no pool)")
    if workers == 0:
        workers = os.cpu_count() or 1
    n = g.shape[0]
    workers = min(workers, n)
    if workers <= 1:
        out = np.stack([_geff(x, *res) for x in g])
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        bounds = np.linspace(0, n, workers * 4 + 1).astype(int)
        chunks = [(g[a:b], res) for a, b in itertools.pairwise(bounds) if b > a]
        # fork on Linux (as torch's DataLoader does): a spawned worker would spend seconds
        # importing torch; the workers run numpy/scipy only
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            out = np.concatenate(list(pool.map(_geff_chunk, chunks)))
    return to_torch(out)
