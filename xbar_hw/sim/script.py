"""The host's side of the testbench: a :class:`~.loads.TileLoad` as ``prog`` and ``cfg``
beats, and the script of operations the testbench (:mod:`.xbar_pe_tb`) runs.

The host writes the cells through ``prog`` (the cells that differ from the power-on level
0; a stuck cell gets its stuck level, since the behavioural array has no stuck cells of its
own), then ADC shifts, mask codes, fault tables, colsums (signed designs) and output
groups through ``cfg``, then streams the MVMs; the event counters are read in between.
"""

from __future__ import annotations

import torch

from ..core.cycles import mvm_phases
from ..rtl import driver
from .loads import TileLoad


def prog_beats(load: TileLoad) -> list[list[int]]:
    """[xbar, row, col, level] for every cell whose level differs from the power-on 0."""
    out = []
    for n, lv in enumerate(load.stored):
        out += [[b["xbar"], b["row"], b["col"], b["level"]]
                for b in driver.program_beats(lv, n, previous=torch.zeros_like(lv))]
    return out


def cfg_beats(load: TileLoad) -> list[list[int]]:
    """[target, xbar, index, data]: ADC shift, mask codes, fault table, colsums (signed
    designs), group of every position, then the number of output groups."""
    d = load.design
    beats = []
    for n in range(d.pe.crossbars):
        colsum = driver.colsums(load.intended[n], d) if d.inputs.signed else None
        beats += driver.config_beats(d, n, shift=load.shifts[n], codes=load.codes[n], faults=load.faults[n],
                                     colsum=colsum, group=load.group[n])
    beats.append(driver.groups_beat(load.groups))
    return [[b["target"].value, b["xbar"], b["index"], b["data"]] for b in beats]


def compute_cycles(load: TileLoad) -> int:
    """Cycles of an MVM's compute phase on this load (the cycle model's K)."""
    return mvm_phases(load.design, gated=load.gated(), n_faults=[len(f) for f in load.faults],
                      groups=load.groups)["compute"]


def build_script(load: TileLoad, prog: list, cfg: list, expected_cycles: int, reset_mid: bool) -> list[dict]:
    """Program, configure, read the counters; with ``reset_mid`` first a reset in the
    middle of an MVM's compute phase (then the counters and the configuration again);
    then the MVMs back to back and the counters."""
    xs = load.x.tolist()
    script = [{"op": "prog", "beats": prog}, {"op": "cfg", "beats": cfg}, {"op": "counters"}]
    if reset_mid:
        k = compute_cycles(load)
        script += [{"op": "reset", "vector": xs[0], "after": 1 + k // 2, "quiet": expected_cycles + 8},
                   {"op": "counters"}, {"op": "cfg", "beats": cfg}]
    script += [{"op": "mvm", "vectors": xs}, {"op": "counters"}]
    return script
