"""Reprogramming and endurance: writes per cell over a task schedule.

A schedule is a cyclic list of tasks (None: the base task); each switch rewrites the cells
of :func:`xbar_hw.core.switch.switch_diff`. Over one round, every cell's writes are
counted; the most-written cell sets the lifetime: rated endurance / its writes per round,
in rounds, times the switches per round.
"""

from __future__ import annotations

import torch

from ..core.program import Program
from ..core.switch import switch_diff
from .model import switch_energy_pj
from .technology import technology


def schedule_writes(program: Program, schedule: list[str | None]) -> dict:
    """Writes per cell over one round of ``schedule`` (cyclic: the last task switches back
    to the first). Shared layers only: heads sit on crossbars of their own."""
    d = program.design
    if len(schedule) < 2:
        raise ValueError("a schedule needs at least two tasks")
    shared = [n for n in program.layers if n != program.head]
    counts = {n: torch.zeros(program.layers[n].levels.shape, dtype=torch.int64) for n in shared}
    per_switch = []
    for a, b in zip(schedule, schedule[1:] + schedule[:1]):
        diff = switch_diff(program, a, b)
        per_switch.append(diff.count)
        c = diff.cells
        for li, name in enumerate(diff.layers):
            sel = c[c[:, 0] == li]
            if len(sel):
                counts[name].index_put_((sel[:, 1], sel[:, 3], sel[:, 4]), torch.ones(len(sel), dtype=torch.int64),
                                        accumulate=True)
    allc = torch.cat([v.flatten() for v in counts.values()])
    tech = technology(d)
    endurance = tech.get("device", "endurance_cycles")
    mx = int(allc.max()) if allc.numel() else 0
    rounds = endurance / mx if mx else float("inf")
    return {
        "schedule": [t or "base" for t in schedule],
        "cells_per_switch": per_switch,
        "switch_energy_pj": [switch_energy_pj(d, n) for n in per_switch],
        "max_writes_per_cell_per_round": mx,
        "mean_writes_per_cell_per_round": float(allc.float().mean()) if allc.numel() else 0.0,
        "cells_ever_written": int((allc > 0).sum()),
        "endurance_cycles": endurance,
        "switches_to_endurance": rounds * len(schedule),
    }
