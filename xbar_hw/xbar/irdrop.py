"""Exact IR-drop model of one crossbar's resistive network (architecture spec, section 4).

The network of an R x C crossbar:

* row ``r`` is driven at its left end: an ideal source ``V_r`` through ``r_source`` into row
  node ``(r, 0)``; row nodes ``(r, c)`` and ``(r, c + 1)`` are joined by ``r_row``;
* cell ``(r, c)`` joins row node ``(r, c)`` to column node ``(r, c)`` with conductance
  ``G[r, c]``;
* column nodes ``(r, c)`` and ``(r + 1, c)`` are joined by ``r_col``; column ``c`` leaves at
  its bottom, column node ``(R - 1, c)`` through ``r_sense`` to ground (the sense amplifier's
  virtual ground). The column current is the current through ``r_sense``.

Units: siemens, volts, ohms, amperes. A resistance of 0 is an ideal wire: the nodes it joins
are merged (or pinned to the source / ground); no tiny resistance is substituted.

The network is linear, so ``I = G_eff^T V`` for an effective conductance matrix ``G_eff``
that is solved once per crossbar (:func:`effective_conductance`). :func:`column_currents` and
:func:`node_voltages` solve the whole nodal system directly with a sparse LU instead; the two
paths share no code beyond the input checks, so each checks the other. :func:`write_netlist`
writes the same network for ngspice.

How :func:`effective_conductance` is computed (exactly, no iteration):

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

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy.linalg import blas, lapack

from ..core.errors import field_error

__all__ = [
    "column_currents",
    "effective_conductance",
    "effective_conductances",
    "node_voltages",
    "write_netlist",
]

_RES_FIELDS = ("r_row", "r_col", "r_source", "r_sense")


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _check_resistance(name: str, value) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise field_error(name, value, "a finite resistance >= 0 ohms (0 = ideal wire)") from None
    if not math.isfinite(r) or r < 0:
        raise field_error(name, value, "a finite resistance >= 0 ohms (0 = ideal wire)")
    return r


def _check_resistances(r_row, r_col, r_source, r_sense) -> tuple[float, float, float, float]:
    vals = (r_row, r_col, r_source, r_sense)
    return tuple(_check_resistance(n, v) for n, v in zip(_RES_FIELDS, vals))  # type: ignore


def _check_values(name: str, arr: np.ndarray, allowed: str, nonneg: bool) -> None:
    bad = ~np.isfinite(arr)
    if nonneg:
        bad |= arr < 0
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise field_error(f"{name}[{', '.join(map(str, idx))}]", float(arr[idx]), allowed)


def _check_g(G, name: str = "G", ndim: int = 2) -> np.ndarray:
    try:
        g = _to_numpy(G)
    except (TypeError, ValueError):
        raise field_error(name, type(G).__name__, "a real array of conductances in siemens") from None
    shape_txt = "[rows, cols]" if ndim == 2 else "[n, rows, cols]"
    if g.ndim != ndim or min(g.shape, default=0) < 1:
        raise field_error(f"{name}.shape", tuple(g.shape), f"{ndim}-D {shape_txt} with every size >= 1")
    _check_values(name, g, "finite conductances >= 0 siemens", nonneg=True)
    return np.ascontiguousarray(g)


def _check_v(v_rows, R: int) -> tuple[np.ndarray, bool]:
    try:
        v = _to_numpy(v_rows)
    except (TypeError, ValueError):
        raise field_error("v_rows", type(v_rows).__name__, "a real array of row voltages") from None
    if v.ndim not in (1, 2) or v.shape[-1] != R:
        raise field_error("v_rows.shape", tuple(v.shape), f"[{R}] or [batch, {R}] (one voltage per row, R = {R})")
    _check_values("v_rows", v, "finite voltages", nonneg=False)
    single = v.ndim == 1
    return np.ascontiguousarray(v.reshape(-1, R)), single


def _torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


# --------------------------------------------------------------------------------------
# G_eff: structured elimination (see the module docstring)
# --------------------------------------------------------------------------------------


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
    r_row, r_col, r_source, r_sense = _check_resistances(r_row, r_col, r_source, r_sense)
    g = _check_g(G)
    return _torch(_geff(g, r_row, r_col, r_source, r_sense))


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
    res = _check_resistances(r_row, r_col, r_source, r_sense)
    g = _check_g(G_stack, "G_stack", ndim=3)
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
        chunks = [(g[a:b], res) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        # fork on Linux (as torch's DataLoader does): a spawned worker would spend seconds
        # importing torch; the workers run numpy/scipy only
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            out = np.concatenate(list(pool.map(_geff_chunk, chunks)))
    return _torch(out)


# --------------------------------------------------------------------------------------
# direct nodal solve (sparse LU of the whole network)
# --------------------------------------------------------------------------------------


class _Nodal:
    """The full nodal system, with zero resistances merged into their nodes.

    Labels: row node (r, c) = r*C + c; column node (r, c) = R*C + r*C + c; ground = 2RC;
    source r = 2RC + 1 + r. ``rep`` maps every label to the label of its merged node.
    """

    def __init__(self, G: np.ndarray, r_row: float, r_col: float, r_source: float, r_sense: float):
        R, C = G.shape
        self.R, self.C, self.r_sense = R, C, r_sense
        RC = R * C
        gnd = 2 * RC
        src = gnd + 1 + np.arange(R)
        rr, cc = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
        row_lab = rr * C + cc
        col_lab = RC + rr * C + cc
        # representatives of the row nodes
        row_rep = (rr * C) if r_row == 0 else row_lab.copy()
        if r_source == 0:
            row_rep = np.where(row_rep % C == 0, src[row_rep // C], row_rep)
        # representatives of the column nodes
        col_rep = (RC + (R - 1) * C + cc) if r_col == 0 else col_lab.copy()
        if r_sense == 0:
            col_rep = np.where(col_rep >= RC + (R - 1) * C, gnd, col_rep)
        rep = np.concatenate([row_rep.ravel(), col_rep.ravel(), [gnd], src])
        self.rep = rep
        # branches between original labels: (a, b, conductance)
        a, b, g = [], [], []
        if r_row > 0 and C > 1:
            a.append(row_lab[:, :-1].ravel()); b.append(row_lab[:, 1:].ravel())
            g.append(np.full(R * (C - 1), 1.0 / r_row))
        if r_col > 0 and R > 1:
            a.append(col_lab[:-1, :].ravel()); b.append(col_lab[1:, :].ravel())
            g.append(np.full((R - 1) * C, 1.0 / r_col))
        a.append(row_lab.ravel()); b.append(col_lab.ravel()); g.append(G.ravel())
        if r_source > 0:
            a.append(src); b.append(row_lab[:, 0]); g.append(np.full(R, 1.0 / r_source))
        if r_sense > 0:
            a.append(col_lab[R - 1, :]); b.append(np.full(C, gnd)); g.append(np.full(C, 1.0 / r_sense))
        self.a = np.concatenate(a)
        self.b = np.concatenate(b)
        self.g = np.concatenate(g).astype(np.float64)
        ra, rb = rep[self.a], rep[self.b]
        keep = ra != rb
        ra, rb, gk = ra[keep], rb[keep], self.g[keep]
        # free nodes: representatives below 2RC; number them 0..n-1
        free = np.unique(rep[rep < gnd])
        idx = np.full(gnd + 1 + R, -1)
        idx[free] = np.arange(free.size)
        self.free, self.idx, self.n = free, idx, free.size
        ia, ib = idx[ra], idx[rb]
        ff = (ia >= 0) & (ib >= 0)
        rows = np.concatenate([ia[ff], ib[ff], ia[ff], ib[ff], ia[(ia >= 0) & (ib < 0)], ib[(ib >= 0) & (ia < 0)]])
        cols = np.concatenate([ia[ff], ib[ff], ib[ff], ia[ff], ia[(ia >= 0) & (ib < 0)], ib[(ib >= 0) & (ia < 0)]])
        vals = np.concatenate([gk[ff], gk[ff], -gk[ff], -gk[ff], gk[(ia >= 0) & (ib < 0)], gk[(ib >= 0) & (ia < 0)]])
        self.Y = sp.csc_matrix((vals, (rows, cols)), shape=(self.n, self.n))
        # right-hand side from fixed nodes: for a free end x joined by g to fixed label f
        fa = (ia >= 0) & (ib < 0)
        fb = (ib >= 0) & (ia < 0)
        self.rhs_node = np.concatenate([ia[fa], ib[fb]])
        self.rhs_fixed = np.concatenate([rb[fa], ra[fb]])
        self.rhs_g = np.concatenate([gk[fa], gk[fb]])

    def solve(self, V: np.ndarray) -> np.ndarray:
        """All label voltages for inputs V [B, R] -> [B, 2RC + 1 + R]."""
        R, C = self.R, self.C
        gnd = 2 * R * C
        Bn = V.shape[0]
        fixed = np.zeros((Bn, gnd + 1 + R))
        fixed[:, gnd + 1 :] = V
        if self.n:
            rhs = np.zeros((self.n, Bn))
            np.add.at(rhs, self.rhs_node, (self.rhs_g[:, None] * fixed[:, self.rhs_fixed].T))
            x = spla.splu(self.Y).solve(rhs)
            fixed[:, self.free] = x.T
        return fixed[:, self.rep]

    def sense_currents(self, vals: np.ndarray) -> np.ndarray:
        """Currents through r_sense [B, C] from the voltages of every label."""
        R, C = self.R, self.C
        RC = R * C
        if self.r_sense > 0:
            return vals[:, RC + (R - 1) * C : 2 * RC] / self.r_sense
        # r_sense = 0: the current into each column's grounded node set, from all branches
        gnd = 2 * RC
        col_of = np.full(gnd + 1 + R, -1)
        lab = np.arange(RC, 2 * RC)
        grounded = self.rep[lab] == gnd
        col_of[lab[grounded]] = (lab[grounded] - RC) % C
        i_ab = self.g * (vals[:, self.a] - vals[:, self.b])  # current a -> b
        out = np.zeros((vals.shape[0], C))
        into_b = (col_of[self.b] >= 0) & (col_of[self.a] != col_of[self.b])
        out_a = (col_of[self.a] >= 0) & (col_of[self.a] != col_of[self.b])
        np.add.at(out.T, col_of[self.b[into_b]], i_ab[:, into_b].T)
        np.add.at(out.T, col_of[self.a[out_a]], -i_ab[:, out_a].T)
        return out


def column_currents(G, v_rows, r_row, r_col, r_source, r_sense):
    """Sense currents by a direct sparse solve of the whole nodal system.

    ``v_rows`` [B, R] or [R] volts -> currents [B, C] or [C] amperes through ``r_sense``
    (positive into the sense node). Independent of :func:`effective_conductance`.
    """
    r_row, r_col, r_source, r_sense = _check_resistances(r_row, r_col, r_source, r_sense)
    g = _check_g(G)
    V, single = _check_v(v_rows, g.shape[0])
    net = _Nodal(g, r_row, r_col, r_source, r_sense)
    out = net.sense_currents(net.solve(V))
    return _torch(out[0] if single else out)


def _one_vector(v_rows, R: int) -> np.ndarray:
    """``v_rows`` checked as exactly one input vector: [1, R]."""
    V, single = _check_v(v_rows, R)
    if not single:
        raise field_error("v_rows.shape", tuple(V.shape), f"[{R}] (one input vector)")
    return V


def node_voltages(G, v_rows, r_row, r_col, r_source, r_sense):
    """Node voltages ``(V_row [R, C], V_col [R, C])`` for one input vector ``v_rows`` [R]."""
    r_row, r_col, r_source, r_sense = _check_resistances(r_row, r_col, r_source, r_sense)
    g = _check_g(G)
    R, C = g.shape
    V = _one_vector(v_rows, R)
    net = _Nodal(g, r_row, r_col, r_source, r_sense)
    vals = net.solve(V)[0]
    RC = R * C
    return _torch(vals[:RC].reshape(R, C)), _torch(vals[RC : 2 * RC].reshape(R, C))


# --------------------------------------------------------------------------------------
# SPICE netlist
# --------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return repr(float(x))


def write_netlist(path, G, v_rows, r_row, r_col, r_source, r_sense) -> Path:
    """Write the network as a SPICE netlist for ``ngspice -b`` (atomically).

    Elements: ``Vin<r>`` sources, ``Rsrc<r>``, ``Rrow<r>_<c>``, ``Rcell<r>_<c>`` (R = 1/G;
    a cell with G = 0 is left open), ``Rcol<r>_<c>``, ``Rsns<c>`` and a 0 V ammeter
    ``Vsense<c>`` from each column's sense end to ground. A zero resistance is an ideal
    wire: its two nodes get one name. A ``.control`` block runs the ``.op`` analysis and
    prints ``i(vsense<c>) = <amperes>`` (16 significant digits), one line per column.
    """
    r_row, r_col, r_source, r_sense = _check_resistances(r_row, r_col, r_source, r_sense)
    g = _check_g(G)
    R, C = g.shape
    V = _one_vector(v_rows, R)[0]

    def row_node(r: int, c: int) -> str:
        if r_row == 0:
            c = 0
        if c == 0 and r_source == 0:
            return f"s{r}"
        return f"r{r}_{c}"

    def col_node(r: int, c: int) -> str:
        if r_col == 0:
            r = R - 1
        if r == R - 1 and r_sense == 0:
            return f"x{c}"
        return f"k{r}_{c}"

    lines = [
        f"* xbar_hw IR-drop crossbar {R}x{C}: r_row={_num(r_row)} r_col={_num(r_col)} "
        f"r_source={_num(r_source)} r_sense={_num(r_sense)} ohm",
    ]
    for r in range(R):
        lines.append(f"Vin{r} s{r} 0 DC {_num(V[r])}")
        if r_source > 0:
            lines.append(f"Rsrc{r} s{r} {row_node(r, 0)} {_num(r_source)}")
    if r_row > 0:
        for r in range(R):
            for c in range(C - 1):
                lines.append(f"Rrow{r}_{c} {row_node(r, c)} {row_node(r, c + 1)} {_num(r_row)}")
    for r in range(R):
        for c in range(C):
            if g[r, c] > 0:
                lines.append(f"Rcell{r}_{c} {row_node(r, c)} {col_node(r, c)} {_num(1.0 / g[r, c])}")
            else:
                lines.append(f"* cell {r},{c} open (G = 0)")
    if r_col > 0:
        for c in range(C):
            for r in range(R - 1):
                lines.append(f"Rcol{r}_{c} {col_node(r, c)} {col_node(r + 1, c)} {_num(r_col)}")
    for c in range(C):
        if r_sense > 0:
            lines.append(f"Rsns{c} {col_node(R - 1, c)} x{c} {_num(r_sense)}")
        lines.append(f"Vsense{c} x{c} 0 DC 0")
    lines.append(".op")
    lines += [".control", "run", "set numdgt=15"]
    lines += [f"print i(vsense{c})" for c in range(C)]
    lines += ["quit", ".endc", ".end", ""]
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
