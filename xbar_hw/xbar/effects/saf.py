"""Stuck-at faults (program stage): i.i.d. SA0/SA1 cells or a fault map file; the digital
SAF correction of spec section 3.

PytorX's convention (``sa0_state: on``): SA0 pins a cell at the top level (G_on), SA1 at
level 0 (G_off); ``off`` swaps them. A stuck cell holds its level whatever is written, so the
programming variation does not apply to it. The fault table (crossbar, row, physical column,
level) is what one-time profiling writes into the Program; the correction adds
``sum_r x_u[r] * (w - w_stored)[r, j]`` digitally (``xbar_hw.xbar.layers``) for the faulty
weights each crossbar's table holds: its first ``design.fault_table_entries`` in row-major
order, as the RTL's corrector; the others overflow the table and go uncorrected
(``LayerChip.overflow``: crossbar -> weights dropped).
"""

from __future__ import annotations

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ...core.errors import XbarError
from ...core.mapping import table_correction
from ...core.nonideal import SafSpec
from ...core.program import Program
from .base import Effect, LayerCells


def fault_codes(shape, spec: SafSpec, gen: torch.Generator) -> torch.Tensor:
    """i.i.d. codes per cell: 0 healthy, 1 SA0, 2 SA1 (one uniform draw per cell)."""
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    return torch.where(u < spec.sa0, 1, torch.where(u < spec.sa0 + spec.sa1, 2, 0)).to(torch.int8)


def read_fault_map(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a fault map file (safetensors)."""
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise XbarError(f"nonideal.saf.map: cannot read {path!r} ({exc}); allowed: a safetensors fault map") from None


def map_codes(maps: dict[str, torch.Tensor], path: str, name: str, shape) -> torch.Tensor:
    """Layer ``name``'s codes from a fault map, checked: int8 [crossbars, R, C], codes 0/1/2."""
    if name not in maps:
        raise XbarError(f"nonideal.saf.map: {path} has no tensor for layer {name!r}; allowed: one tensor per mapped layer")
    m = maps[name]
    if tuple(m.shape) != tuple(shape):
        raise XbarError(
            f"nonideal.saf.map: layer {name!r} has shape {list(m.shape)}; allowed: {list(shape)} (crossbars, R, C)"
        )
    if bool(((m < 0) | (m > 2)).any()):
        raise XbarError(f"nonideal.saf.map: layer {name!r} holds codes outside 0 (healthy), 1 (SA0), 2 (SA1)")
    return m.to(torch.int8)


def load_fault_map(path: str, program: Program) -> dict[str, torch.Tensor]:
    """A fault map file: safetensors, one int8 tensor per layer [crossbars, R, C], codes 0/1/2."""
    maps = read_fault_map(path)
    return {name: map_codes(maps, path, name, lp.levels.shape) for name, lp in program.layers.items()}


class StuckAtFaults(Effect):
    """Stuck-at faults from ``nonideal.saf`` (rates, or the map file, which then wins)."""

    name, block, stage = "saf", "saf", "program"
    switches = ("sa0", "sa1", "map")

    def __init__(self, config: SafSpec, design):
        super().__init__(config, design)
        self.maps = read_fault_map(config.map) if config.map else None


    def codes(self, cells: LayerCells) -> torch.Tensor:
        """This layer's fault codes: from the map, or drawn (one uniform per cell)."""
        if self.maps is not None:
            return map_codes(self.maps, self.config.map, cells.name, cells.levels.shape)
        return fault_codes(cells.levels.shape, self.config, cells.gen)

    def apply(self, cells: LayerCells) -> None:
        fmap = self.codes(cells)
        top = self.design.cell_max
        sa0_level, sa1_level = (top, 0) if self.config.sa0_state == "on" else (0, top)
        stuck_level = torch.where(fmap == 1, sa0_level, sa1_level).to(torch.uint8)
        stuck = fmap > 0
        stored = torch.where(stuck, stuck_level, cells.levels)
        cells.hold(stored, stuck)
        cells.faults = torch.cat([stuck.nonzero(), stored[stuck].to(torch.int64).unsqueeze(1)], 1)
        if self.config.correct:
            # each crossbar's table holds its first fault_table_entries faulty weights (row-major,
            # as the RTL's table is loaded); the rest go uncorrected
            cells.correction, cells.overflow = table_correction(cells.levels, stored, cells.lp.k_in, cells.lp.n_out,
                                                                self.design)
