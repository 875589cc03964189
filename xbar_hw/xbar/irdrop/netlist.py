"""The crossbar's network (see :mod:`xbar_hw.xbar.irdrop`) as a SPICE netlist for ngspice."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .checks import check_g, check_resistances, one_vector


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
    r_row, r_col, r_source, r_sense = check_resistances(r_row, r_col, r_source, r_sense)
    g = check_g(G)
    R, C = g.shape
    V = one_vector(v_rows, R)[0]

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
        (f"* xbar_hw IR-drop crossbar {R}x{C}: r_row={_num(r_row)} r_col={_num(r_col)} "
         f"r_source={_num(r_source)} r_sense={_num(r_sense)} ohm"),
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
