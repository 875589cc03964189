"""The exact IR-drop solver (xbar_hw.xbar.irdrop) against ngspice, badcrossbar and physics.

Ground truths (reference.md section 3): ngspice on a netlist of the same array, and the
pure-Python nodal solver ``badcrossbar``. Tests that need one of them skip, with the reason,
only when it is not installed (``apt-get install -y ngspice``; ``pip install badcrossbar``).
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import torch

from xbar_hw.core.errors import XbarError
from xbar_hw.xbar.irdrop import (
    column_currents,
    effective_conductance,
    effective_conductances,
    exact,
    node_voltages,
    write_netlist,
)

G_MIN, G_MAX = 3.33e-6, 3.33e-4  # PytorX's Gmax = 1/3 kOhm, a 100x on/off window
PYTORX = (1 / 0.375, 1 / 0.375, 1 / 0.25, 1 / 0.25)  # r_row, r_col, r_source, r_sense (ohm)
ZERO_COMBOS = list(itertools.product([0.0, 2.67], [0.0, 28.0], [0.0, 4.0], [0.0, 4.0]))


def rand_g(rng, R, C):
    return rng.uniform(G_MIN, G_MAX, (R, C))


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


# --------------------------------------------------------------------------------------
# ngspice
# --------------------------------------------------------------------------------------

NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(
    NGSPICE is None, reason="ngspice binary not found on PATH (Debian: apt-get install -y ngspice)"
)


def run_ngspice(path, C: int) -> np.ndarray:
    out = subprocess.run([NGSPICE, "-b", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    found = {
        int(m.group(1)): float(m.group(2))
        for m in re.finditer(r"^\s*i\(vsense(\d+)\)\s*=\s*(\S+)\s*$", out.stdout, re.M | re.I)
    }
    assert sorted(found) == list(range(C)), out.stdout[-2000:]
    return np.array([found[c] for c in range(C)])


@needs_ngspice
@pytest.mark.parametrize(
    "R, C, res",
    [
        (4, 4, (2.67, 2.67, 4.0, 4.0)),
        (16, 8, (2.67, 28.0, 4.0, 4.0)),
        (8, 16, (28.0, 2.67, 4.0, 4.0)),
        (64, 64, PYTORX),
    ],
)
def test_ngspice_matches(tmp_path, R, C, res):
    rng = np.random.default_rng(R * 100 + C)
    G = rand_g(rng, R, C)
    V = rng.uniform(0.0, 0.2, R)
    path = write_netlist(tmp_path / "xbar.cir", G, V, *res)
    spice = run_ngspice(path, C)
    geff = effective_conductance(G, *res).numpy()
    direct = column_currents(G, V, *res).numpy()
    assert rel_err(V @ geff, spice) < 1e-6
    assert rel_err(direct, spice) < 1e-6
    # the IR drop is visible at this precision: the ideal currents are far off
    assert rel_err(V @ G, spice) > 1e-4


@needs_ngspice
@pytest.mark.parametrize("R, C", [(6, 5), (1, 3), (3, 1)])
def test_ngspice_zero_resistances(tmp_path, R, C):
    """Ideal wires (every mix of zero resistances) are merged nodes in all three."""
    rng = np.random.default_rng(7)
    G = rand_g(rng, R, C)
    if R * C > 3:
        G[2, 3] = 0.0  # an open cell is left out of the netlist
    V = rng.uniform(0.05, 0.2, R)
    for res in ZERO_COMBOS:
        path = write_netlist(tmp_path / "xbar.cir", G, V, *res)
        spice = run_ngspice(path, C)
        assert rel_err(V @ effective_conductance(G, *res).numpy(), spice) < 1e-6, res
        assert rel_err(column_currents(G, V, *res).numpy(), spice) < 1e-6, res


def test_write_netlist_contents_and_atomic(tmp_path):
    rng = np.random.default_rng(3)
    G = rand_g(rng, 3, 4)
    G[1, 2] = 0.0
    path = write_netlist(tmp_path / "a.cir", torch.from_numpy(G), torch.full((3,), 0.1), 2.0, 3.0, 4.0, 5.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.cir"]  # no temp file left behind
    lines = path.read_text().splitlines()
    names = [ln.split()[0] for ln in lines if ln and ln[0] not in "*."]
    count = lambda prefix: sum(n.startswith(prefix) for n in names)  # noqa: E731
    assert count("Rcell") == 11 and count("Rrow") == 3 * 3 and count("Rcol") == 2 * 4
    assert count("Rsrc") == 3 and count("Rsns") == 4 and count("Vin") == 3 and count("Vsense") == 4
    assert ".op" in lines and lines[-1] == ".end"
    cell = next(ln for ln in lines if ln.startswith("Rcell0_0 "))
    assert float(cell.split()[-1]) == pytest.approx(1.0 / G[0, 0], rel=1e-15)
    # zero resistances merge nodes instead of writing 0-ohm resistors
    path = write_netlist(tmp_path / "a.cir", G, [0.1] * 3, 0.0, 0.0, 0.0, 0.0)
    text = path.read_text()
    assert "Rrow" not in text and "Rcol" not in text and "Rsrc" not in text and "Rsns" not in text
    assert "Rcell0_0 s0 x0 " in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.cir"]


# --------------------------------------------------------------------------------------
# badcrossbar
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def badcrossbar():
    # its __init__ changes global state (a warnings filter, logging.basicConfig on the
    # root logger at INFO): undo both so that other tests see no difference
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with warnings.catch_warnings():
        bc = pytest.importorskip("badcrossbar", reason="badcrossbar not installed (pip install badcrossbar)")
    root.setLevel(level)
    root.handlers[:] = handlers
    logging.getLogger("badcrossbar").setLevel(logging.WARNING)
    return bc


@pytest.mark.parametrize(
    "R, C, r_wl, r_bl",
    [(4, 4, 2.67, 2.67), (16, 8, 2.67, 28.0), (8, 16, 28.0, 2.67), (64, 64, 1 / 0.375, 1 / 0.375), (6, 5, 0.0, 2.67), (6, 5, 2.67, 0.0)],
)
def test_badcrossbar_matches(badcrossbar, R, C, r_wl, r_bl):
    """badcrossbar's network is ours with r_source = r_row and r_sense = r_col.

    It applies V at the left end of each word line through one word-line segment (so its
    first node has two segments), leaves the right end open, leaves the top of each bit
    line open and takes the output current through one bit-line segment from the bottom
    node to ground: badcrossbar(r_i_word_line=a, r_i_bit_line=b) is ours with
    (r_row, r_col, r_source, r_sense) = (a, b, a, b). It takes resistances 1/G.
    """
    rng = np.random.default_rng(R * 1000 + C)
    G = rand_g(rng, R, C)
    V = rng.uniform(0.0, 0.2, (R, 3))  # badcrossbar: [rows, examples]
    sol = badcrossbar.compute(V, 1.0 / G, r_i_word_line=r_wl, r_i_bit_line=r_bl, node_voltages=False, all_currents=False)
    ref = np.asarray(sol.currents.output)  # [examples, C]
    res = (r_wl, r_bl, r_wl, r_bl)
    assert rel_err(V.T @ effective_conductance(G, *res).numpy(), ref) < 1e-6
    assert rel_err(column_currents(G, V.T, *res).numpy(), ref) < 1e-6


# --------------------------------------------------------------------------------------
# physics and internal consistency
# --------------------------------------------------------------------------------------


def test_kirchhoff_current_law_at_every_node():
    rng = np.random.default_rng(11)
    R, C = 12, 9
    r_row, r_col, r_source, r_sense = 2.67, 28.0, 4.0, 5.0
    G = rand_g(rng, R, C)
    V = rng.uniform(0.0, 0.2, R)
    vr, vc = (x.numpy() for x in node_voltages(G, V, r_row, r_col, r_source, r_sense))
    i_cell = G * (vr - vc)  # row node -> column node
    i_row = (vr[:, :-1] - vr[:, 1:]) / r_row  # (r, c) -> (r, c+1)
    i_col = (vc[:-1, :] - vc[1:, :]) / r_col  # (r, c) -> (r+1, c)
    i_src = (V - vr[:, 0]) / r_source  # source -> (r, 0)
    i_sns = vc[-1, :] / r_sense  # (R-1, c) -> ground
    kcl_row = -i_cell.copy()
    kcl_row[:, :-1] -= i_row
    kcl_row[:, 1:] += i_row
    kcl_row[:, 0] += i_src
    kcl_col = i_cell.copy()
    kcl_col[:-1, :] -= i_col
    kcl_col[1:, :] += i_col
    kcl_col[-1, :] -= i_sns
    scale = max(np.abs(a).max() for a in (i_cell, i_row, i_col, i_src, i_sns))
    assert np.abs(kcl_row).max() / scale < 1e-9
    assert np.abs(kcl_col).max() / scale < 1e-9
    # every volt between ground and the highest source; the source current is all sensed
    assert vr.max() <= V.max() and vc.min() >= 0.0
    assert abs(i_src.sum() - i_sns.sum()) / scale < 1e-9
    assert rel_err(V @ effective_conductance(G, r_row, r_col, r_source, r_sense).numpy(), i_sns) < 1e-10


@pytest.mark.parametrize("R, C", [(1, 1), (1, 6), (6, 1), (5, 5), (9, 4), (4, 9)])
def test_all_zero_resistances_give_g(R, C):
    rng = np.random.default_rng(R * 10 + C)
    G = rand_g(rng, R, C)
    if R * C > 1:
        G[0, 0] = 0.0
    geff = effective_conductance(G, 0, 0, 0, 0)
    assert torch.allclose(geff, torch.from_numpy(G), rtol=1e-12, atol=0.0)
    V = rng.uniform(-0.2, 0.2, (3, R))
    assert rel_err(column_currents(G, V, 0, 0, 0, 0).numpy(), V @ G) < 1e-12


@pytest.mark.parametrize("R, C", [(1, 1), (1, 5), (5, 1), (2, 3), (7, 7), (13, 6), (6, 13)])
def test_geff_equals_direct_solve(R, C):
    """G_eff^T V equals the sparse solve, for every mix of zero and finite resistances."""
    rng = np.random.default_rng(R * 31 + C)
    G = rand_g(rng, R, C)
    G[rng.random((R, C)) < 0.1] = 0.0  # some open cells
    V = rng.uniform(-0.2, 0.2, (4, R))
    for res in ZERO_COMBOS:
        geff = effective_conductance(G, *res).numpy()
        direct = column_currents(G, V, *res).numpy()
        assert rel_err(V @ geff, direct) < 1e-10, res
        # one vector in, one vector out
        assert column_currents(G, V[0], *res).shape == (C,)


def test_geff_extreme_but_valid_values():
    rng = np.random.default_rng(5)
    G = rng.uniform(1e-12, 1e-2, (10, 7))
    V = rng.uniform(0.0, 1.0, (2, 10))
    for res in [(1e-9, 1e-9, 1e-9, 1e-9), (1e3, 1e3, 1e6, 1e6), (1e-6, 1e4, 0.0, 1e6), (1e5, 1e-6, 1e6, 0.0)]:
        assert rel_err(V @ effective_conductance(G, *res).numpy(), column_currents(G, V, *res).numpy()) < 1e-8


def test_mirrored_orientation_agrees():
    """R > C runs the mirrored problem (rows <-> columns, source <-> sense): same answer."""
    rng = np.random.default_rng(8)
    G = rand_g(rng, 11, 4)
    res = (2.67, 28.0, 4.0, 9.0)
    mirrored = exact._geff(G, *res)
    direct = exact._geff_core(G, *res)
    assert rel_err(mirrored, direct) < 1e-12


def test_ir_drop_lowers_the_currents():
    rng = np.random.default_rng(9)
    R, C = 32, 24
    G = rand_g(rng, R, C)
    geff = effective_conductance(G, *PYTORX).numpy()
    assert (geff >= 0).all()
    # equal inputs: every node lies between ground and V, so each column is strictly lower
    v = np.full(R, 0.2)
    assert (v @ geff < v @ G).all()
    # random non-negative inputs on realistic cells: the same holds (sneak paths are tiny)
    V = rng.uniform(0.0, 0.2, (16, R))
    assert (V @ geff < V @ G).all()
    # more wire resistance, more drop
    worse = effective_conductance(G, *(2 * r for r in PYTORX)).numpy()
    assert (v @ worse < v @ geff).all()


def test_torch_and_numpy_inputs():
    rng = np.random.default_rng(2)
    G = rand_g(rng, 5, 6)
    a = effective_conductance(G, *PYTORX)
    b = effective_conductance(torch.from_numpy(G), *(torch.tensor(r, dtype=torch.float64) for r in PYTORX))
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float64 and a.shape == (5, 6)
    assert torch.equal(a, b)
    c = effective_conductance(torch.from_numpy(G).float(), *PYTORX)  # float32 in, float64 out
    assert c.dtype == torch.float64
    assert torch.equal(c, effective_conductance(G.astype(np.float32).astype(np.float64), *PYTORX))
    i = column_currents(torch.from_numpy(G), torch.ones(2, 5), *PYTORX)
    assert i.dtype == torch.float64 and i.shape == (2, 6)
    vr, vc = node_voltages(G, torch.ones(5), *PYTORX)
    assert vr.dtype == vc.dtype == torch.float64 and vr.shape == vc.shape == (5, 6)


def test_effective_conductances_stack():
    rng = np.random.default_rng(4)
    stack = rng.uniform(G_MIN, G_MAX, (3, 6, 5))
    out = effective_conductances(torch.from_numpy(stack), *PYTORX)
    assert out.shape == (3, 6, 5) and out.dtype == torch.float64
    for k in range(3):
        assert torch.equal(out[k], effective_conductance(stack[k], *PYTORX))
    pooled = effective_conductances(stack, *PYTORX, workers=2)
    assert rel_err(pooled.numpy(), out.numpy()) < 1e-14


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------

GOOD = np.full((3, 4), 1e-4)


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: effective_conductance(GOOD, -1.0, 1, 1, 1), "r_row"),
        (lambda: effective_conductance(GOOD, 1, float("nan"), 1, 1), "r_col"),
        (lambda: effective_conductance(GOOD, 1, 1, float("inf"), 1), "r_source"),
        (lambda: effective_conductance(GOOD, 1, 1, 1, "four"), "r_sense"),
        (lambda: effective_conductance(np.ones(4) * 1e-4, 1, 1, 1, 1), "G.shape"),
        (lambda: effective_conductance(np.ones((2, 3, 4)) * 1e-4, 1, 1, 1, 1), "G.shape"),
        (lambda: effective_conductance(np.zeros((0, 4)), 1, 1, 1, 1), "G.shape"),
        (lambda: effective_conductance(GOOD - 2e-4, 1, 1, 1, 1), "G[0, 0]"),
        (lambda: effective_conductance(np.where(np.eye(3, 4) > 0, np.inf, 1e-4), 1, 1, 1, 1), "G[0, 0]"),
        (lambda: effective_conductance(np.array([[1e-4, float("nan")]]), 1, 1, 1, 1), "G[0, 1]"),
        (lambda: column_currents(GOOD, np.ones(4), 1, 1, 1, 1), "v_rows.shape"),
        (lambda: column_currents(GOOD, np.ones((2, 2)), 1, 1, 1, 1), "v_rows.shape"),
        (lambda: column_currents(GOOD, np.ones((1, 2, 3)), 1, 1, 1, 1), "v_rows.shape"),
        (lambda: column_currents(GOOD, [0.1, float("nan"), 0.1], 1, 1, 1, 1), "v_rows[1]"),
        (lambda: node_voltages(GOOD, np.ones((2, 3)), 1, 1, 1, 1), "v_rows.shape"),
        (lambda: write_netlist("unused.cir", GOOD, np.ones(5), 1, 1, 1, 1), "v_rows.shape"),
        (lambda: effective_conductances(GOOD, 1, 1, 1, 1), "G_stack.shape"),
        (lambda: effective_conductances(GOOD[None], 1, 1, 1, 1, workers=-1), "workers"),
    ],
)
def test_bad_input_raises_one_line(call, field):
    with pytest.raises(XbarError) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(field + ": got ") and "; allowed: " in msg and "\n" not in msg
