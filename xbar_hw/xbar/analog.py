"""The analog path of spec section 4: one chip instance of a Program.

A :class:`Chip` applies the active non-ideal effect units (``xbar_hw.xbar.effects``), built
from its NonidealSpec, to every layer's crossbars in one loop, in the registry's fixed order:
what is fixed once a chip is made and programmed (stuck-at faults, programming variation,
drawn from (seed, index)), then its wires (the exact IR-drop solve), then what each read adds
(the thermal, shot and random telegraph noise terms the engine draws, per read and sample).

Everything is expressed in *level units*: a crossbar's effective matrix is
``W_eff[r, c] = (G_eff[r, c] - G_eff[r, ref]) / dG``, where ``ref`` is the reference
column of G_off cells, so that the ADC sees S = sum_r d_r W_eff[r, c] (+ noise). With every
effect off, W_eff is the integer level matrix and the analog path is the golden one.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from ..core.design import Design, NonidealSpec
from ..core.layer import LayerProgram
from ..core.program import Program, check_same_design
from .effects import (
    K_BOLTZMANN,
    Q_ELECTRON,
    Effect,
    LayerCells,
    LayerChip,
    ReadNoise,
    build_effects,
    fault_codes,
    index_free_key,
    load_fault_map,
)
from .layers import mapped_layers

__all__ = [
    "K_BOLTZMANN", "Q_ELECTRON", "Chip", "LayerChip", "ReadNoise", "attach_chip", "fault_codes", "index_free_key",
    "load_fault_map",
]


class Chip:
    """One chip instance of a Program under ``nonideal`` (default: the design's block).

    ``design``: the chip's design (its device and nonideal blocks apply; its mapping keys
    must be the Program's), or just a nonideal block on the Program's design. ``index``
    picks the instance: chips 0, 1, 2, ... of the same seed differ in fault maps and
    variation; the same (seed, index) always gives the same chip and the same noise.
    ``irdrop_cache``: a dict shared between chips, so that equal conductances are solved once.
    """

    def __init__(self, program: Program, design: Design | NonidealSpec | None = None, index: int = 0,
                 irdrop_cache: dict | None = None):
        if design is None:
            design = program.design
        elif isinstance(design, NonidealSpec):
            design = program.design.replace(nonideal=asdict(design))
        else:
            check_same_design(program.design, design, "the chip's design")
        self.design: Design = design
        self.spec = design.nonideal
        self.index = index
        self.effects: list[Effect] = build_effects(self.spec, design)
        base = self.spec.seed * 1_000_003 + index
        gen = torch.Generator().manual_seed(base)
        self.noise_gen = torch.Generator().manual_seed(base + 500_009)
        self.layers = {name: self._layer(name, lp, gen, irdrop_cache) for name, lp in program.layers.items()}

    def _layer(self, name: str, lp: LayerProgram, gen: torch.Generator, cache: dict | None) -> LayerChip:
        """One layer: the active units, in registry order, on its cells."""
        cells = LayerCells(name, lp, self.design, gen, cache)
        for unit in self.effects:
            unit.apply(cells)
        return cells.finish()

    def read_noise(self) -> ReadNoise | None:
        """The chip's read-noise stream, or None when no read-noise effect is on."""
        if not any(unit.stage == "read" for unit in self.effects):
            return None
        return ReadNoise(self.noise_gen)

    def fault_overflow(self) -> dict[str, dict[int, int]]:
        """{layer: {crossbar: faulty weights past the design's fault-table depth}} for the
        layers with an overflowing table: those weights go uncorrected (spec section 3's
        correction covers the entries a table holds)."""
        return {name: dict(lc.overflow) for name, lc in self.layers.items() if lc.overflow}

    def profile(self, program: Program) -> None:
        """One-time profiling: write each layer's fault table into the Program."""
        for name, lc in self.layers.items():
            program.layers[name].faults = lc.faults.clone()


def attach_chip(mapped: torch.nn.Module, chip: Chip | None) -> torch.nn.Module:
    """Run ``mapped`` as that chip (None: back to the golden crossbars)."""
    noise = chip.read_noise() if chip is not None else None
    for layer in mapped_layers(mapped):
        layer.chip = chip.layers[layer.lp.name] if chip is not None else None
        layer.noise = noise
        layer.reset_engine()
    return mapped
