"""The exact IR drop of one crossbar of random cell levels: how far its column currents
fall below the ideal ones, and the crossbar as a SPICE netlist for a second opinion."""

from __future__ import annotations

import time

import torch

from ..core.design import Design
from ..core.errors import XbarError
from ..xbar import irdrop


def wire_resistances(design: Design, *, r_wire: float | None = None, r_row: float | None = None,
                     r_col: float | None = None, r_source: float | None = None,
                     r_sense: float | None = None) -> tuple[float, float, float, float]:
    """(r_row, r_col, r_source, r_sense) in ohms: each given value, else ``r_wire`` for the
    two wires, else the design's ``nonideal.ir_drop`` entry."""
    ir = design.nonideal.ir_drop
    r_row = r_row if r_row is not None else r_wire if r_wire is not None else ir.r_row
    r_col = r_col if r_col is not None else r_wire if r_wire is not None else ir.r_col
    r_source = r_source if r_source is not None else ir.r_source
    r_sense = r_sense if r_sense is not None else ir.r_sense
    return r_row, r_col, r_source, r_sense


def random_crossbar_drop(design: Design, *, rows: int = 128, cols: int = 128, seed: int = 0,
                         r_wire: float | None = None, r_row: float | None = None, r_col: float | None = None,
                         r_source: float | None = None, r_sense: float | None = None, netlist=None) -> dict:
    """One ``rows`` x ``cols`` crossbar of random levels (seeded by ``seed``) with every row
    driven at the read voltage: its G_eff solved exactly under the wire resistances
    (ohms; see :func:`wire_resistances`), the ideal and real column currents (A),
    their mean and largest relative drop, the solve time (s); with ``netlist``, the crossbar
    written there as a SPICE netlist."""
    for name, value in (("rows", rows), ("cols", cols)):
        if value < 1:
            raise XbarError(f"--{name}: got {value}; allowed: an integer >= 1")
    r_row, r_col, r_source, r_sense = wire_resistances(design, r_wire=r_wire, r_row=r_row, r_col=r_col,
                                                       r_source=r_source, r_sense=r_sense)
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, design.cell_max + 1, (rows, cols), generator=gen).double()
    G = design.device.g_off + levels * design.conductance_step  # S
    v = torch.full((rows,), design.device.v_read, dtype=torch.float64)  # V, every row driven
    t0 = time.perf_counter()
    g_eff = irdrop.effective_conductance(G, r_row, r_col, r_source, r_sense)
    seconds = time.perf_counter() - t0
    ideal, real = G.t() @ v, g_eff.t() @ v  # A
    drop = 1 - real / ideal
    doc = {"rows": rows, "cols": cols, "r_row": r_row, "r_col": r_col, "r_source": r_source, "r_sense": r_sense,
           "solve_seconds": seconds, "current_drop_mean": float(drop.mean()), "current_drop_max": float(drop.max()),
           "ideal_current_a": ideal.tolist(), "current_a": real.tolist()}
    if netlist:
        irdrop.write_netlist(netlist, G, v, r_row, r_col, r_source, r_sense)
        doc["netlist"] = str(netlist)
    return doc
