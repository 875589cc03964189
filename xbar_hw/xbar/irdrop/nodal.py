"""The reference solver: the whole nodal system of a crossbar (network in
:mod:`xbar_hw.xbar.irdrop`) by one sparse LU, independent of the structured elimination."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .checks import check_g, check_resistances, check_v, one_vector, to_torch


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
    r_row, r_col, r_source, r_sense = check_resistances(r_row, r_col, r_source, r_sense)
    g = check_g(G)
    V, single = check_v(v_rows, g.shape[0])
    net = _Nodal(g, r_row, r_col, r_source, r_sense)
    out = net.sense_currents(net.solve(V))
    return to_torch(out[0] if single else out)



def node_voltages(G, v_rows, r_row, r_col, r_source, r_sense):
    """Node voltages ``(V_row [R, C], V_col [R, C])`` for one input vector ``v_rows`` [R]."""
    r_row, r_col, r_source, r_sense = check_resistances(r_row, r_col, r_source, r_sense)
    g = check_g(G)
    R, C = g.shape
    V = one_vector(v_rows, R)
    net = _Nodal(g, r_row, r_col, r_source, r_sense)
    vals = net.solve(V)[0]
    RC = R * C
    return to_torch(vals[:RC].reshape(R, C)), to_torch(vals[RC : 2 * RC].reshape(R, C))
